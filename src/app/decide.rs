//! Deciding and persisting: the one path every event takes. The grant's state machine decides
//! under the grant's state lock, the new state is written before anything is done about it,
//! and its effects are then carried out in the background (`effects`).

use std::collections::HashMap;
use std::sync::Arc;

use tracing::warn;

use super::effects::CONFLICT_RETRIES;
use super::{App, AppError, actors};
use crate::domain::departure::Departure;
use crate::domain::grant::{Event, Grant, Rejection, SubjectDrift};
use crate::domain::policy::{ApproverRef, Policy};
use crate::store::StoreError;

pub(super) enum Applied {
    Done(Grant),
    Rejected(Grant, Rejection),
    Unknown,
}

impl App {
    /// Decides and persists `event`; its effects are carried out in the background.
    pub(super) async fn apply_event(
        self: &Arc<Self>,
        grant_id: &str,
        event: &Event,
    ) -> Result<Applied, AppError> {
        // Approver and email lookups call Slack; do them before taking the grant's lock.
        let actor_email = match event {
            // Ending access never waits for Slack.
            Event::Revoke { by } => self.email_without_waiting(by),
            _ => match event.actor() {
                Some(user) => self.email_of(user).await,
                None => None,
            },
        };
        let (policy, drift) = match event {
            Event::Approve { .. }
            | Event::Deny { .. }
            | Event::ApproveExtension { .. }
            | Event::DenyExtension { .. }
            | Event::Review { .. }
            | Event::Revoke { .. } => match self.adapters.store.get(grant_id).await? {
                // Requesters may end their own access: no approver needs looking up.
                Some(grant) if matches!(event, Event::Revoke { by } if *by == grant.requester) => {
                    (self.policy.clone(), None)
                }
                Some(grant) => {
                    let drift = match event {
                        Event::Approve { .. } => self.subject_drift(&grant).await,
                        _ => None,
                    };
                    (self.policy_for(&grant.role).await, drift)
                }
                None => return Ok(Applied::Unknown),
            },
            _ => (self.policy.clone(), None),
        };
        // An approval finding the requester deactivated or no longer one of us binds nobody:
        // their request is withdrawn as if the platform had told us they left.
        let gone = match (event, &drift) {
            (Event::Approve { .. }, Some(SubjectDrift::Refused { rule })) => {
                Departure::of_identity_rule(rule).map(|why| Event::RequesterGone { why })
            }
            _ => None,
        };
        let event = gone.as_ref().unwrap_or(event);
        let next = {
            let lock = self.state_locks.get(grant_id);
            let _held = lock.lock().await;
            let mut attempts = 0;
            loop {
                let Some(grant) = self.adapters.store.get(grant_id).await? else {
                    return Ok(Applied::Unknown);
                };
                let mut next = match grant.apply(event, self.now(), &policy) {
                    Ok(next) => next,
                    Err(rejection) => return Ok(Applied::Rejected(grant, rejection)),
                };
                if let Some(user) = event.actor() {
                    actors::record_email(&mut next.journal, user, actor_email.as_deref());
                }
                if drift.is_some() {
                    next.subject_drift = drift.clone();
                }
                self.templates.word_journal(&mut next.journal);
                match self.adapters.store.replace(grant.version, &next).await {
                    Ok(()) => {
                        self.note_written(&next);
                        break next;
                    }
                    // Another replica changed it first (this lock is only this process's):
                    // decide again on the grant as it is now.
                    Err(StoreError::Conflict { .. }) if attempts < CONFLICT_RETRIES => {
                        attempts += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        self.observe_for_activity(&next);
        self.scheduler_wake.notify_one();
        self.spawn_drive(grant_id.to_string());
        Ok(Applied::Done(next))
    }

    /// The policy with `role`'s user-group and email approvers looked up now, so every decision
    /// sees group membership as it is. A lookup that fails stands for nobody (fail closed).
    pub(crate) async fn policy_for(&self, role: &str) -> Policy {
        let refs = self.policy.unresolved_approvers(role);
        if refs.is_empty() {
            return self.policy.clone();
        }
        let chat = &self.adapters.chat;
        let mut resolved = HashMap::new();
        for reference in refs {
            let users = match ApproverRef::parse(reference) {
                ApproverRef::Group(group) => chat.usergroup_members(group).await,
                ApproverRef::Email(email) => chat
                    .user_by_email(email)
                    .await
                    .map(|u| u.into_iter().collect()),
                ApproverRef::User(_) | ApproverRef::Invalid(_) => continue,
            };
            match users {
                Ok(users) => {
                    resolved.insert(reference.to_string(), users);
                }
                Err(e) => warn!(
                    approver = reference,
                    error = %e,
                    "cannot look up approvers; they cannot approve now"
                ),
            }
        }
        self.policy.resolved(&resolved)
    }
}
