//! Durable grant state. The application sees only these traits; sled is the embedded default,
//! PostgreSQL the choice for several replicas.

#[cfg(test)]
mod contract;
pub mod migrate;
pub mod postgres;
mod sled;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::activity::{
    CleanupStep, EndReport, KubeRequest, NotableAction, SessionActivity, Tally,
};
use crate::domain::audit::{AuditEntry, AuditEvent, ChainHead, StoredEntry};
use crate::domain::grant::Grant;

pub use postgres::PostgresStore;
pub use sled::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the grant first; reload and decide again.
    #[error("grant {id} changed concurrently (expected version {expected})")]
    Conflict { id: String, expected: u64 },
    #[error("grant {0} already exists")]
    AlreadyExists(String),
    #[error("grant {0} not found")]
    NotFound(String),
    #[error("store: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What another replica committed, as a replica sharing the store hears of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedElsewhere {
    /// The grant with this id was stored (`new`: as a new request) or changed.
    Grant { id: String, new: bool },
    /// The session activity of the grant with this id changed.
    Activity(String),
    /// Changes may have been missed (the notifications' connection was lost): read again
    /// whatever is kept from the store.
    Unknown,
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new grant, and appends its journal to the audit log in the same write; durable
    /// when this returns.
    async fn insert(&self, grant: &Grant) -> StoreResult<()>;
    async fn get(&self, id: &str) -> StoreResult<Option<Grant>>;
    /// Replaces the grant if its stored version is still `expected_version` (compare-and-swap),
    /// and appends its journal to the audit log in the same write; durable when this returns.
    async fn replace(&self, expected_version: u64, next: &Grant) -> StoreResult<()>;
    /// Grants whose next deadline (review timeout, reminder, expiry) is at or before `at`,
    /// earliest first.
    async fn due(&self, at: DateTime<Utc>) -> StoreResult<Vec<Grant>>;
    /// The earliest next deadline of any grant.
    async fn next_deadline(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Grants that are not finished (requested, approved or active).
    async fn open_grants(&self) -> StoreResult<Vec<Grant>>;
    /// Break-glass uses that no approver has reviewed yet.
    async fn unreviewed(&self) -> StoreResult<Vec<Grant>>;
    /// Grants with effects still to carry out.
    async fn with_pending_effects(&self) -> StoreResult<Vec<Grant>>;
    /// Claims the carrying out of `id`'s outbox for this replica for `lease`, or extends its
    /// claim; `false` while another replica's claim stands, so no effect is carried out twice
    /// at once. A store one process owns has no one to share with: the process's own outbox
    /// lock is enough.
    async fn claim_outbox(&self, _id: &str, _lease: std::time::Duration) -> StoreResult<bool> {
        Ok(true)
    }
    /// Gives up this replica's claim on `id`'s outbox.
    async fn release_outbox(&self, _id: &str) -> StoreResult<()> {
        Ok(())
    }
    /// What other replicas commit, as it comes; `None` for a store one process owns.
    fn changes_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<ChangedElsewhere>> {
        None
    }
}

/// The hash-chained audit log. Grant changes append to it through `GrantStore`, in the same
/// write as the change; this appends what belongs to no grant change and reads the log back.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends events of no grant change (a repair by the reconciler); durable when this returns.
    async fn append(&self, events: Vec<AuditEvent>) -> StoreResult<Vec<AuditEntry>>;
    /// Up to `limit` entries after `seq`, oldest first, as stored.
    async fn entries_after(&self, seq: u64, limit: usize) -> StoreResult<Vec<StoredEntry>>;
    /// The entries at or after `since`, oldest first (read backwards from the end).
    async fn entries_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<AuditEntry>>;
    /// Where the store recorded the chain's end; `None` while the log is empty.
    async fn head(&self) -> StoreResult<Option<ChainHead>>;
    /// The last entry known to be on disk; sinks send nothing past it.
    fn durable_seq(&self) -> u64;
    /// Waits until the log durably holds an entry after `seq`.
    async fn wait_for_entry_after(&self, seq: u64);
    /// A named delivery position (the webhook's), 0 when never set.
    async fn cursor(&self, name: &str) -> StoreResult<u64>;
    /// Moves a named delivery position; durable when this returns.
    async fn set_cursor(&self, name: &str, seq: u64) -> StoreResult<()>;
}

/// How the audit log says a notable action (`Templates::notable_record`).
pub type NotableWords<'a> = dyn Fn(&NotableAction) -> String + Send + Sync + 'a;

