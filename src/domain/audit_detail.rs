//! What an audit entry's `detail` tells, as particulars: the application words them from
//! `templates/records/` before the entry is stored, so the domain holds no sentences.

use serde::{Deserialize, Serialize};

use super::departure::Departure;
use super::failure::Failure;
use super::on_call::OnCallCheck;
use super::retry::Alert;

/// The particulars of one entry's `detail`, one variant per kind of record template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "says", rename_all = "snake_case")]
pub enum Particulars {
    /// An extension's length.
    Extension { by_secs: u64 },
    /// Why access could not be created, or a kubeconfig made.
    Failure { failure: Failure },
    /// Why the requester no longer holds access.
    Departure { why: Departure },
    /// The requester approved their own request under the break-glass rule.
    BreakGlass,
    /// What the on-call lookup found; an entry without an answer says nothing.
    OnCall { check: Option<OnCallCheck> },
    /// The bindings were gone before the bot, late to the expiry, came to remove them.
    FoundRemoved { late_by_secs: u64 },
    /// What the cluster said, once the bindings were gone, of what the subject can still do.
    Revocation {
        verification: super::revocation::Verification,
    },
    /// A Kubernetes effect that keeps failing, or recovered after it did.
    Alert {
        effect: String,
        failures: u32,
        /// RFC 3339 with a `+00:00` offset, the form the log has always stored.
        since: String,
        error: String,
    },
}

impl Particulars {
    pub fn of_alert(alert: &Alert) -> Self {
        Particulars::Alert {
            effect: alert.effect.clone(),
            failures: alert.failures,
            since: alert.since.to_rfc3339(),
            error: alert.error.clone(),
        }
    }
}
