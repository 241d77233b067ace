//! The audit log in PostgreSQL: `audit_entries` (sequence number → the entry's JSON as hashed),
//! `audit_head` (one row: the chain's last sequence number and hash) and `audit_cursors`.
//! An append locks the head row (`FOR UPDATE`) in the transaction that writes its entries, so
//! appends from every connection of every replica are put in one order and the chain cannot
//! fork. Committed entries are announced with `NOTIFY prod_access_audit` (see `follow`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};

use super::{PostgresStore, backend};
use crate::domain::audit::{AuditEntry, AuditEvent, ChainHead, StoredEntry, chain};
use crate::store::{AuditLog, StoreError, StoreResult};

use super::follow::AUDIT_CHANNEL;

/// What an append did: the entries it wrote and the chain's new head.
pub(super) struct Appended {
    pub(super) entries: Vec<AuditEntry>,
    pub(super) head: Option<ChainHead>,
}

/// Appends `events` after the chain's head, inside `tx`, holding the head row until it ends.
pub(super) async fn append_in(
    tx: &mut Transaction<'_, Postgres>,
    events: &[AuditEvent],
) -> StoreResult<Appended> {
    if events.is_empty() {
        return Ok(Appended {
            entries: Vec::new(),
            head: None,
        });
    }
    let row = sqlx::query("SELECT seq, hash FROM audit_head FOR UPDATE")
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)?;
    let mut head = ChainHead {
        seq: row.get::<i64, _>(0) as u64,
        hash: row.get(1),
    };
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        crate::store::check_worded(event);
        let entry = chain(&head, event.clone());
        let encoded = serde_json::to_string(&entry).map_err(backend)?;
        // Never over an existing entry: a head that is behind must not rewrite history.
        if !insert_entry(tx, entry.seq, entry.event.at, &encoded).await? {
            return Err(StoreError::Backend(format!(
                "audit entry {} already exists: the chain's recorded head is behind; run `prod-access audit verify`",
                entry.seq
            )));
        }
        head = ChainHead {
            seq: entry.seq,
            hash: entry.hash.clone(),
        };
        entries.push(entry);
    }
    set_head(tx, &head).await?;
    // Delivered when (and only if) the transaction commits.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(AUDIT_CHANNEL)
        .bind(head.seq.to_string())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(Appended {
        entries,
        head: Some(head),
    })
}

/// Writes entry `seq` as the JSON text that was hashed; `false` when that number is taken.
pub(in crate::store) async fn insert_entry(
    tx: &mut Transaction<'_, Postgres>,
    seq: u64,
    at: DateTime<Utc>,
    text: &str,
) -> StoreResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO audit_entries (seq, at, entry) VALUES ($1, $2, $3)
         ON CONFLICT (seq) DO NOTHING",
    )
    .bind(seq as i64)
    .bind(at)
    .bind(text)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(inserted.rows_affected() == 1)
}

/// Records `head` as the chain's last entry.
pub(in crate::store) async fn set_head(
    tx: &mut Transaction<'_, Postgres>,
    head: &ChainHead,
) -> StoreResult<()> {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2")
        .bind(head.seq as i64)
        .bind(&head.hash)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

fn stored(seq: i64, text: &str) -> StoredEntry {
    // An entry that is not JSON at all still gets its place, so verification can name it.
    let json = serde_json::from_str(text)
        .unwrap_or_else(|e| serde_json::json!({ "unreadable": e.to_string() }));
    StoredEntry {
        key: seq as u64,
        json,
    }
}

#[async_trait]
impl AuditLog for PostgresStore {
    async fn append(&self, events: Vec<AuditEvent>) -> StoreResult<Vec<AuditEntry>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let appended = append_in(&mut tx, &events).await?;
        tx.commit().await.map_err(backend)?;
        self.follower.announce(appended.head);
        Ok(appended.entries)
    }

    async fn entries_after(&self, seq: u64, limit: usize) -> StoreResult<Vec<StoredEntry>> {
        let rows = sqlx::query(
            "SELECT seq, entry FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(i64::try_from(seq).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|row| stored(row.get(0), row.get::<&str, _>(1)))
            .collect())
    }

    async fn entries_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<AuditEntry>> {
        let texts: Vec<String> =
            sqlx::query_scalar("SELECT entry FROM audit_entries WHERE at >= $1 ORDER BY seq")
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(texts
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect())
    }

    async fn head(&self) -> StoreResult<Option<ChainHead>> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let seq = row.get::<i64, _>(0) as u64;
        Ok((seq > 0).then(|| ChainHead {
            seq,
            hash: row.get(1),
        }))
    }

    fn durable_seq(&self) -> u64 {
        self.follower.last_seq()
    }

    async fn wait_for_entry_after(&self, seq: u64) {
        self.follower.wait_for_entry_after(seq).await;
    }

    async fn cursor(&self, name: &str) -> StoreResult<u64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(seq.unwrap_or(0) as u64)
    }

    async fn set_cursor(&self, name: &str, seq: u64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_cursors (name, seq) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
        )
        .bind(name)
        .bind(seq as i64)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}
