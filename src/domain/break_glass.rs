//! Break-glass: a role that may be approved by its own requester during an incident, for a
//! short time, with a loud audit post and a post-incident review that is chased daily until an
//! approver has done it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::grant::{Decision, MessageRef};
use super::incident::{IncidentChannels, IncidentContext, NotAnIncident};
use super::policy::RequestRefusal;

/// `roles.<name>.break_glass`: the role may only be requested in an incident channel, and its
/// requester may approve it themself for up to `max_duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRule {
    /// The longest self-approved grant (and its extensions); longer requests need an approver.
    #[serde(
        default = "default_max_duration",
        with = "super::duration_serde::required"
    )]
    #[schemars(with = "String", example = "30m")]
    pub max_duration: Duration,
    /// Who may approve their own request (user IDs, user group IDs or emails, as approvers
    /// are named); empty: nobody (`policy check` refuses it).
    #[serde(default)]
    pub requesters: Vec<String>,
}

impl Default for BreakGlassRule {
    fn default() -> Self {
        BreakGlassRule {
            max_duration: default_max_duration(),
            requesters: Vec::new(),
        }
    }
}

fn default_max_duration() -> Duration {
    Duration::from_secs(3600)
}

/// Whether a request for break-glass `role` may be made where it was typed (`place`, the
/// incident context of its channel or why it has none); the refusal says which rule applied.
pub fn admit(
    role: &str,
    place: &Result<IncidentContext, NotAnIncident>,
    incidents: &IncidentChannels,
) -> Result<(), RequestRefusal> {
    let role = role.to_string();
    match place {
        Ok(context) if context.shows_incident() => Ok(()),
        Ok(_) => Err(RequestRefusal::BreakGlassWithoutIncident {
            role,
            pattern: incidents.reference_pattern.clone(),
        }),
        Err(NotAnIncident::TooNew { min_age }) => Err(RequestRefusal::BreakGlassChannelTooNew {
            role,
            min_age: *min_age,
        }),
        Err(NotAnIncident::Ordinary) => Err(RequestRefusal::BreakGlassOutsideIncident { role }),
    }
}

/// How often an unreviewed use is brought up again.
pub const REVIEW_REMINDER_EVERY: chrono::Duration = chrono::Duration::hours(24);

/// A grant its requester approved themself, and its post-incident review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassUse {
    pub at: DateTime<Utc>,
    /// Who reviewed the use after the incident, and when.
    #[serde(default)]
    pub review: Option<Decision>,
    /// The review request, once posted (when the access ended).
    #[serde(default)]
    pub review_message: Option<MessageRef>,
    /// When the review is next asked for again; `None` until the access ends and once reviewed.
    #[serde(default)]
    pub remind_at: Option<DateTime<Utc>>,
}

impl BreakGlassUse {
    pub fn needs_review(&self) -> bool {
        self.review.is_none()
    }
}
