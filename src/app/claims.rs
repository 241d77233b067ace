//! One replica at a time carries out a grant's outbox. Within a process the outbox lock (see
//! `locks`) keeps runs apart; across replicas sharing a store, a run first claims the grant's
//! outbox in the store: a short lease, renewed in the background while the run goes on (also
//! through a slow chat or Kubernetes call) and given up when it ends. A replica that changes a
//! grant while another holds the claim waits for it: the holder looks at the grant once more after
//! giving the claim up, and the waiting run claims it next (finding nothing left, or what the
//! holder could not do). A replica that dies stops renewing: its claims lapse within
//! `OUTBOX_LEASE`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::warn;

use super::App;
use crate::store::GrantStore;

/// How long a claim stands without being renewed.
pub(super) const OUTBOX_LEASE: Duration = Duration::from_secs(6);

/// How often a run renews its claim.
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// How many leases a run waits out for a claim held elsewhere before it leaves the grant to the
/// retry pass. The holder looks at the grant again when it lets go, but a holder whose run ended
/// while the store was away could not let go: its claim must lapse first.
const WAITS_FOR_A_CLAIM: usize = 10;

/// This replica's claim on one grant's outbox, renewed in the background while it lives.
pub(super) struct Claim {
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Claim {
    fn renewed(store: Arc<dyn GrantStore>, grant_id: &str) -> Claim {
        let lost = Arc::new(AtomicBool::new(false));
        let (flag, id) = (Arc::clone(&lost), grant_id.to_string());
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match store.claim_outbox(&id, OUTBOX_LEASE).await {
                    Ok(true) => {}
                    Ok(false) => return flag.store(true, Ordering::SeqCst),
                    Err(e) => warn!(grant = %id, error = %e, "cannot renew the claim on an outbox"),
                }
            }
        });
        Claim { lost, renewer }
    }

    /// Whether another replica took the claim over (this one was too slow to renew it).
    pub(super) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl App {
    /// Carries out `grant_id`'s outbox while this replica holds its claim; the caller holds the
    /// grant's outbox lock.
    pub(super) async fn drive(self: &Arc<Self>, grant_id: &str) {
        let mut waits = 0;
        loop {
            if !self.claim(grant_id).await {
                if waits == WAITS_FOR_A_CLAIM {
                    return;
                }
                waits += 1;
                tokio::time::sleep(OUTBOX_LEASE).await;
                continue;
            }
            let claim = Claim::renewed(Arc::clone(&self.adapters.store), grant_id);
            let ended_at = self.run_outbox(grant_id, &claim).await;
            drop(claim);
            if let Err(e) = self.adapters.store.release_outbox(grant_id).await {
                warn!(grant = grant_id, error = %e, "cannot give up the claim on an outbox; it lapses");
            }
            // Changed while the claim was held, by a replica that could not claim it: its
            // effects are left to this run.
            let changed = match (ended_at, self.load(grant_id).await) {
                (Some(version), Some(grant)) => {
                    grant.version != version && !grant.outbox.is_empty()
                }
                _ => false,
            };
            if !changed {
                return;
            }
        }
    }

    /// Claims `grant_id`'s outbox; `false` while another replica holds it, or when the store
    /// cannot say (the retry pass comes back to it).
    async fn claim(&self, grant_id: &str) -> bool {
        match self
            .adapters
            .store
            .claim_outbox(grant_id, OUTBOX_LEASE)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                warn!(grant = grant_id, error = %e, "cannot claim the outbox; left to the retry pass");
                false
            }
        }
    }
}
