//! The audit log in sled: tree `audit` (sequence number, big-endian → entry JSON as hashed) and
//! tree `audit_meta` (`head` → the chain's last sequence number and hash; `cursor/<name>` →
//! how far a sink has delivered). Appends read the head and write it back inside the same
//! transaction as the entries, so concurrent writers are put in one order by sled and the chain
//! has no gaps or forks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Db, Transactional, Tree};
use tokio::sync::watch;

use super::backend;
use crate::domain::audit::{AuditEntry, AuditEvent, ChainHead, StoredEntry, chain};
use crate::store::{AuditLog, SledStore, StoreError, StoreResult};

const HEAD: &[u8] = b"head";
/// How far before `since` the backward scan of `entries_since` keeps looking.
const SINCE_SLACK: chrono::Duration = chrono::Duration::minutes(5);

pub(super) struct AuditTrees {
    pub(super) entries: Tree,
    pub(super) meta: Tree,
    /// The last appended sequence number, for sinks waiting for more.
    last_seq: watch::Sender<u64>,
}

impl AuditTrees {
    pub(super) fn open(db: &Db) -> StoreResult<AuditTrees> {
        let entries = db.open_tree("audit").map_err(backend)?;
        let meta = db.open_tree("audit_meta").map_err(backend)?;
        let last = match meta.get(HEAD).map_err(backend)? {
            Some(bytes) => decode_head(&bytes)?.seq,
            None => 0,
        };
        Ok(AuditTrees {
            entries,
            meta,
            last_seq: watch::Sender::new(last),
        })
    }

    pub(super) fn announce(&self, head: ChainHead) {
        self.last_seq.send_if_modified(|last| {
            let moved = head.seq > *last;
            *last = (*last).max(head.seq);
            moved
        });
    }
}

fn decode_head(bytes: &[u8]) -> StoreResult<ChainHead> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Backend(format!("audit head: {e}")))
}

/// Appends `events` after the recorded head, inside a transaction; the new head, if any.
pub(super) fn append_in(
    entries: &TransactionalTree,
    meta: &TransactionalTree,
    events: &[AuditEvent],
) -> Result<Option<ChainHead>, ConflictableTransactionError<StoreError>> {
    if events.is_empty() {
        return Ok(None);
    }
    let abort = |e: StoreError| ConflictableTransactionError::Abort(e);
    let mut head = match meta.get(HEAD)? {
        Some(bytes) => decode_head(&bytes).map_err(abort)?,
        None => ChainHead::genesis(),
    };
    for event in events {
        crate::store::check_worded(event);
        let entry = chain(&head, event.clone());
        let encoded = serde_json::to_vec(&entry).map_err(|e| abort(backend(e)))?;
        // Never over an existing entry: a missing or stale head must not rewrite history.
        if entries.insert(&entry.seq.to_be_bytes(), encoded)?.is_some() {
            return Err(abort(StoreError::Backend(format!(
                "audit entry {} already exists: the chain's recorded head is missing or behind; run `prod-access audit verify`",
                entry.seq
            ))));
        }
        head = ChainHead {
            seq: entry.seq,
            hash: entry.hash,
        };
    }
    let encoded = serde_json::to_vec(&head).map_err(|e| abort(backend(e)))?;
    meta.insert(HEAD, encoded)?;
    Ok(Some(head))
}

/// Every cursor in `meta`, by name.
pub(super) fn cursors(meta: &Tree) -> StoreResult<Vec<(String, u64)>> {
    let mut found = Vec::new();
    for entry in meta.scan_prefix(b"cursor/") {
        let (key, value) = entry.map_err(backend)?;
        let name = String::from_utf8_lossy(&key["cursor/".len()..]).into_owned();
        let seq = value
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Backend(format!("audit cursor {name} is unreadable")))?;
        found.push((name, seq));
    }
    Ok(found)
}

fn cursor_key(name: &str) -> Vec<u8> {
    format!("cursor/{name}").into_bytes()
}

fn stored(key: &[u8], value: &[u8]) -> StoredEntry {
    let key = key.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX);
    // An entry that is not JSON at all still gets its place, so verification can name it.
    let json = serde_json::from_slice(value)
        .unwrap_or_else(|e| serde_json::json!({ "unreadable": e.to_string() }));
    StoredEntry { key, json }
}

#[async_trait]
impl AuditLog for SledStore {
    async fn append(&self, events: Vec<AuditEvent>) -> StoreResult<Vec<AuditEntry>> {
        let trees = &self.audit;
        let result = (&trees.entries, &trees.meta).transaction(|(entries, meta)| {
            let before = match meta.get(HEAD)? {
                Some(bytes) => {
                    decode_head(&bytes)
                        .map_err(ConflictableTransactionError::Abort)?
                        .seq
                }
                None => 0,
            };
            append_in(entries, meta, &events).map(|head| (before, head))
        });
        let (before, head) = match result {
            Ok(done) => done,
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(backend(e)),
        };
        let Some(head) = head else {
            return Ok(Vec::new());
        };
        self.flush_and_announce(Some(head)).await?;
        let appended = self.entries_after(before, events.len()).await?;
        Ok(appended
            .into_iter()
            .filter_map(|e| serde_json::from_value(e.json).ok())
            .collect())
    }

    async fn entries_after(&self, seq: u64, limit: usize) -> StoreResult<Vec<StoredEntry>> {
        let start = seq.saturating_add(1).to_be_bytes();
        let mut found = Vec::new();
        for item in self.audit.entries.range(start..).take(limit) {
            let (key, value) = item.map_err(backend)?;
            found.push(stored(&key, &value));
        }
        Ok(found)
    }

    async fn entries_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<AuditEntry>> {
        let mut found = Vec::new();
        for item in self.audit.entries.iter().rev() {
            let (_, value) = item.map_err(backend)?;
            let Ok(entry) = serde_json::from_slice::<AuditEntry>(&value) else {
                continue;
            };
            // Times follow sequence numbers only roughly (concurrent writers, a clock step), so
            // the scan goes a little past the boundary before it stops.
            if entry.event.at < since - SINCE_SLACK {
                break;
            }
            if entry.event.at >= since {
                found.push(entry);
            }
        }
        found.reverse();
        Ok(found)
    }

    async fn head(&self) -> StoreResult<Option<ChainHead>> {
        match self.audit.meta.get(HEAD).map_err(backend)? {
            Some(bytes) => Ok(Some(decode_head(&bytes)?)),
            None => Ok(None),
        }
    }

    fn durable_seq(&self) -> u64 {
        *self.audit.last_seq.borrow()
    }

    async fn wait_for_entry_after(&self, seq: u64) {
        let mut last = self.audit.last_seq.subscribe();
        // The sender lives as long as the store, so this ends only when an entry arrives.
        let _ = last.wait_for(|last| *last > seq).await;
    }

    async fn cursor(&self, name: &str) -> StoreResult<u64> {
        Ok(
            match self.audit.meta.get(cursor_key(name)).map_err(backend)? {
                Some(bytes) => bytes
                    .as_ref()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| {
                        StoreError::Backend(format!("audit cursor {name} is unreadable"))
                    })?,
                None => 0,
            },
        )
    }

    async fn set_cursor(&self, name: &str, seq: u64) -> StoreResult<()> {
        self.audit
            .meta
            .insert(cursor_key(name), &seq.to_be_bytes())
            .map_err(backend)?;
        self.flush().await
    }
}

#[cfg(test)]
mod tests;
