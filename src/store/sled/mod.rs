//! The sled-backed store: trees `grants` (id → grant JSON), `deadlines` (next deadline ms + id →
//! id), `open` (id → ()) for unfinished grants and `pending` (id → ()) for grants with effects
//! still to carry out, `unreviewed` (id → ()) for break-glass uses awaiting their review, and
//! the audit log (see `audit`), session activity (see `activity`) and the signed
//! requests already taken (see `seen`). The indexes and the audit events of
//! a grant's change are written in the same transaction as the grant, so they can never
//! disagree with it.

mod activity;
mod audit;
mod seen;

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Db, Transactional, Tree};

use crate::domain::audit::ChainHead;
use crate::domain::grant::Grant;
use crate::store::{GrantStore, StoreError, StoreResult};
use audit::{AuditTrees, append_in};

pub struct SledStore {
    db: Db,
    grants: Tree,
    deadlines: Tree,
    open: Tree,
    pending: Tree,
    unreviewed: Tree,
    audit: AuditTrees,
    /// Session activity by grant id, and the ids whose final summary is still to come.
    activity: Tree,
    activity_open: Tree,
    /// Signed chat requests already taken (see `seen`).
    seen_requests: Tree,
    flushes: GroupCommit,
}

/// Flushes shared by every writer waiting at the same time: a flush makes durable every write
/// finished before it began, so a writer whose write an earlier or running flush covers does not
/// start another. Many grants changing at once (10,000 expiring in a minute, a restart after
/// downtime) then cost a few flushes, not one each.
#[derive(Default)]
struct GroupCommit {
    /// Writes that asked for durability, counted as they ask.
    asked: std::sync::atomic::AtomicU64,
    /// Every ask up to this number is durable.
    durable: std::sync::atomic::AtomicU64,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl SledStore {
    pub fn open(path: &Path) -> StoreResult<SledStore> {
        let db = open_waiting_for_lock(path).map_err(|e| {
            let hint = if is_lock_error(&e) {
                " (another prod-access process has it open: stop it, or work on a copy)"
            } else {
                ""
            };
            StoreError::Backend(format!(
                "cannot open the store at {}: {e}{hint}",
                path.display()
            ))
        })?;
        let tree = |name: &str| db.open_tree(name).map_err(backend);
        Ok(SledStore {
            grants: tree("grants")?,
            deadlines: tree("deadlines")?,
            open: tree("open")?,
            pending: tree("pending")?,
            unreviewed: tree("unreviewed")?,
            audit: AuditTrees::open(&db)?,
            activity: tree("activity")?,
            activity_open: tree("activity_open")?,
            seen_requests: tree("seen_requests")?,
            db,
            flushes: GroupCommit::default(),
        })
    }

    /// sled 0.34's `flush_async` can hang forever when several flushes overlap
    /// (spacejam/sled#1308, fixed only after the last release), so the blocking flush runs on
    /// the blocking pool instead.
    /// Flushes, then tells sinks how far the audit log now durably reaches: an entry is never
    /// sent anywhere before it is on disk (a crash could otherwise reuse its number).
    async fn flush_and_announce(&self, head: Option<ChainHead>) -> StoreResult<()> {
        self.flush().await?;
        if let Some(head) = head {
            self.audit.announce(head);
        }
        Ok(())
    }

    /// Makes every write finished before this call durable (see `GroupCommit`).
    async fn flush(&self) -> StoreResult<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let flushes = &self.flushes;
        let ticket = flushes.asked.fetch_add(1, SeqCst) + 1;
        let _turn = flushes.one_at_a_time.lock().await;
        if flushes.durable.load(SeqCst) >= ticket {
            return Ok(());
        }
        // Every ask counted by now was made after its write finished: this flush covers it.
        let covers = flushes.asked.load(SeqCst);
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(backend)?
            .map_err(backend)?;
        flushes.durable.fetch_max(covers, SeqCst);
        Ok(())
    }

