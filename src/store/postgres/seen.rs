//! Signed requests already taken, in PostgreSQL: table `seen_requests` (signature → when it was
//! first taken, and until when it is accepted). Insert-if-absent on the signature, so of two
//! replicas given the same request, only one takes it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{PostgresStore, backend};
use crate::store::{SeenRequests, Sighting, StoreResult};

#[async_trait]
impl SeenRequests for PostgresStore {
    async fn first_sighting(
        &self,
        signature: &[u8],
        keep_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Sighting> {
        sqlx::query("DELETE FROM seen_requests WHERE keep_until < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let inserted = sqlx::query(
            "INSERT INTO seen_requests (signature, first_seen, keep_until) VALUES ($1, $2, $3)
             ON CONFLICT (signature) DO NOTHING",
        )
        .bind(signature)
        .bind(now)
        .bind(keep_until)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
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
