//! `prod-access store migrate`: everything an embedded (sled) store holds, copied into an empty
//! PostgreSQL database in one transaction: grants, session activity, the audit log entry by
//! entry exactly as stored (so the chain, and its head hash, are the same), and the sinks'
//! cursors. Signed requests already taken are not copied: they matter for five minutes, and
//! the bot is stopped while it moves.

use sqlx::{Postgres, Transaction};

use super::postgres::{PostgresStore, backend, insert_entry, insert_row, set_head};
use super::sled::SledStore;
use super::{AuditLog, StoreError, StoreResult};
use crate::domain::audit::ChainHead;
use crate::domain::grant::Grant;

/// What was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub grants: usize,
    pub activity: usize,
    pub audit_entries: usize,
    pub cursors: usize,
    /// The chain's head, read back from PostgreSQL: the same as the sled store's.
    pub head: Option<ChainHead>,
}

/// Copies `from` into `to`, which must be empty (no grant, no audit entry, no activity).
pub async fn migrate(from: &SledStore, to: &PostgresStore) -> StoreResult<Migrated> {
    if !to.is_empty().await? {
        return Err(StoreError::Backend(
            "the target database is not empty: migrate only into a new database".into(),
        ));
    }
    let head = from.head().await?;
    let mut tx = to.pool().begin().await.map_err(backend)?;
    let grants = copy_grants(from, &mut tx).await?;
    let activity = copy_activity(from, &mut tx).await?;
    let audit_entries = copy_audit(from, &mut tx, head.as_ref()).await?;
    let mut cursors = 0;
    for (name, seq) in from.cursors()? {
        sqlx::query("INSERT INTO audit_cursors (name, seq) VALUES ($1, $2)")
            .bind(name)
            .bind(seq as i64)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        cursors += 1;
    }
    tx.commit().await.map_err(backend)?;
    let copied_head = to.head().await?;
    if copied_head != head {
        return Err(StoreError::Backend(format!(
            "the copied chain's head {copied_head:?} is not the source's {head:?}"
        )));
    }
    Ok(Migrated {
        grants,
        activity,
        audit_entries,
        cursors,
        head: copied_head,
    })
}

async fn copy_grants(from: &SledStore, tx: &mut Transaction<'_, Postgres>) -> StoreResult<usize> {
    let mut count = 0;
    for stored in from.stored_grants() {
        let (id, bytes) = stored?;
        let grant: Grant = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Backend(format!("grant {id} cannot be read: {e}")))?;
        let body = String::from_utf8(bytes).map_err(backend)?;
        insert_row(tx, &grant, &body).await?;
        count += 1;
    }
    Ok(count)
}

async fn copy_activity(from: &SledStore, tx: &mut Transaction<'_, Postgres>) -> StoreResult<usize> {
    let mut count = 0;
    for stored in from.stored_activity() {
        let (grant, body, unsummarised) = stored?;
        sqlx::query("INSERT INTO activity (grant_id, body, unsummarised) VALUES ($1, $2, $3)")
            .bind(grant)
            .bind(body)
            .bind(unsummarised)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        count += 1;
    }
    Ok(count)
}

/// Every entry as stored, then the head as recorded.
async fn copy_audit(
    from: &SledStore,
    tx: &mut Transaction<'_, Postgres>,
    head: Option<&ChainHead>,
) -> StoreResult<usize> {
    let mut count = 0;
    for stored in from.stored_audit() {
        let (seq, text) = stored?;
        // An entry whose time cannot be read (an edited one) is copied all the same, so
        // `audit verify` names it on the copy too; it is filed at the epoch.
        let at = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["at"].as_str().map(String::from))
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
            .map_or(chrono::DateTime::UNIX_EPOCH, |at| {
                at.with_timezone(&chrono::Utc)
            });
        if !insert_entry(tx, seq, at, &text).await? {
            return Err(StoreError::Backend(format!(
                "audit entry {seq} is in the source twice"
            )));
        }
        count += 1;
    }
    if let Some(head) = head {
        set_head(tx, head).await?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests;
