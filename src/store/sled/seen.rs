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

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::domain::testing::t0;
    use crate::store::sled::tests::fresh_store;

    #[tokio::test]
    async fn a_signature_is_taken_once_and_forgotten_when_its_time_has_passed() {
        let (_dir, store) = fresh_store();
        let until = t0() + Duration::minutes(5);
        let sight = |signature: &'static [u8], now| store.first_sighting(signature, until, now);

        assert_eq!(sight(b"v0=aa", t0()).await.unwrap(), Sighting::First);
        assert_eq!(sight(b"v0=bb", t0()).await.unwrap(), Sighting::First);
        let later = t0() + Duration::seconds(10);
        assert_eq!(
            sight(b"v0=aa", later).await.unwrap(),
            Sighting::Replay { first_seen: t0() }
        );
        assert_eq!(store.seen_requests.len(), 2);

        // Once nothing signed then is accepted any more, the memory of it goes.
        let past = until + Duration::seconds(1);
        store
            .first_sighting(b"v0=cc", past + Duration::minutes(5), past)
            .await
            .unwrap();
        assert_eq!(store.seen_requests.len(), 1);
    }

    #[tokio::test]
    async fn what_was_seen_is_still_known_after_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let until = t0() + Duration::minutes(5);
        {
            let store = SledStore::open(dir.path()).unwrap();
            let first = store.first_sighting(b"v0=aa", until, t0()).await.unwrap();
            assert_eq!(first, Sighting::First);
        }
        let store = SledStore::open(dir.path()).unwrap();
        let again = store.first_sighting(b"v0=aa", until, t0()).await.unwrap();
        assert!(matches!(again, Sighting::Replay { .. }));
    }
}
