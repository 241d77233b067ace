//! What a platform team watches (`GET /metrics`, Prometheus text): what the bot decided and did,
//! counted by role, cluster and kind, never by person; how long decisions, bindings and
//! revocations took; and what keeps failing. Labels take only values the policy and the
//! configuration bound (roles, clusters) or the code names (kinds, effects): no grant id, user,
//! email, reason or token ever appears in a label or a value.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::audit::{AuditEvent, AuditKind};

mod format;
mod metered;
mod metered_store;
mod process;
mod register;
#[cfg(test)]
mod tests;

pub use format::Format;
pub use metered::{MeteredChat, MeteredCluster};
pub use metered_store::MeteredStore;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: String,
    role: String,
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabels {
    role: String,
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EffectLabels {
    effect: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    /// The git commit it was built from (`build.rs`).
    commit: String,
}

/// Seconds, from 50 ms to about 14 hours: revocation lags of milliseconds and decisions of hours.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.05, 2.5, 15)
}

fn histograms() -> Family<RoleLabels, Histogram> {
    Family::new_with_constructor(|| Histogram::new(seconds_buckets()))
}

/// Every metric of one process, and the registry that encodes them.
pub struct Metrics {
    /// Off (`PROD_ACCESS_METRICS=off`): nothing is recorded and nothing served.
    on: bool,
    registry: Registry,
    audit_events: Family<EventLabels, Counter>,
    decision_seconds: Family<RoleLabels, Histogram>,
    approval_to_binding_seconds: Family<RoleLabels, Histogram>,
    revocation_lag_seconds: Family<RoleLabels, Histogram>,
    effect_failures: Family<EffectLabels, Counter>,
    effect_give_ups: Family<EffectLabels, Counter>,
    grants: Family<StateLabels, Gauge>,
    pending_effects: Gauge,
    revocations_overdue: Gauge,
    chat_failures: Family<ResultLabels, Counter>,
    store_errors: Counter,
    audit_entries: Gauge,
    audit_chain_intact: Gauge,
    webhook_undelivered: Gauge,
    webhook_oldest_undelivered_seconds: Gauge,
    session_events: Family<SessionLabels, Counter>,
    session_batch_events: Histogram,
    kubernetes_calls: Family<CallLabels, Counter>,
    kubernetes_call_seconds: Family<OperationLabels, Histogram>,
    chat_calls: Family<OperationResultLabels, Counter>,
    chat_call_seconds: Family<OperationLabels, Histogram>,
    store_calls: Family<OperationResultLabels, Counter>,
    store_call_seconds: Family<OperationLabels, Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    cluster: String,
    operation: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationResultLabels {
    operation: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

/// Seconds, from 1 ms to about 16 s: API calls, their timeouts included.
fn call_histograms() -> Family<OperationLabels, Histogram> {
    Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15)))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    cluster: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
    role: String,
    cluster: String,
}