    /// Writes the grant and appends its journal; the new head of the audit chain, if it moved.
    /// Nothing is durable until the caller flushes.
    fn write(&self, mode: WriteMode, next: &Grant) -> StoreResult<Option<ChainHead>> {
        // The journal goes into the audit log, not onto the stored grant.
        let mut stored = next.clone();
        let journal = std::mem::take(&mut stored.journal);
        let encoded = serde_json::to_vec(&stored).map_err(backend)?;
        let trees = (
            &self.grants,
            &self.deadlines,
            &self.open,
            &self.pending,
            &self.unreviewed,
            &self.audit.entries,
            &self.audit.meta,
        );
        let result = trees.transaction(
            |(grants, deadlines, open, pending, unreviewed, audit_entries, audit_meta)| {
                let indexes = Indexes {
                    deadlines,
                    open,
                    pending,
                    unreviewed,
                };
                let stored = grants.get(next.id.as_bytes())?;
                let mut stored_version = 0;
                match (mode, stored) {
                    (WriteMode::Insert, Some(_)) => {
                        return abort(StoreError::AlreadyExists(next.id.clone()));
                    }
                    (WriteMode::Replace { .. }, None) => {
                        return abort(StoreError::NotFound(next.id.clone()));
                    }
                    (WriteMode::Replace { expected_version }, Some(bytes)) => {
                        let current: Grant = serde_json::from_slice(&bytes)
                            .map_err(|e| ConflictableTransactionError::Abort(backend(e)))?;
                        if current.version != expected_version || next.version <= expected_version {
                            return abort(StoreError::Conflict {
                                id: next.id.clone(),
                                expected: expected_version,
                            });
                        }
                        indexes.remove(&current)?;
                        stored_version = current.version;
                    }
                    (WriteMode::Insert, None) => {}
                }
                grants.insert(next.id.as_bytes(), encoded.as_slice())?;
                indexes.add(next)?;
                // Events of versions already stored were appended with them.
                let new_events: Vec<_> = journal
                    .iter()
                    .filter(|e| e.grant_version.is_some_and(|v| v > stored_version))
                    .cloned()
                    .collect();
                append_in(audit_entries, audit_meta, &new_events)
            },
        );
        match result {
            Ok(appended_to) => Ok(appended_to),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    /// Stores many new grants with one flush at the end (benchmarks seed their stores with it);
    /// each grant is still written in its own transaction with its journal.
    pub async fn insert_all(&self, grants: &[Grant]) -> StoreResult<()> {
        let mut head = None;
        for grant in grants {
            head = self.write(WriteMode::Insert, grant)?.or(head);
        }
        self.flush_and_announce(head).await
    }

    fn decode(bytes: &[u8]) -> StoreResult<Grant> {
        serde_json::from_slice(bytes).map_err(backend)
    }
}

/// How long opening waits for the store's file lock: a store just closed (a restart in the
/// same process, the previous process exiting) releases it a moment after its last handle goes,
/// when sled's background threads finish.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// sled's page cache; its default (1 GiB) would let a large store's pages fill the bot's memory.
/// Grants are small and read by key, so a modest cache serves them.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

fn open_waiting_for_lock(path: &Path) -> sled::Result<Db> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Err(e) if is_lock_error(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock)
        || e.to_string().contains("could not acquire lock")
}

#[derive(Clone, Copy)]
enum WriteMode {
    Insert,
    Replace { expected_version: u64 },
}

type TxResult = Result<(), ConflictableTransactionError<StoreError>>;

fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn deadline_key(grant: &Grant) -> Option<Vec<u8>> {
    let deadline = grant.next_deadline()?;
    // Rounded up: a deadline must never be reported due before it is.
    let sub_milli = deadline.timestamp_subsec_nanos() % 1_000_000 != 0;
    let rounded = deadline + chrono::Duration::milliseconds(i64::from(sub_milli));
    let mut key = time_prefix(rounded).to_vec();
    key.extend_from_slice(grant.id.as_bytes());
    Some(key)
}

/// Big-endian millis with the sign bit flipped, so byte order is time order.
fn time_prefix(at: DateTime<Utc>) -> [u8; 8] {
    ((at.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

fn prefix_time(key: &[u8]) -> Option<DateTime<Utc>> {
    let bytes: [u8; 8] = key.get(..8)?.try_into().ok()?;
    DateTime::from_timestamp_millis((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// The derived trees, kept in step with each grant inside its transaction.
struct Indexes<'a> {
    deadlines: &'a TransactionalTree,
    open: &'a TransactionalTree,
    pending: &'a TransactionalTree,
    unreviewed: &'a TransactionalTree,
}

impl Indexes<'_> {
    fn add(&self, grant: &Grant) -> TxResult {
        let id = grant.id.as_bytes();
        if let Some(key) = deadline_key(grant) {
            self.deadlines.insert(key, id)?;
        }
        if !grant.state.is_final() {
            self.open.insert(id, &[])?;
        }
        if !grant.outbox.is_empty() {
            self.pending.insert(id, &[])?;
        }
        if grant.needs_review() {
            self.unreviewed.insert(id, &[])?;
        }
        Ok(())
    }

    fn remove(&self, grant: &Grant) -> TxResult {
        if let Some(key) = deadline_key(grant) {
            self.deadlines.remove(key)?;
        }
        self.open.remove(grant.id.as_bytes())?;
        self.pending.remove(grant.id.as_bytes())?;
        self.unreviewed.remove(grant.id.as_bytes())?;
        Ok(())
    }
}

impl SledStore {
    /// The grants an index holds, keyed by their ids.
    async fn grants_in(&self, index: &Tree) -> StoreResult<Vec<Grant>> {
        self.grants_by_id(index.iter().map(|entry| entry.map(|(id, _)| id)))
            .await
    }

    /// The grants with the ids `ids` gives, in its order. One unreadable record is logged and
    /// skipped: it must not stop the work on, or the deadline of, every other grant.
    async fn grants_by_id(
        &self,
        ids: impl Iterator<Item = sled::Result<sled::IVec>>,
    ) -> StoreResult<Vec<Grant>> {
        let mut grants = Vec::new();
        for id in ids {
            let id = id.map_err(backend)?;
            let id = String::from_utf8_lossy(&id).into_owned();
            match self.get(&id).await {
                Ok(Some(grant)) => grants.push(grant),
                Ok(None) => {}
                Err(e) => tracing::error!(grant = %id, error = %e, "skipping an unreadable grant"),
            }
        }
        Ok(grants)
    }
}

#[async_trait]
impl GrantStore for SledStore {
    async fn insert(&self, grant: &Grant) -> StoreResult<()> {
        let head = self.write(WriteMode::Insert, grant)?;
        self.flush_and_announce(head).await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Grant>> {
        match self.grants.get(id.as_bytes()).map_err(backend)? {
            Some(bytes) => Ok(Some(Self::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    async fn replace(&self, expected_version: u64, next: &Grant) -> StoreResult<()> {
        let head = self.write(WriteMode::Replace { expected_version }, next)?;
        self.flush_and_announce(head).await
    }

    async fn due(&self, at: DateTime<Utc>) -> StoreResult<Vec<Grant>> {
        let mut end = time_prefix(at).to_vec();
        end.push(0xff);
        let ids = self
            .deadlines
            .range(..end)
            .map(|entry| entry.map(|(_, id)| id));
        self.grants_by_id(ids).await
    }

    async fn next_deadline(&self) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self
            .deadlines
            .first()
            .map_err(backend)?
            .and_then(|(key, _)| prefix_time(&key)))
    }

    async fn with_pending_effects(&self) -> StoreResult<Vec<Grant>> {
        self.grants_in(&self.pending).await
    }

    async fn open_grants(&self) -> StoreResult<Vec<Grant>> {
        self.grants_in(&self.open).await
    }

    async fn unreviewed(&self) -> StoreResult<Vec<Grant>> {
        self.grants_in(&self.unreviewed).await
    }
}

/// What `store migrate` reads: every record as stored.
impl SledStore {
    /// Every grant as its id and stored JSON, in id order.
    pub(in crate::store) fn stored_grants(
        &self,
    ) -> impl Iterator<Item = StoreResult<(String, Vec<u8>)>> + '_ {
        self.grants.iter().map(|entry| {
            let (id, bytes) = entry.map_err(backend)?;
            Ok((String::from_utf8_lossy(&id).into_owned(), bytes.to_vec()))
        })
    }

    /// Every activity record as its grant id, stored JSON, and whether its summary is still to
    /// come.
    pub(in crate::store) fn stored_activity(
        &self,
    ) -> impl Iterator<Item = StoreResult<(String, String, bool)>> + '_ {
        self.activity.iter().map(|entry| {
            let (id, bytes) = entry.map_err(backend)?;
            let unsummarised = self.activity_open.contains_key(&id).map_err(backend)?;
            let body = String::from_utf8(bytes.to_vec()).map_err(backend)?;
            Ok((
                String::from_utf8_lossy(&id).into_owned(),
                body,
                unsummarised,
            ))
        })
    }

    /// Every audit entry as its sequence number and the JSON text that was hashed, in order.
    pub(in crate::store) fn stored_audit(
        &self,
    ) -> impl Iterator<Item = StoreResult<(u64, String)>> + '_ {
        self.audit.entries.iter().map(|entry| {
            let (key, bytes) = entry.map_err(backend)?;
            let seq = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    StoreError::Backend("an audit entry's key is not a sequence number".into())
                })?;
            Ok((seq, String::from_utf8_lossy(&bytes).into_owned()))
        })
    }

    /// The sinks' cursors, by name.
    pub(in crate::store) fn cursors(&self) -> StoreResult<Vec<(String, u64)>> {
        audit::cursors(&self.audit.meta)
    }
}

#[cfg(test)]
mod tests;
