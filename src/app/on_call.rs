//! On-call auto-approval: before a request of an on-call role is posted, the requester is
//! looked up in the role's PagerDuty or Opsgenie schedules. Any failure leaves the request to
//! the approvers.

use tracing::{info, warn};

use super::{App, EffectError};
use crate::domain::grant::{Event, Grant};
use crate::domain::on_call::{OnCallCheck, OnCallFailure};

/// The longest the whole lookup (the requester's email, then every page and schedule) may take
/// before the request is left to the approvers; each HTTP call has its own, shorter timeout.
const LOOKUP_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

impl App {
    /// Carries out `Effect::CheckOnCall`; always answers, so the request goes on either way.
    pub(super) async fn check_on_call(&self, grant: &Grant) -> Result<Option<Event>, EffectError> {
        let check = match tokio::time::timeout(LOOKUP_BUDGET, self.on_call_check(grant)).await {
            Ok(check) => check,
            Err(_) => OnCallCheck::Unavailable {
                why: OnCallFailure::TooSlow {
                    budget_secs: LOOKUP_BUDGET.as_secs(),
                },
            },
        };
        match &check {
            OnCallCheck::OnCall { via } => {
                info!(grant = %grant.id, requester = %grant.requester, via = %via.key(), "the requester is on call: approved by policy")
            }
            OnCallCheck::NotOnCall => {
                info!(grant = %grant.id, "the requester is not on call; the request waits for approvers")
            }
            OnCallCheck::Unavailable { why } => {
                warn!(grant = %grant.id, ?why, "on-call lookup failed; the request waits for approvers")
            }
        }
        Ok(Some(Event::OnCallChecked { check }))
    }

    async fn on_call_check(&self, grant: &Grant) -> OnCallCheck {
        let Some(rule) = self
            .policy
            .roles
            .get(&grant.role)
            .and_then(|r| r.on_call.as_ref())
        else {
            return OnCallCheck::NotOnCall;
        };
        let unavailable = |why: OnCallFailure| OnCallCheck::Unavailable { why };
        let profile = match self.adapters.chat.user_profile(&grant.requester).await {
            Ok(profile) => profile,
            Err(e) => {
                return unavailable(OnCallFailure::NoProfile {
                    error: e.to_string(),
                });
            }
        };
        // Approval without a person rests on the address alone: only a confirmed one the
        // identity rules accept may be matched with an on-call schedule (a requester in the
        // identities table could otherwise put the on-call engineer's address on their profile).
        let email = match self.identity_rules().checked_email(&profile) {
            Ok(email) if profile.email_confirmed => email.to_string(),
            Ok(_) => return unavailable(OnCallFailure::EmailNotConfirmed),
            Err(refusal) => {
                return unavailable(OnCallFailure::EmailUntrusted {
                    rule: refusal.kind().to_string(),
                });
            }
        };
        match self.adapters.on_call.on_call_via(rule, &email).await {
            Ok(Some(via)) => OnCallCheck::OnCall { via },
            Ok(None) => OnCallCheck::NotOnCall,
            Err(e) => unavailable(e.into()),
        }
    }
}
