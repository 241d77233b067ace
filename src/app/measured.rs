//! What the metrics learn from the grants this replica writes (see `crate::metrics`).

use std::sync::Arc;

use super::App;
use crate::domain::audit::AuditKind;
use crate::domain::audit::ChainVerifier;
use crate::domain::grant::{Effect, Grant, GrantState};
use crate::metrics::{Metrics, StoreReading};

/// Entries read at a time when the chain is checked at a scrape.
const CHAIN_PAGE: usize = 1000;
/// Pages of the chain one scrape checks at most: a long log is checked over several scrapes
/// (10,000 entries take about 0.5 s), so no scrape runs into Prometheus's timeout.
const CHAIN_PAGES_PER_SCRAPE: usize = 10;

/// The audit chain as checked so far.
#[derive(Default)]
pub(super) struct ChainWatch {
    verifier: ChainVerifier,
    broken: bool,
}

impl App {
    /// The record of signed requests already taken, its calls counted and timed when metrics
    /// are on.
    pub fn metered_seen(
        &self,
        seen: Arc<dyn crate::store::SeenRequests>,
    ) -> Arc<dyn crate::store::SeenRequests> {
        if !self.metrics.is_on() {
            return seen;
        }
        let metrics = Arc::clone(&self.metrics);
        Arc::new(crate::metrics::MeteredStore::new(seen, metrics))
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts the audit entries of a committed write, and times the steps they complete.
    pub(super) fn note_written(&self, grant: &Grant) {
        self.metrics.written(&grant.journal);
        let now = self.now();
        let (role, cluster) = (grant.role.as_str(), grant.cluster.as_str());
        for event in &grant.journal {
            tracing::info!(
                grant = %grant.id,
                role,
                cluster,
                event = event.kind.as_str(),
                "audit entry written"
            );
            match event.kind {
                AuditKind::Denied => self
                    .metrics
                    .decided(role, cluster, now - grant.requested_at),
                AuditKind::Approval | AuditKind::BreakGlass | AuditKind::ApprovedByPolicy
                    if grant.state == GrantState::Approved =>
                {
                    self.metrics
                        .decided(role, cluster, now - grant.requested_at)
                }
                AuditKind::Granted => {
                    let approved = grant.approvals.iter().map(|a| a.at).max();
                    let since = approved.unwrap_or(grant.requested_at);
                    self.metrics.bound(role, cluster, now - since);
                }
                _ => {}
            }
        }
    }

    /// Times the removal of an expired grant's access from its scheduled expiry.
    pub(super) fn note_revoked(&self, grant: &Grant) {
        if let (GrantState::Expired, Some(expires_at)) = (grant.state, grant.expires_at) {
            let late_by = self.now() - expires_at;
            self.metrics.revoked(&grant.role, &grant.cluster, late_by);
        }
    }
}

impl App {
    /// The metrics as a scrape sees them: the gauges read from the store first. A store that
    /// cannot answer leaves them as they were read last.
    pub async fn scrape(&self, format: crate::metrics::Format) -> String {
        match self.store_reading().await {
            Ok(reading) => self.metrics.read_store(&reading),
            Err(e) => {
                self.metrics.store_failed();
                tracing::warn!(error = %e, "metrics: cannot read the store; gauges are stale");
            }
        }
        self.metrics.encode(format)
    }

    /// Checks the entries appended since the last scrape (up to `CHAIN_PAGES_PER_SCRAPE` pages
    /// of them); once broken, the chain stays reported broken (the digest walks it all again
    /// every day).
    async fn chain_holds(&self) -> Result<bool, crate::store::StoreError> {
        let mut watch = self.chain_watch.lock().await;
        for _ in 0..CHAIN_PAGES_PER_SCRAPE {
            if watch.broken {
                break;
            }
            let page = self
                .adapters
                .audit
                .entries_after(watch.verifier.last_seq(), CHAIN_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            let ChainWatch { verifier, broken } = &mut *watch;
            *broken = page.iter().any(|entry| verifier.push(entry).is_err());
        }
        Ok(!watch.broken)
    }

    /// The digest's full walk found the chain broken.
    pub(super) async fn chain_found_broken(&self) {
        self.chain_watch.lock().await.broken = true;
    }

    /// Undelivered entries and the age of the oldest, with an audit webhook.
    async fn webhook_backlog(&self) -> Result<Option<(i64, i64)>, crate::store::StoreError> {
        if !self.settings.audit_webhook {
            return Ok(None);
        }
        let audit = &self.adapters.audit;
        let delivered = audit.cursor(crate::audit::siem::CURSOR).await?;
        let undelivered = audit.durable_seq().saturating_sub(delivered);
        let oldest = match audit.entries_after(delivered, 1).await?.first() {
            Some(entry) if undelivered > 0 => entry
                .json
                .get("at")
                .and_then(|at| at.as_str())
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .map_or(0, |at| (self.now() - at.to_utc()).num_seconds().max(0)),
            _ => 0,
        };
        Ok(Some((
            i64::try_from(undelivered).unwrap_or(i64::MAX),
            oldest,
        )))
    }

    async fn store_reading(&self) -> Result<StoreReading, crate::store::StoreError> {
        let mut open = std::collections::BTreeMap::new();
        for grant in self.adapters.store.open_grants().await? {
            *open
                .entry((grant.state.as_str(), grant.role, grant.cluster))
                .or_insert(0) += 1;
        }
        let pending = self.adapters.store.with_pending_effects().await?;
        let overdue = pending
            .iter()
            .filter(|g| g.state.is_final() && g.outbox.contains(&Effect::Unbind))
            .count();
        Ok(StoreReading {
            open,
            pending_effects: pending.len() as i64,
            revocations_overdue: overdue as i64,
            audit_entries: i64::try_from(self.adapters.audit.durable_seq()).unwrap_or(i64::MAX),
            audit_chain_intact: self.chain_holds().await?,
            webhook_backlog: self.webhook_backlog().await?,
        })
    }
}
