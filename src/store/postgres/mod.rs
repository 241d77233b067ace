//! The PostgreSQL store, for several replicas on one database: table `grants` (the grant as JSON
//! with the columns its indexes need), the audit log (see `audit`), session activity (see
//! `activity`) and the signed requests already taken (see `seen`). A grant's change and its
//! audit entries are one transaction, and the compare-and-swap is on the grant's version in
//! that transaction. Every replica learns of audit entries the others append through
//! `LISTEN/NOTIFY`, with a poll as the fallback (see `audit`).

mod activity;
mod audit;
mod claims;
mod follow;
pub mod local;
mod seen;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use crate::domain::grant::Grant;
use crate::store::{ChangedElsewhere, GrantStore, StoreError, StoreResult};
use audit::append_in;
pub(in crate::store) use audit::{insert_entry, set_head};
use follow::Follower;

/// The schema, embedded in the binary; each replica runs what is missing when it starts
/// (sqlx takes an advisory lock, so replicas starting together do not race).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/postgres/migrations");

/// How long a request waits for a connection before the store says the database is away: short
/// enough that Slack (which waits 3 s for an answer) hears "try again" rather than nothing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_CONNECTIONS: u32 = 16;

pub struct PostgresStore {
    pool: PgPool,
    follower: Follower,
    /// When signed requests no longer accepted were last forgotten (see `seen`), in ms.
    forgotten_at_ms: std::sync::atomic::AtomicI64,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`, with `sslmode=verify-full&sslrootcert=…` for TLS)
    /// and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("the PostgreSQL URL is not valid: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot migrate the schema: {e}")))?;
        let follower = Follower::start(&pool).await?;
        Ok(PostgresStore {
            pool,
            follower,
            forgotten_at_ms: std::sync::atomic::AtomicI64::new(i64::MIN / 2),
        })
    }

    /// Whether the database holds no grant, no audit entry and no activity.
    pub async fn is_empty(&self) -> StoreResult<bool> {
        let used: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM grants) OR EXISTS (SELECT 1 FROM audit_entries)
                 OR EXISTS (SELECT 1 FROM activity) OR (SELECT seq FROM audit_head) > 0",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(!used)
    }

    /// The pool, for what shares the store's database (the leader's advisory lock).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writes the grant and appends its journal in one transaction; the new head of the audit
    /// chain, if it moved. Durable (committed) when this returns.
    async fn write(&self, expected_version: Option<u64>, next: &Grant) -> StoreResult<()> {
        // The journal goes into the audit log, not onto the stored grant.
        let mut stored = next.clone();
        let journal = std::mem::take(&mut stored.journal);
        let body = serde_json::to_string(&stored).map_err(backend)?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let stored_version = match expected_version {
            None => insert_row(&mut tx, next, &body).await?,
            Some(expected) => replace_row(&mut tx, expected, next, &body).await?,
        };
        // Events of versions already stored were appended with them.
        let new_events: Vec<_> = journal
            .into_iter()
            .filter(|e| e.grant_version.is_some_and(|v| v > stored_version))
            .collect();
        if new_events.is_empty() {
            unrecorded_write(&mut tx).await?;
        }
        let appended = append_in(&mut tx, &new_events).await?;
        self.follower
            .tell_in(
                &mut tx,
                &format!(
                    "{} {}",
                    if expected_version.is_none() {
                        "new"
                    } else {
                        "grant"
                    },
                    next.id
                ),
            )
            .await?;
        tx.commit().await.map_err(backend)?;
        self.follower.announce(appended.head);
        Ok(())
    }

    /// Stores many new grants with their journals (benchmarks seed a store with it), a batch
    /// to a transaction; the other replicas hear of each batch as one change they cannot name.
    pub async fn insert_all(&self, grants: &[Grant]) -> StoreResult<()> {
        const BATCH: usize = 1000;
        for batch in grants.chunks(BATCH) {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let mut head = None;
            for grant in batch {
                let mut stored = grant.clone();
                let journal = std::mem::take(&mut stored.journal);
                let body = serde_json::to_string(&stored).map_err(backend)?;
                insert_row(&mut tx, grant, &body).await?;
                head = append_in(&mut tx, &journal).await?.head.or(head);
            }
            self.follower.tell_in(&mut tx, "many -").await?;
            tx.commit().await.map_err(backend)?;
            self.follower.announce(head);
        }
        Ok(())
    }

    /// The grants a query of `body` columns gives, in its order. One unreadable record is logged
    /// and skipped: it must not stop the work on, or the deadline of, every other grant.
    async fn grants_where(&self, query: Query<'_>) -> StoreResult<Vec<Grant>> {
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        let mut grants = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, body): (String, String) = (row.get(0), row.get(1));
            match serde_json::from_str(&body) {
                Ok(grant) => grants.push(grant),
                Err(e) => tracing::error!(grant = %id, error = %e, "skipping an unreadable grant"),
            }
        }
        Ok(grants)
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// `query` with the grant's row bound as $1–$7: id, version, body, and the columns its indexes
/// use (next deadline, open, pending effects, awaiting review).
fn with_row<'q>(query: Query<'q>, next: &'q Grant, body: &'q str) -> StoreResult<Query<'q>> {
    Ok(query
        .bind(&next.id)
        .bind(version(next.version)?)
        .bind(body)
        .bind(deadline(next))
        .bind(!next.state.is_final())
        .bind(!next.outbox.is_empty())
        .bind(next.needs_review()))
}

/// Inserts a new grant's row; its stored version before, 0.
pub(in crate::store) async fn insert_row(
    tx: &mut Transaction<'_, Postgres>,
    next: &Grant,
    body: &str,
) -> StoreResult<u64> {
    let insert = sqlx::query(
        "INSERT INTO grants (id, version, body, next_deadline, is_open, has_pending, needs_review)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    );
    let inserted = with_row(insert, next, body)?
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::AlreadyExists(next.id.clone()));
    }
    Ok(0)
}

/// Replaces the grant's row if its version is still `expected` (the row stays locked until the
/// transaction ends, so no one else can change it in between); its stored version before.
async fn replace_row(
    tx: &mut Transaction<'_, Postgres>,
    expected: u64,
    next: &Grant,
    body: &str,
) -> StoreResult<u64> {
    let conflict = || StoreError::Conflict {
        id: next.id.clone(),
        expected,
    };
    if next.version <= expected {
        return Err(conflict());
    }
    let update = sqlx::query(
        "UPDATE grants SET version = $2, body = $3, next_deadline = $4, is_open = $5,
             has_pending = $6, needs_review = $7
         WHERE id = $1 AND version = $8",
    );
    let updated = with_row(update, next, body)?
        .bind(version(expected)?)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    if updated.rows_affected() == 1 {
        return Ok(expected);
    }
    let exists = sqlx::query("SELECT 1 FROM grants WHERE id = $1")
        .bind(&next.id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
    Err(match exists {
        Some(_) => conflict(),
        None => StoreError::NotFound(next.id.clone()),
    })
}

/// Lets `tx` commit without waiting for the disk: a write that records no audit event is the
/// bookkeeping of an effect carried out (a message posted, an outbox entry done), not a decision.
/// Lost in a database crash, it makes the effect run again, as a crash of the bot between the
/// effect and its write does; and WAL is flushed in order, so the next write that does record an
/// event makes it durable too. Writes with audit events wait for the disk.
async fn unrecorded_write(tx: &mut Transaction<'_, Postgres>) -> StoreResult<()> {
    sqlx::query("SET LOCAL synchronous_commit TO off")
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

fn version(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("grant version {v} is too large")))
}

/// The grant's next deadline, rounded up to the millisecond as in every backend: a deadline
/// must never be reported due before it is.
fn deadline(grant: &Grant) -> Option<DateTime<Utc>> {
    let at = grant.next_deadline()?;
    let sub_milli = at.timestamp_subsec_nanos() % 1_000_000;
    if sub_milli == 0 {
        Some(at)
    } else {
        Some(at + chrono::Duration::nanoseconds(i64::from(1_000_000 - sub_milli)))
    }
}

/// `at` without its part below the millisecond.
fn to_milli(at: DateTime<Utc>) -> DateTime<Utc> {
    let sub_milli = at.timestamp_subsec_nanos() % 1_000_000;
    at - chrono::Duration::nanoseconds(i64::from(sub_milli))
}

pub(in crate::store) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl GrantStore for PostgresStore {
    async fn insert(&self, grant: &Grant) -> StoreResult<()> {
        self.write(None, grant).await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Grant>> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        body.map(|b| serde_json::from_str(&b).map_err(backend))
            .transpose()
    }

    async fn replace(&self, expected_version: u64, next: &Grant) -> StoreResult<()> {
        self.write(Some(expected_version), next).await
    }

    async fn due(&self, at: DateTime<Utc>) -> StoreResult<Vec<Grant>> {
        let query = sqlx::query(
            "SELECT id, body FROM grants WHERE next_deadline <= $1 ORDER BY next_deadline, id",
        )
        .bind(to_milli(at));
        self.grants_where(query).await
    }

    async fn next_deadline(&self) -> StoreResult<Option<DateTime<Utc>>> {
        sqlx::query_scalar("SELECT min(next_deadline) FROM grants")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }

    async fn open_grants(&self) -> StoreResult<Vec<Grant>> {
        let query = sqlx::query("SELECT id, body FROM grants WHERE is_open ORDER BY id");
        self.grants_where(query).await
    }

    async fn unreviewed(&self) -> StoreResult<Vec<Grant>> {
        let query = sqlx::query("SELECT id, body FROM grants WHERE needs_review ORDER BY id");
        self.grants_where(query).await
    }

    async fn with_pending_effects(&self) -> StoreResult<Vec<Grant>> {
        let query = sqlx::query("SELECT id, body FROM grants WHERE has_pending ORDER BY id");
        self.grants_where(query).await
    }

    async fn claim_outbox(&self, id: &str, lease: std::time::Duration) -> StoreResult<bool> {
        self.claim(id, lease).await
    }

    async fn release_outbox(&self, id: &str) -> StoreResult<()> {
        self.release(id).await
    }

    fn changes_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<ChangedElsewhere>> {
        Some(self.follower.subscribe())
    }
}

#[cfg(test)]
mod tests;
