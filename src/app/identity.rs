//! Who a requester is in Kubernetes: resolved once, from their profile as the chat platform
//! gives it when they ask, stored on the grant and shown to the approvers, then bound exactly.
//! Looked up again at each approval only to warn approvers when it no longer matches.

use std::time::Duration;

use tracing::{info, warn};

use super::App;
use crate::domain::grant::{Grant, GrantState, SubjectDrift};
use crate::domain::identity::{Identity, IdentityRefusal, Profile};

/// How long a request waits for the requester's profile: Slack wants the command answered
/// within 3 seconds, and without the profile nothing can be requested.
pub(super) const REQUEST_PROFILE_WAIT: Duration = Duration::from_millis(2000);

/// How long an approval click waits for the requester's profile; without it, no warning.
const APPROVAL_PROFILE_WAIT: Duration = Duration::from_secs(3);

impl App {
    /// The requester's profile now, also remembered for the audit log's emails.
    async fn profile_within(&self, user: &str, wait: Duration) -> Option<Profile> {
        match tokio::time::timeout(wait, self.adapters.chat.user_profile(user)).await {
            Ok(Ok(profile)) => {
                self.remember_email(user, profile.email.clone());
                Some(profile)
            }
            Ok(Err(e)) => {
                warn!(user, error = %e, "cannot look up who a user is");
                None
            }
            Err(_) => {
                warn!(user, "no profile from the chat platform in time");
                None
            }
        }
    }

    /// The Kubernetes identity `user` may have for a request of `role`, or which rule refuses it.
    pub(super) async fn identity_for_request(
        &self,
        user: &str,
        role: &str,
    ) -> Result<Identity, IdentityRefusal> {
        let profile = self
            .profile_within(user, REQUEST_PROFILE_WAIT)
            .await
            .ok_or(IdentityRefusal::ProfileUnavailable)?;
        let guests_allowed = self.policy.roles.get(role).is_some_and(|r| r.allow_guests);
        let resolved = self
            .identity_rules()
            .resolve(user, &profile, guests_allowed);
        if let Err(refusal) = &resolved {
            info!(
                user,
                role,
                rule = refusal.kind(),
                "request refused by the identity rules"
            );
        }
        resolved
    }

    /// For a request still waiting for approvals: whether the requester's profile now gives
    /// another subject than the stored one, which approvers are then warned of. `None` when it
    /// matches, or when the profile cannot be had now.
    pub(super) async fn subject_drift(&self, grant: &Grant) -> Option<SubjectDrift> {
        if grant.state != GrantState::Requested {
            return None;
        }
        let stored = grant.subject.as_deref()?;
        let profile = self
            .profile_within(&grant.requester, APPROVAL_PROFILE_WAIT)
            .await?;
        let guests_allowed = self
            .policy
            .roles
            .get(&grant.role)
            .is_some_and(|r| r.allow_guests);
        let now = self
            .identity_rules()
            .resolve(&grant.requester, &profile, guests_allowed);
        let drift = match now {
            Ok(identity) if identity.user == stored && identity.groups == grant.groups => {
                return None;
            }
            Ok(identity) => SubjectDrift::Changed {
                subject: identity.user,
            },
            Err(refusal) => SubjectDrift::Refused {
                rule: refusal.kind().to_string(),
            },
        };
        warn!(grant = %grant.id, ?drift, "the requester's profile no longer gives the subject approvers were shown");
        Some(drift)
    }
}
