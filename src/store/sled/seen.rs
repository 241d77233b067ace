//! Signed requests already taken, in sled: tree `seen_requests`, keyed by the time until which
//! the signature is accepted (big-endian, so byte order is time order) followed by the
//! signature, holding when it was first taken. A replay carries the same timestamp and
//! signature, so it finds the same key; forgetting is a range removal from the start.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{backend, prefix_time, time_prefix};
use crate::store::{SeenRequests, Sighting, SledStore, StoreResult};

#[async_trait]
impl SeenRequests for SledStore {
    async fn first_sighting(
        &self,
        signature: &[u8],
        keep_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Sighting> {
        self.forget_seen_before(now)?;
        let mut key = time_prefix(keep_until).to_vec();
        key.extend_from_slice(signature);
        let taken_at = time_prefix(now);
        let swapped = self
            .seen_requests
            .compare_and_swap(key, None::<&[u8]>, Some(&taken_at[..]))
            .map_err(backend)?;
        match swapped {
            Ok(()) => {
                self.flush().await?;
                Ok(Sighting::First)
            }
            Err(conflict) => {
                let first_seen = conflict
                    .current
                    .as_deref()
                    .and_then(prefix_time)
                    .unwrap_or(now);
                Ok(Sighting::Replay { first_seen })
            }
        }
    }
}

impl SledStore {
    /// Drops every signature no longer accepted at `now`. Not flushed: one that comes back
    /// after a crash is dropped again next time, and is refused as stale meanwhile anyway.
    fn forget_seen_before(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let expired = self.seen_requests.range(..time_prefix(now));
        for entry in expired.keys() {
            self.seen_requests
                .remove(entry.map_err(backend)?)
                .map_err(backend)?;
        }
        Ok(())
    }
}