/// Requests one grant's subject made, and the grant's audit entry its notable ones are logged
/// like (see `domain::activity::notable_event`).
pub struct GrantRequests {
    pub grant: String,
    pub about: AuditEvent,
    pub requests: Vec<KubeRequest>,
}

/// What each grant's subject did in the cluster (from the apiserver's audit webhook).
#[async_trait]
pub trait ActivityStore: Send + Sync {
    /// Adds a batch's requests to their grants' activity, and appends the notable ones to the
    /// audit log, in one write; durable when this returns. The grants now holding unposted
    /// activity, with when their next reply is due.
    async fn record_activity(
        &self,
        batch: Vec<GrantRequests>,
        words: &NotableWords<'_>,
    ) -> StoreResult<Vec<(String, DateTime<Utc>)>>;
    async fn activity(&self, grant: &str) -> StoreResult<Option<SessionActivity>>;
    /// The activity of grants whose final summary has not been posted yet.
    async fn unsummarised_activity(&self) -> StoreResult<Vec<SessionActivity>>;
    /// Records a thread reply that said `posted`; durable when this returns.
    async fn activity_replied(
        &self,
        grant: &str,
        posted: &Tally,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Records the final summary and what it reported the end did not end, and appends
    /// `entries` (the summary, and what the grant left behind) to the audit log, in one write.
    /// Recorded once: a second call changes nothing.
    async fn activity_summarised(
        &self,
        grant: &str,
        at: DateTime<Utc>,
        report: EndReport,
        entries: Vec<AuditEvent>,
    ) -> StoreResult<()>;
    /// Takes `step` of a cleanup of `item` of the grant's end report and appends `entry`, in one
    /// write; false (and nothing written) when the report has no such item or the step does not
    /// apply to it now (handled already, or another's claim).
    async fn activity_cleaned_up(
        &self,
        grant: &str,
        item: &str,
        step: &CleanupStep,
        entry: Option<&AuditEvent>,
    ) -> StoreResult<bool>;
}

/// Takes a cleanup step in `record`; the entries that go with it, or `None` (nothing to write)
/// when the step does not apply to the item now.
pub(crate) fn clean_up(
    record: &mut SessionActivity,
    item: &str,
    step: &CleanupStep,
    entry: Option<&AuditEvent>,
) -> Option<Vec<AuditEvent>> {
    record.clean_up(item, step).ok()?;
    Some(entry.into_iter().cloned().collect())
}

/// Records the final summary in `record`; the entries that go with it: `entries` the first
/// time, none after (another run or replica summarised it already).
pub(crate) fn summarise(
    record: &mut SessionActivity,
    at: DateTime<Utc>,
    report: &EndReport,
    entries: &[AuditEvent],
) -> Vec<AuditEvent> {
    let first = !record.summarised;
    record.summary_posted(at, report.clone());
    if first { entries.to_vec() } else { Vec::new() }
}

/// Checked by every backend before it writes an audit entry: the entry's words could never be
/// added later (the hash chain covers them), so a path that forgot them fails its tests and is
/// logged in production.
pub(crate) fn check_worded(event: &AuditEvent) {
    debug_assert!(
        !event.unworded(),
        "a {} entry is stored without its detail: its path must word it first",
        event.kind.as_str()
    );
    if event.unworded() {
        tracing::error!(
            kind = event.kind.as_str(),
            "an audit entry is stored without its detail"
        );
    }
}

/// Everything a backend keeps: grants, the audit log, session activity and signed requests.
pub trait Store: GrantStore + AuditLog + ActivityStore + SeenRequests {}

impl<T: GrantStore + AuditLog + ActivityStore + SeenRequests> Store for T {}

/// Whether a signed request was taken before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// Not seen before: now recorded, and durably so.
    First,
    /// Already taken once (at that time): a replay.
    Replay { first_seen: DateTime<Utc> },
}

/// The signatures of signed chat requests already taken, each kept for as long as the
/// signature itself is accepted, so the same request is taken only once (also across
/// restarts, and with a shared store across replicas).
#[async_trait]
pub trait SeenRequests: Send + Sync {
    /// Records `signature` as taken at `now` unless it already was (insert-if-absent, durable
    /// before `First` is returned); it is kept until `keep_until`. Signatures whose time has
    /// passed by `now` are forgotten.
    async fn first_sighting(
        &self,
        signature: &[u8],
        keep_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Sighting>;
}
