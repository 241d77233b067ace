//! What a replica hears of the others: each commit that appends to the audit log notifies
//! `prod_access_audit` with the chain's new last sequence number, and each change of a grant or
//! of its session activity notifies `prod_access_changes` with the writer's replica id. One task
//! per store listens on a connection of its own; when that connection is lost it reconnects and
//! says `ChangedElsewhere::Unknown`, and it reads the chain's head every few seconds anyway.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use sqlx::{Postgres, Transaction};
use tokio::sync::{broadcast, watch};
use tracing::warn;

use super::backend;
use crate::domain::audit::ChainHead;
use crate::store::{ChangedElsewhere, StoreResult};

pub(super) const AUDIT_CHANNEL: &str = "prod_access_audit";
const CHANGES_CHANNEL: &str = "prod_access_changes";
/// How often each replica reads the chain's head, in case a notification was lost.
const POLL: Duration = Duration::from_secs(2);

pub(super) struct Follower {
    /// This store's own id in notifications, so it does not hear itself.
    replica: String,
    /// The last audit sequence number known committed, by this replica or another.
    last_seq: watch::Sender<u64>,
    changes: broadcast::Sender<ChangedElsewhere>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Follower {
    pub(super) async fn start(pool: &PgPool) -> StoreResult<Follower> {
        let replica = uuid::Uuid::new_v4().simple().to_string();
        let last_seq = watch::Sender::new(head_seq(pool).await?);
        let (changes, _) = broadcast::channel(1024);
        let listening = Listening {
            pool: pool.clone(),
            replica: replica.clone(),
            last_seq: last_seq.clone(),
            changes: changes.clone(),
        };
        // Listening before the store is used: what it commits from then on is heard. (What
        // was committed before, the application reads from the store when it starts.)
        let listener = listen(pool).await;
        let task = tokio::spawn(listening.run(listener));
        Ok(Follower {
            replica,
            last_seq,
            changes,
            task,
        })
    }

    pub(super) fn announce(&self, head: Option<ChainHead>) {
        if let Some(head) = head {
            announce(&self.last_seq, head.seq);
        }
    }

    /// This store's id among the replicas sharing the database.
    pub(super) fn replica(&self) -> &str {
        &self.replica
    }

    pub(super) fn last_seq(&self) -> u64 {
        *self.last_seq.borrow()
    }

    pub(super) async fn wait_for_entry_after(&self, seq: u64) {
        let mut last = self.last_seq.subscribe();
        // The sender lives as long as the store, so this ends only when an entry arrives.
        let _ = last.wait_for(|last| *last > seq).await;
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<ChangedElsewhere> {
        self.changes.subscribe()
    }

    /// Tells the other replicas, when `tx` commits, that `what` changed (`new <id>` for a new
    /// grant, `grant <id>`, `activity <id>`, `many -` for more than one can say).
    pub(super) async fn tell_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        what: &str,
    ) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(format!("{} {what}", self.replica))
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

fn announce(last_seq: &watch::Sender<u64>, seq: u64) {
    last_seq.send_if_modified(|last| {
        let moved = seq > *last;
        *last = (*last).max(seq);
        moved
    });
}

async fn head_seq(pool: &PgPool) -> StoreResult<u64> {
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_head")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(seq as u64)
}

/// The listening task's side of the follower.
struct Listening {
    pool: PgPool,
    replica: String,
    last_seq: watch::Sender<u64>,
    changes: broadcast::Sender<ChangedElsewhere>,
}

impl Listening {
    async fn run(self, mut listener: Option<PgListener>) {
        let mut poll = tokio::time::interval(POLL);
        loop {
            if listener.is_none() {
                listener = listen(&self.pool).await;
                if listener.is_some() {
                    // What was committed while no one listened is unknown.
                    let _ = self.changes.send(ChangedElsewhere::Unknown);
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => l.try_recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = notified => match received {
                    Ok(Some(n)) => self.heard(n.channel(), n.payload()),
                    // The connection was lost, and notifications with it: it is made again
                    // (and `Unknown` said) on the next turn.
                    Ok(None) | Err(_) => {
                        warn!("lost the store's notifications; listening again");
                        listener = None;
                        poll.reset_immediately();
                    }
                },
                _ = poll.tick() => match head_seq(&self.pool).await {
                    Ok(seq) => announce(&self.last_seq, seq),
                    Err(e) => warn!(error = %e, "cannot read the audit log's head"),
                },
            }
        }
    }

    fn heard(&self, channel: &str, payload: &str) {
        if channel == AUDIT_CHANNEL {
            if let Ok(seq) = payload.parse() {
                announce(&self.last_seq, seq);
            }
            return;
        }
        let mut words = payload.splitn(3, ' ');
        let (Some(replica), Some(kind), Some(id)) = (words.next(), words.next(), words.next())
        else {
            return;
        };
        if replica == self.replica {
            return;
        }
        let change = match kind {
            "new" | "grant" => ChangedElsewhere::Grant {
                id: id.to_string(),
                new: kind == "new",
            },
            "activity" => ChangedElsewhere::Activity(id.to_string()),
            "many" => ChangedElsewhere::Unknown,
            _ => return,
        };
        // No one may be listening yet (or at all): that is fine.
        let _ = self.changes.send(change);
    }
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener
        .listen_all([AUDIT_CHANNEL, CHANGES_CHANNEL])
        .await
        .ok()?;
    Some(listener)
}