/// What the store holds at a scrape.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreReading {
    /// Open grants by (state, role, cluster).
    pub open: std::collections::BTreeMap<(&'static str, String, String), i64>,
    /// Grants with effects still to carry out.
    pub pending_effects: i64,
    /// Ended grants whose access is not yet removed (an `Unbind` still waits).
    pub revocations_overdue: i64,
    /// Entries in the audit log.
    pub audit_entries: i64,
    /// Whether the chain checked so far holds.
    pub audit_chain_intact: bool,
    /// With an audit webhook: entries not yet delivered, and how old the oldest is (seconds).
    pub webhook_backlog: Option<(i64, i64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn kubernetes_call(
        &self,
        cluster: &str,
        operation: &'static str,
        result: &'static str,
        took: std::time::Duration,
    ) {
        if !self.on {
            return;
        }
        let labels = CallLabels {
            cluster: cluster.to_string(),
            operation: operation.to_string(),
            result: result.to_string(),
        };
        self.kubernetes_calls.get_or_create(&labels).inc();
        observe_call(&self.kubernetes_call_seconds, operation, took);
    }

    pub fn chat_call(
        &self,
        operation: &'static str,
        result: &'static str,
        took: std::time::Duration,
    ) {
        if self.on {
            let timed = (&self.chat_call_seconds, took);
            count_call(&self.chat_calls, timed, operation, result);
        }
    }

    /// A batch of the audit webhook from `cluster`: how many events, how many of some grant.
    pub fn session_batch(&self, cluster: &str, events: usize, matched: usize) {
        if !self.on {
            return;
        }
        self.session_batch_events.observe(events as f64);
        for (result, count) in [("matched", matched), ("dropped", events - matched)] {
            let labels = SessionLabels {
                cluster: cluster.to_string(),
                result: result.to_string(),
            };
            self.session_events
                .get_or_create(&labels)
                .inc_by(count as u64);
        }
    }

    /// A chat effect failed: `unavailable` (it waits for the retry) or `refused` (dropped).
    pub fn chat_failed(&self, result: &'static str) {
        if !self.on {
            return;
        }
        self.chat_failures
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    pub fn store_failed(&self) {
        if !self.on {
            return;
        }
        self.store_errors.inc();
    }

    /// Sets the gauges read from the store.
    pub fn read_store(&self, reading: &StoreReading) {
        if !self.on {
            return;
        }
        // Roles and clusters no grant holds any more drop out instead of standing at 0.
        self.grants.clear();
        for ((state, role, cluster), count) in &reading.open {
            let labels = StateLabels {
                state: state.to_string(),
                role: role.clone(),
                cluster: cluster.clone(),
            };
            self.grants.get_or_create(&labels).set(*count);
        }
        self.pending_effects.set(reading.pending_effects);
        self.revocations_overdue.set(reading.revocations_overdue);
        self.audit_entries.set(reading.audit_entries);
        self.audit_chain_intact
            .set(i64::from(reading.audit_chain_intact));
        if let Some((undelivered, oldest)) = reading.webhook_backlog {
            self.webhook_undelivered.set(undelivered);
            self.webhook_oldest_undelivered_seconds.set(oldest);
        }
    }

    /// Metrics that record nothing (the benchmark measures what recording costs against them).
    pub fn off() -> Metrics {
        Metrics {
            on: false,
            ..Metrics::new()
        }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The metrics in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        let written = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
        };
        written.expect("writing to a String cannot fail");
        out
    }

    /// Counts audit entries once their write is committed.
    pub fn written(&self, events: &[AuditEvent]) {
        if !self.on {
            return;
        }
        for event in events {
            self.audit_events
                .get_or_create(&EventLabels {
                    kind: event.kind.as_str().to_string(),
                    role: event.role.clone().unwrap_or_default(),
                    cluster: event.cluster.clone().unwrap_or_default(),
                })
                .inc();
        }
    }

    pub fn decided(&self, role: &str, cluster: &str, after: chrono::Duration) {
        if !self.on {
            return;
        }
        observe(&self.decision_seconds, role, cluster, after);
    }

    pub fn bound(&self, role: &str, cluster: &str, after: chrono::Duration) {
        if !self.on {
            return;
        }
        observe(&self.approval_to_binding_seconds, role, cluster, after);
    }

    pub fn revoked(&self, role: &str, cluster: &str, late_by: chrono::Duration) {
        if !self.on {
            return;
        }
        observe(&self.revocation_lag_seconds, role, cluster, late_by);
    }

    /// Creates at 0 the series the alerts watch with `increase()`: a counter that first
    /// appears at 1 shows no increase, so the first event would never page.
    pub fn start_at_zero<'a>(&self, roles: impl Iterator<Item = &'a str>, clusters: &[&str]) {
        if !self.on {
            return;
        }
        for role in roles {
            for cluster in clusters {
                for kind in [AuditKind::AccessNotEnded, AuditKind::RevocationUnverified] {
                    let labels = EventLabels {
                        kind: kind.as_str().to_string(),
                        role: role.to_string(),
                        cluster: cluster.to_string(),
                    };
                    drop(self.audit_events.get_or_create(&labels));
                }
            }
        }
        let unbind = EffectLabels {
            effect: "unbind".to_string(),
        };
        drop(self.effect_failures.get_or_create(&unbind));
    }

    /// An effect given up for good (see `effect_give_ups`).
    pub fn effect_given_up(&self, effect: &'static str) {
        if !self.on {
            return;
        }
        self.effect_give_ups
            .get_or_create(&EffectLabels {
                effect: effect.to_string(),
            })
            .inc();
    }

    pub fn store_call(
        &self,
        operation: &'static str,
        result: &'static str,
        took: std::time::Duration,
    ) {
        if self.on {
            let timed = (&self.store_call_seconds, took);
            count_call(&self.store_calls, timed, operation, result);
        }
    }

    pub fn effect_failed(&self, effect: &'static str) {
        if !self.on {
            return;
        }
        self.effect_failures
            .get_or_create(&EffectLabels {
                effect: effect.to_string(),
            })
            .inc();
    }
}

/// Counts one call by operation and result, and times it by operation.
fn count_call(
    calls: &Family<OperationResultLabels, Counter>,
    (seconds, took): (&Family<OperationLabels, Histogram>, std::time::Duration),
    operation: &str,
    result: &str,
) {
    let labels = OperationResultLabels {
        operation: operation.to_string(),
        result: result.to_string(),
    };
    calls.get_or_create(&labels).inc();
    observe_call(seconds, operation, took);
}

fn observe_call(
    family: &Family<OperationLabels, Histogram>,
    operation: &str,
    took: std::time::Duration,
) {
    let labels = OperationLabels {
        operation: operation.to_string(),
    };
    family.get_or_create(&labels).observe(took.as_secs_f64());
}

fn observe(
    family: &Family<RoleLabels, Histogram>,
    role: &str,
    cluster: &str,
    duration: chrono::Duration,
) {
    let labels = RoleLabels {
        role: role.to_string(),
        cluster: cluster.to_string(),
    };
    let seconds = duration.num_milliseconds().max(0) as f64 / 1000.0;
    family.get_or_create(&labels).observe(seconds);
}
