//! Every metric's name and help text, registered once: the bot's own under `prod_access_`, the
//! process's (`process_*`) under the names every exporter uses.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::*;

impl Metrics {
    pub fn new() -> Metrics {
        let mut root = Registry::default();
        root.register_collector(Box::new(super::process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("prod_access");
        let audit_events = Family::<EventLabels, Counter>::default();
        registry.register(
            "audit_events",
            "Audit log entries this replica wrote, by kind (requested, approval, denied, granted, expired, revoked, break_glass, ...), role and cluster",
            audit_events.clone(),
        );
        let decision_seconds = histograms();
        registry.register(
            "decision_seconds",
            "From a request to the decision that approved or denied it",
            decision_seconds.clone(),
        );
        let approval_to_binding_seconds = histograms();
        registry.register(
            "approval_to_binding_seconds",
            "From the approval that completed a request to its binding existing",
            approval_to_binding_seconds.clone(),
        );
        let revocation_lag_seconds = histograms();
        registry.register(
            "revocation_lag_seconds",
            "From a grant's scheduled expiry to its bindings being deleted",
            revocation_lag_seconds.clone(),
        );
        let effect_failures = Family::<EffectLabels, Counter>::default();
        registry.register(
            "effect_failures",
            "Kubernetes effects that failed and will be retried, by effect (bind, unbind, update_binding_expiry)",
            effect_failures.clone(),
        );
        let effect_give_ups = Family::<EffectLabels, Counter>::default();
        registry.register(
            "effect_give_ups",
            "Effects given up for good, by effect: a binding whose attempts ran out (the grant failed) or a chat post the platform refused (dropped)",
            effect_give_ups.clone(),
        );
        let grants = Family::<StateLabels, Gauge>::default();
        registry.register(
            "grants",
            "Open grants by state (requested, approved, active), role and cluster, read from the store at the scrape",
            grants.clone(),
        );
        let pending_effects = Gauge::default();
        registry.register(
            "pending_effects",
            "Grants with effects still to carry out",
            pending_effects.clone(),
        );
        let revocations_overdue = Gauge::default();
        registry.register(
            "revocations_overdue",
            "Ended grants whose bindings are not yet deleted (removal failing or under way)",
            revocations_overdue.clone(),
        );
        let chat_failures = Family::<ResultLabels, Counter>::default();
        registry.register(
            "chat_failures",
            "Chat posts and updates that failed: unavailable (retried later) or refused (dropped)",
            chat_failures.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Store reads and writes that failed (not compare-and-swap conflicts)",
            store_errors.clone(),
        );
        let audit_entries = Gauge::default();
        registry.register(
            "audit_entries",
            "Entries in the audit log",
            audit_entries.clone(),
        );
        let audit_chain_intact = Gauge::default();
        registry.register(
            "audit_chain_intact",
            "1 while the audit log's hash chain, checked as it grows and in full by the digest, holds; 0 once it was found broken",
            audit_chain_intact.clone(),
        );
        let webhook_undelivered = Gauge::default();
        registry.register(
            "audit_webhook_undelivered",
            "Audit entries the SIEM webhook has not yet taken (only with audit.webhook)",
            webhook_undelivered.clone(),
        );
        let webhook_oldest_undelivered_seconds = Gauge::default();
        registry.register(
            "audit_webhook_oldest_undelivered_seconds",
            "How long the oldest entry the SIEM webhook has not yet taken has waited (0 when none)",
            webhook_oldest_undelivered_seconds.clone(),
        );
        let session_events = Family::<SessionLabels, Counter>::default();
        registry.register(
            "session_events",
            "Events of the apiservers' audit webhook, by cluster: matched to a grant (kept as its session activity) or dropped (nobody's grant)",
            session_events.clone(),
        );
        let session_batch_events = Histogram::new(exponential_buckets(1.0, 4.0, 8));
        registry.register(
            "session_batch_events",
            "Events in each batch the apiservers' audit webhook posted",
            session_batch_events.clone(),
        );
        let kubernetes_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "kubernetes_calls",
            "Calls to the Kubernetes API by cluster, operation and result (ok, unavailable, refused)",
            kubernetes_calls.clone(),
        );
        let kubernetes_call_seconds = call_histograms();
        registry.register(
            "kubernetes_call_seconds",
            "How long Kubernetes API calls took, by operation",
            kubernetes_call_seconds.clone(),
        );
        let chat_calls = Family::<OperationResultLabels, Counter>::default();
        registry.register(
            "chat_calls",
            "Calls to the chat platform by operation and result (ok, unavailable, refused, encoding)",
            chat_calls.clone(),
        );
        let chat_call_seconds = call_histograms();
        registry.register(
            "chat_call_seconds",
            "How long chat platform calls took, by operation",
            chat_call_seconds.clone(),
        );
        let store_calls = Family::<OperationResultLabels, Counter>::default();
        registry.register(
            "store_calls",
            "Calls to the store by operation and result (ok, conflict, error)",
            store_calls.clone(),
        );
        let store_call_seconds = call_histograms();
        registry.register(
            "store_call_seconds",
            "How long store calls took, by operation (a write includes waiting for the disk)",
            store_call_seconds.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                commit: env!("PROD_ACCESS_GIT_COMMIT").to_string(),
            })
            .set(1);
        registry.register("build_info", "The running build; always 1", build);
        Metrics {
            on: true,
            registry: root,
            audit_events,
            decision_seconds,
            approval_to_binding_seconds,
            revocation_lag_seconds,
            effect_failures,
            effect_give_ups,
            grants,
            pending_effects,
            revocations_overdue,
            chat_failures,
            store_errors,
            audit_entries,
            audit_chain_intact,
            webhook_undelivered,
            webhook_oldest_undelivered_seconds,
            session_events,
            session_batch_events,
            kubernetes_calls,
            kubernetes_call_seconds,
            chat_calls,
            chat_call_seconds,
            store_calls,
            store_call_seconds,
        }
    }
}
