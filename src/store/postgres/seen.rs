//! Signed requests already taken, in PostgreSQL: table `seen_requests` (signature → when it was
//! first taken, and until when it is accepted). Insert-if-absent on the signature, so of two
//! replicas given the same request, only one takes it. Signatures no longer accepted are
//! forgotten at most every `FORGET_EVERY` (not on every request: that was one more commit
//! each); one not yet forgotten is refused as stale by the signature check anyway.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{PostgresStore, backend};
use crate::store::{SeenRequests, Sighting, StoreResult};

/// How often signatures no longer accepted are forgotten.
const FORGET_EVERY: chrono::Duration = chrono::Duration::seconds(10);

impl PostgresStore {
    /// Whether it is time to forget old signatures at `now` (and if so, the time is taken).
    fn forget_due(&self, now: DateTime<Utc>) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        let now_ms = now.timestamp_millis();
        let last = self.forgotten_at_ms.load(SeqCst);
        now_ms - last >= FORGET_EVERY.num_milliseconds()
            && self
                .forgotten_at_ms
                .compare_exchange(last, now_ms, SeqCst, SeqCst)
                .is_ok()
    }
}

#[async_trait]
impl SeenRequests for PostgresStore {
    async fn first_sighting(
        &self,
        signature: &[u8],
        keep_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Sighting> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Without waiting for the disk: WAL is flushed in order, so the write of whatever the
        // request then changes (a new grant, a decision) makes this record durable too. Only a
        // request that changed nothing can lose its record in a database crash, and answering
        // its replay once more changes nothing either. One fsync less per request.
        sqlx::query("SET LOCAL synchronous_commit TO off")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if self.forget_due(now) {
            sqlx::query("DELETE FROM seen_requests WHERE keep_until < $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        let inserted = sqlx::query(
            "INSERT INTO seen_requests (signature, first_seen, keep_until) VALUES ($1, $2, $3)
             ON CONFLICT (signature) DO NOTHING",
        )
        .bind(signature)
        .bind(now)
        .bind(keep_until)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        if inserted.rows_affected() == 1 {
            return Ok(Sighting::First);
        }
        let first_seen: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT first_seen FROM seen_requests WHERE signature = $1")
                .bind(signature)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        Ok(Sighting::Replay {
            first_seen: first_seen.unwrap_or(now),
        })
    }
}
