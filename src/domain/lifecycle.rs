//! The grant state machine: `(Grant, Event, now, policy) -> Grant with new effects | Rejection`.
//! Every decision re-reads the policy as it is now, so removing an approver takes effect at once.

use chrono::{DateTime, Utc};

use super::audit::{AuditEvent, AuditKind};
use super::grant::{
    Decision, Effect, Event, Extension, ExtensionState, Grant, GrantState, Note, Rejection, Step,
    secs,
};
use super::incident::IncidentContext;
use super::policy::{GrantTerms, Policy};

pub struct NewRequest<'a> {
    pub id: String,
    pub requester: &'a str,
    pub requested_in: &'a str,
    /// Who the requester is in Kubernetes, resolved now and bound exactly as approved.
    pub identity: super::identity::Identity,
    /// Set when the request was typed in an incident channel: it is decided there.
    pub incident: Option<IncidentContext>,
    pub reason: &'a str,
    pub terms: GrantTerms,
}

/// The effects every lifecycle step has: the audit post and the reply in the approval thread.
fn told(step: Step) -> [Effect; 2] {
    [Effect::Audit { step }, Effect::ThreadReply { step }]
}

fn reminder_time(
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Option<DateTime<Utc>> {
    let lead = chrono::Duration::from_std(policy.requests.reminder_before).ok()?;
    Some(expires_at - lead).filter(|at| *at > now)
}

impl Grant {
    /// A request the policy accepted; the approval message and audit post are its first effects.
    pub fn request(new: NewRequest<'_>, now: DateTime<Utc>, policy: &Policy) -> Grant {
        let review_timeout = chrono::Duration::from_std(policy.requests.review_timeout)
            .unwrap_or(chrono::Duration::MAX);
        let mut grant = Grant {
            id: new.id,
            version: 1,
            state: GrantState::Requested,
            requester: new.requester.to_string(),
            requested_in: new.requested_in.to_string(),
            incident: new.incident,
            role: new.terms.role,
            cluster_role: new.terms.cluster_role,
            scope: new.terms.scope,
            kubeconfig: new.terms.kubeconfig,
            cluster: new.terms.cluster,
            duration_secs: new.terms.duration.as_secs(),
            reason: new.reason.to_string(),
            required_approvals: new.terms.required_approvals,
            requested_at: now,
            review_deadline: now.checked_add_signed(review_timeout).unwrap_or(now),
            approvals: Vec::new(),
            lapsed_approvals: Vec::new(),
            denial: None,
            ended_by: None,
            ended_because: None,
            subject: Some(new.identity.user),
            groups: new.identity.groups,
            subject_drift: None,
            expires_at: None,
            remind_at: None,
            ended_at: None,
            failure: None,
            kubeconfig_failure: None,
            approval_message: None,
            extension: None,
            break_glass_cap_secs: new.terms.break_glass.map(|d| d.as_secs()),
            break_glass: None,
            on_call: None,
            retry: None,
            outbox: Vec::new(),
            journal: Vec::new(),
        };
        // The on-call answer comes first, so the approval message shows the request decided.
        if new.terms.on_call {
            grant.outbox.push(Effect::CheckOnCall);
        }
        grant.outbox.extend([
            Effect::PostApprovalMessage,
            Effect::Audit {
                step: Step::Requested,
            },
        ]);
        let requested = AuditEvent::about(&grant, AuditKind::Requested, Some(new.requester), now);
        grant.journal.push(requested);
        grant
    }

    /// Applies `event`; the returned grant carries the new effects at the end of its outbox.
    pub fn apply(
        &self,
        event: &Event,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Grant, Rejection> {
        let mut next = self.clone();
        next.version += 1;
        let past_expiry =
            self.state == GrantState::Active && self.expires_at.is_some_and(|at| now >= at);
        let extending = matches!(
            event,
            Event::RequestExtension { .. }
                | Event::ApproveExtension { .. }
                | Event::DenyExtension { .. }
        );
        if past_expiry && extending {
            // The access has run out and only waits for its Tick; it cannot be extended.
            return Err(Rejection::WrongState {
                state: GrantState::Expired,
            });
        }
        let effects = match (self.state, event) {
            (_, Event::ApprovalMessagePosted { message }) => {
                next.approval_message = Some(message.clone());
                // A decision taken before the message existed must still show on it.
                if self.state == GrantState::Requested && self.approvals.is_empty() {
                    vec![]
                } else {
                    vec![Effect::UpdateApprovalMessage]
                }
            }
            (_, Event::ExtensionMessagePosted { message }) => {
                let extension = next
                    .extension
                    .as_mut()
                    .ok_or(Rejection::NoExtensionPending)?;
                extension.message = Some(message.clone());
                if extension.state == ExtensionState::Pending && self.state == GrantState::Active {
                    vec![]
                } else {
                    vec![Effect::UpdateExtensionMessage]
                }
            }
            (GrantState::Requested, Event::Approve { approver }) if approver == &self.requester => {
                next.self_approve(now, policy)?
            }
            (GrantState::Requested, Event::OnCallChecked { check }) => {
                next.on_call_checked(check, policy)?
            }
            (_, Event::ReviewMessagePosted { message }) => {
                let use_ = next
                    .break_glass
                    .as_mut()
                    .ok_or(Rejection::NothingToReview)?;
                use_.review_message = Some(message.clone());
                if use_.needs_review() {
                    vec![]
                } else {
                    vec![Effect::UpdateReviewMessage]
                }
            }
            (state, Event::Review { by }) if state.is_final() => next.review(by, now, policy)?,
            (state, Event::Tick) if state.is_final() => next.tick_review(now)?,
            (GrantState::Requested, Event::Approve { approver }) => {
                self.check_approver(approver, &self.approvals, policy)?;
                let lapsed = lapse(&mut next.approvals, &self.role, policy);
                next.lapsed_approvals.extend(lapsed);
                next.approvals.push(decision(approver, now));
                if next.approvals.len() as u64 >= u64::from(self.required_approvals) {
                    // The expiry is fixed when the binding is created (`Bound`), so time spent
                    // binding is not taken from the requester.
                    next.state = GrantState::Approved;
                    vec![Effect::Bind]
                } else {
                    let mut effects = vec![Effect::UpdateApprovalMessage];
                    effects.extend(told(Step::ApprovalRecorded));
                    effects
                }
            }
            (GrantState::Requested, Event::Deny { approver }) => {
                self.check_approver(approver, &self.approvals, policy)?;
                next.state = GrantState::Denied;
                next.denial = Some(decision(approver, now));
                next.ended_at = Some(now);
                next.ending(Step::Denied, Some(Note::Denied))
            }
            (GrantState::Requested, Event::Cancel { by }) => {
                if by != &self.requester {
                    return Err(Rejection::NotTheRequester);
                }
                next.state = GrantState::Cancelled;
                next.ended_by = Some(decision(by, now));
                next.ended_at = Some(now);
                next.ending(Step::Cancelled, None)
            }
            (GrantState::Requested, Event::Tick) => {
                if now < self.review_deadline {
                    return Err(Rejection::NotDue);
                }
                next.state = GrantState::TimedOut;
                next.ended_at = Some(now);
                next.ending(Step::TimedOut, Some(Note::TimedOut))
            }
            (
                GrantState::Approved,
                Event::Bound {
                    subject,
                    groups,
                    expires_at,
                },
            ) => {
                next.state = GrantState::Active;
                next.subject = Some(subject.clone());
                next.groups = groups.clone();
                next.expires_at = Some(*expires_at);
                next.remind_at = reminder_time(*expires_at, now, policy);
                let mut effects = vec![Effect::UpdateApprovalMessage];
                effects.extend(told(Step::Activated));
                effects.push(Effect::Notify {
                    note: Note::Approved,
                });
                if self.kubeconfig {
                    effects.push(Effect::IssueKubeconfig);
                }
                effects
            }
            (GrantState::Approved, Event::BindFailed { reason }) => {
                next.state = GrantState::Failed;
                next.failure = Some(reason.clone());
                next.ended_at = Some(now);
                // Report first: the clean-up may have to wait for the cluster, the people must
                // not. A partial create must still not outlive the failure.
                let mut effects = next.ending(Step::Failed, Some(Note::Failed));
                effects.push(Effect::Unbind);
                effects
            }
            (GrantState::Active, Event::Tick) => next.tick_active(now)?,
            (GrantState::Approved | GrantState::Active, Event::Revoke { by }) => {
                if by != &self.requester && !policy.may_approve(&self.role, by) {
                    return Err(Rejection::NotAllowedToRevoke);
                }
                next.state = GrantState::Revoked;
                next.ended_by = Some(decision(by, now));
                next.ended_at = Some(now);
                let note = (by != &self.requester).then_some(Note::Revoked);
                let mut effects = vec![Effect::Unbind];
                effects.extend(next.ending(Step::Revoked, note));
                effects
            }
            (
                GrantState::Requested | GrantState::Approved | GrantState::Active,
                Event::RequesterGone { why },
            ) => next.requester_gone(*why, now, policy)?,
            (GrantState::Active, Event::RequestExtension { by, secs: extra }) => {
                if by != &self.requester {
                    return Err(Rejection::NotTheRequester);
                }
                if self.pending_extension().is_some() {
                    return Err(Rejection::ExtensionPending);
                }
                let rule = policy
                    .roles
                    .get(&self.role)
                    .map(|r| (r.extensions.allowed, r.extension_approvals()));
                let Some((true, required_approvals)) = rule else {
                    return Err(Rejection::ExtensionsNotAllowed);
                };
                self.check_extension_fits(*extra, policy)?;
                next.extension = Some(Extension {
                    by_secs: *extra,
                    requested_at: now,
                    state: ExtensionState::Pending,
                    required_approvals,
                    approvals: Vec::new(),
                    lapsed_approvals: Vec::new(),
                    denial: None,
                    message: None,
                });
                let mut effects = vec![Effect::PostExtensionMessage];
                effects.extend(told(Step::ExtensionRequested));
                effects
            }
            (GrantState::Active, Event::ApproveExtension { approver }) => {
                let pending = self
                    .pending_extension()
                    .ok_or(Rejection::NoExtensionPending)?;
                self.check_approver(approver, &pending.approvals, policy)?;
                self.check_extension_fits(pending.by_secs, policy)?;
                let extension = next
                    .extension
                    .as_mut()
                    .ok_or(Rejection::NoExtensionPending)?;
                let lapsed = lapse(&mut extension.approvals, &self.role, policy);
                extension.lapsed_approvals.extend(lapsed);
                extension.approvals.push(decision(approver, now));
                if (extension.approvals.len() as u64) < u64::from(extension.required_approvals) {
                    let mut effects = vec![Effect::UpdateExtensionMessage];
                    effects.extend(told(Step::ExtensionApprovalRecorded));
                    effects
                } else {
                    extension.state = ExtensionState::Approved;
                    let extra = extension.by_secs;
                    next.duration_secs += extra;
                    let expires_at = self.expires_at.unwrap_or(now) + secs(extra);
                    next.expires_at = Some(expires_at);
                    next.remind_at = reminder_time(expires_at, now, policy);
                    let mut effects = vec![
                        Effect::UpdateBindingExpiry,
                        Effect::UpdateExtensionMessage,
                        Effect::UpdateApprovalMessage,
                    ];
                    effects.extend(told(Step::Extended));
                    effects.push(Effect::Notify {
                        note: Note::Extended,
                    });
                    // The old token dies at the old expiry; a new one covers the extension.
                    if self.kubeconfig {
                        effects.push(Effect::IssueKubeconfig);
                    }
                    effects
                }
            }
            (_, Event::KubeconfigFailed { reason }) => {
                next.kubeconfig_failure = Some(reason.clone());
                vec![Effect::Notify {
                    note: Note::KubeconfigFailed,
                }]
            }
            (GrantState::Active, Event::DenyExtension { approver }) => {
                let pending = self
                    .pending_extension()
                    .ok_or(Rejection::NoExtensionPending)?;
                self.check_approver(approver, &pending.approvals, policy)?;
                let extension = next
                    .extension
                    .as_mut()
                    .ok_or(Rejection::NoExtensionPending)?;
                extension.state = ExtensionState::Denied;
                extension.denial = Some(decision(approver, now));
                let mut effects = vec![Effect::UpdateExtensionMessage];
                effects.extend(told(Step::ExtensionDenied));
                effects.push(Effect::Notify {
                    note: Note::ExtensionDenied,
                });
                effects
            }
            (state, _) => return Err(Rejection::WrongState { state }),
        };
        let steps: Vec<Step> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Audit { step } => Some(*step),
                _ => None,
            })
            .collect();
        let recorded = AuditEvent::of_transition(&next, event, &steps, now);
        next.journal.extend(recorded);
        next.outbox.extend(effects);
        Ok(next)
    }

    fn tick_active(&mut self, now: DateTime<Utc>) -> Result<Vec<Effect>, Rejection> {
        let expires_at = self.expires_at.unwrap_or(now);
        if now >= expires_at {
            self.state = GrantState::Expired;
            self.ended_at = Some(now);
            self.remind_at = None;
            let mut effects = vec![Effect::Unbind];
            effects.extend(self.ending(Step::Expired, Some(Note::Expired)));
            return Ok(effects);
        }
        match self.remind_at {
            Some(at) if now >= at => {
                self.remind_at = None;
                Ok(vec![Effect::Notify {
                    note: Note::Reminder,
                }])
            }
            _ => Err(Rejection::NotDue),
        }
    }

    /// The effects of reaching a final state: the message, a lapsed extension, audit, thread, DM.
    /// Effects that only made sense while the grant lived (binding it, moving its expiry) are
    /// dropped, so they can never stand in front of the revocation.
    pub(super) fn ending(&mut self, step: Step, note: Option<Note>) -> Vec<Effect> {
        self.outbox.retain(|e| {
            !matches!(
                e,
                Effect::Bind
                    | Effect::UpdateBindingExpiry
                    | Effect::IssueKubeconfig
                    | Effect::CheckOnCall
            )
        });
        if let Some(retry) = &self.retry
            && !self.outbox.contains(&retry.effect)
        {
            self.retry = None;
        }
        let mut effects = vec![Effect::UpdateApprovalMessage];
        if let Some(extension) = self.extension.as_mut()
            && extension.state == ExtensionState::Pending
        {
            extension.state = ExtensionState::Denied;
            effects.push(Effect::UpdateExtensionMessage);
        }
        effects.extend(told(step));
        effects.extend(note.map(|note| Effect::Notify { note }));
        effects.extend(self.review_on_ending());
        effects
    }

    fn check_approver(
        &self,
        approver: &str,
        approvals: &[Decision],
        policy: &Policy,
    ) -> Result<(), Rejection> {
        if approver == self.requester {
            return Err(Rejection::SelfApproval);
        }
        if !policy.may_approve(&self.role, approver) {
            return Err(Rejection::NotAnApprover);
        }
        if approvals.iter().any(|a| a.by == approver) {
            return Err(Rejection::AlreadyApprovedBy);
        }
        Ok(())
    }

    /// The whole grant, extensions included, never exceeds the role's maximum as it is now.
    fn check_extension_fits(&self, extra: u64, policy: &Policy) -> Result<(), Rejection> {
        let max_secs = self.max_secs(policy);
        let left_secs = max_secs.saturating_sub(self.duration_secs);
        if extra == 0 || extra > left_secs {
            return Err(Rejection::ExtensionTooLong {
                max_secs,
                left_secs,
            });
        }
        Ok(())
    }
}

/// Takes out of `approvals` those whose approver may no longer approve `role` (removed from the
/// role or its user group since they clicked) and returns them: an approval counts only while
/// its approver still qualifies under the policy as it is at the click that counts it.
fn lapse(approvals: &mut Vec<Decision>, role: &str, policy: &Policy) -> Vec<Decision> {
    let (kept, lapsed) = std::mem::take(approvals)
        .into_iter()
        .partition(|a| policy.may_approve(role, &a.by));
    *approvals = kept;
    lapsed
}

fn decision(by: &str, at: DateTime<Utc>) -> Decision {
    Decision {
        by: by.to_string(),
        at,
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod extension_tests;

#[cfg(test)]
mod ending_tests;
