//! Why a request is refused, with what would have been allowed.

use std::time::Duration;

/// Why a request is refused; each carries what would have been allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestRefusal {
    UnknownRole {
        role: String,
        allowed: Vec<String>,
    },
    NamespaceNotAllowed {
        role: String,
        namespace: String,
        allowed: Vec<String>,
    },
    /// A namespace no role may grant (`never_namespaces`, `kube-system` always among them).
    NamespaceNeverGranted {
        role: String,
        namespace: String,
    },
    TooLong {
        role: String,
        requested: Duration,
        max: Duration,
    },
    ReasonRequired {
        role: String,
    },
    ReasonTooLong {
        max_chars: usize,
    },
    /// The role applies to several clusters (or not to the one named): name one with `@`.
    ClusterNotChosen {
        role: String,
        asked: Option<String>,
        allowed: Vec<String>,
    },
    TicketRequired {
        role: String,
        pattern: String,
    },
    /// The requester has made `requests.rate_limit` requests within its window.
    RateLimited {
        max: u32,
        per: Duration,
        next_at: chrono::DateTime<chrono::Utc>,
    },
    /// A break-glass role asked for outside the policy's incident channels.
    BreakGlassOutsideIncident {
        role: String,
    },
    /// A break-glass role asked for in a channel named like an incident's, but made less than
    /// `min_age` ago.
    BreakGlassChannelTooNew {
        role: String,
        min_age: Duration,
    },
    /// A break-glass role asked for in a channel matched only by its name, with no reference
    /// matching the policy's `incidents.reference_pattern` in the reason or the channel's topic.
    BreakGlassWithoutIncident {
        role: String,
        pattern: Option<String>,
    },
    /// The requester cannot be given a Kubernetes identity (a guest, a bot, an address on
    /// another domain, …).
    Identity(super::identity::IdentityRefusal),
}

impl RequestRefusal {
    /// A stable key the templates use to explain the refusal.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestRefusal::UnknownRole { .. } => "unknown_role",
            RequestRefusal::NamespaceNotAllowed { .. } => "namespace_not_allowed",
            RequestRefusal::NamespaceNeverGranted { .. } => "namespace_never_granted",
            RequestRefusal::TooLong { .. } => "too_long",
            RequestRefusal::ReasonRequired { .. } => "reason_required",
            RequestRefusal::ReasonTooLong { .. } => "reason_too_long",
            RequestRefusal::ClusterNotChosen { .. } => "cluster_not_chosen",
            RequestRefusal::TicketRequired { .. } => "ticket_required",
            RequestRefusal::RateLimited { .. } => "rate_limited",
            RequestRefusal::BreakGlassOutsideIncident { .. } => "break_glass_outside_incident",
            RequestRefusal::BreakGlassChannelTooNew { .. } => "break_glass_channel_too_new",
            RequestRefusal::BreakGlassWithoutIncident { .. } => "break_glass_without_incident",
            RequestRefusal::Identity(refusal) => refusal.kind(),
        }
    }
}
