//! Claims on grants' outboxes (table `outbox_claims`): one replica at a time carries out a
//! grant's effects. A claim is a lease timed by the database's clock, so replicas whose clocks
//! differ still agree on when it lapses.

use std::time::Duration;

use super::{PostgresStore, backend};
use crate::store::StoreResult;

impl PostgresStore {
    /// Claims `id`'s outbox for this replica for `lease` (or extends its own claim); `false`
    /// while another replica's claim stands.
    pub(super) async fn claim(&self, id: &str, lease: Duration) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A claim lost in a database crash only lets a second run start where one was going
        // on: not worth a disk flush on every outbox run.
        sqlx::query("SET LOCAL synchronous_commit TO off")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let claimed = sqlx::query(
            "INSERT INTO outbox_claims (grant_id, holder, until)
                 VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
             ON CONFLICT (grant_id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
                 WHERE outbox_claims.holder = EXCLUDED.holder
                    OR outbox_claims.until < clock_timestamp()",
        )
        .bind(id)
        .bind(self.follower.replica())
        .bind(lease.as_secs_f64())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Gives up this replica's claim on `id`'s outbox, if it still holds it.
    pub(super) async fn release(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM outbox_claims WHERE grant_id = $1 AND holder = $2")
            .bind(id)
            .bind(self.follower.replica())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
