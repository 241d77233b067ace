//! The grant state machine: `(Grant, Event, now, policy) -> Grant with new effects | Rejection`.
//! Every decision re-reads the policy as it is now, so removing an approver takes effect at once.

use chrono::{DateTime, Utc};

use super::audit::{AuditEvent, AuditKind};
use super::failure::Failure;
use super::grant::{
    Decision, Effect, Event, ExtensionState, Grant, GrantState, MessageRef, Note, Rejection, Step,
};
use super::incident::IncidentContext;
use super::lifecycle_extension::is_about_an_extension;
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
pub(super) fn told(step: Step) -> [Effect; 2] {
    [Effect::Audit { step }, Effect::ThreadReply { step }]
}

pub(super) fn reminder_time(
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
            standing: None,
            revocation: None,
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
        if self.ran_out(now) && is_about_an_extension(event) {
            // The access has run out and only waits for its Tick; it cannot be extended.
            return Err(Rejection::WrongState {
                state: GrantState::Expired,
            });
        }
        let mut next = self.clone();
        next.version += 1;
        let effects = next.react(event, now, policy)?;
        next.record(event, effects, now);
        Ok(next)
    }

    /// Changes this grant (the copy that becomes the next version) as `event` demands in its
    /// state, and returns the effects that follow.
    fn react(
        &mut self,
        event: &Event,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        use GrantState::{Active, Approved, Requested};
        match (self.state, event) {
            (_, Event::ApprovalMessagePosted { message }) => {
                Ok(self.approval_message_posted(message))
            }
            (_, Event::ExtensionMessagePosted { message }) => {
                self.extension_message_posted(message)
            }
            (_, Event::ReviewMessagePosted { message }) => self.review_message_posted(message),
            (Requested, Event::Approve { approver }) if approver == &self.requester => {
                self.self_approve(now, policy)
            }
            (Requested, Event::Approve { approver }) => {
                self.approve(decision(approver, now), policy)
            }
            (Requested, Event::OnCallChecked { check }) => self.on_call_checked(check, policy),
            (Requested, Event::Deny { approver }) => self.deny(decision(approver, now), policy),
            (Requested, Event::Cancel { by }) => self.cancel(by, now),
            (Requested, Event::Tick) => self.time_out(now),
            (
                Approved,
                Event::Bound {
                    subject,
                    groups,
                    expires_at,
                    before,
                },
            ) => {
                self.standing = before.clone();
                Ok(self.bound(subject, groups, *expires_at, now, policy))
            }
            (Approved, Event::BindFailed { reason }) => Ok(self.bind_failed(reason, now)),
            (_, Event::KubeconfigFailed { reason }) => Ok(self.kubeconfig_failed(reason)),
            (Active, Event::Tick) => self.tick_active(now),
            (Active, Event::RequestExtension { by, secs }) => {
                self.request_extension(by, *secs, now, policy)
            }
            (Active, Event::ApproveExtension { approver }) => {
                self.approve_extension(decision(approver, now), now, policy)
            }
            (Active, Event::DenyExtension { approver }) => {
                self.deny_extension(decision(approver, now), policy)
            }
            (Approved | Active, Event::Revoke { by }) => self.revoke(by, now, policy),
            (Requested | Approved | Active, Event::RequesterGone { why }) => {
                self.requester_gone(*why, now, policy)
            }
            (state, Event::Review { by }) if state.is_final() => self.review(by, now, policy),
            // Only recorded: the access is gone either way.
            (state, Event::FoundRemoved) if state.is_final() => Ok(vec![]),
            (state, Event::RevocationVerified { verification }) if state.is_final() => {
                Ok(self.revocation_verified(verification))
            }
            (state, Event::Tick) if state.is_final() => self.tick_review(now),
            (state, _) => Err(Rejection::WrongState { state }),
        }
    }

    /// Whether the access has run out and only waits for its Tick.
    fn ran_out(&self, now: DateTime<Utc>) -> bool {
        self.state == GrantState::Active && self.expires_at.is_some_and(|at| now >= at)
    }

    /// Journals the audit events of the transition `event` made and queues its effects.
    fn record(&mut self, event: &Event, effects: Vec<Effect>, now: DateTime<Utc>) {
        let steps: Vec<Step> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Audit { step } => Some(*step),
                _ => None,
            })
            .collect();
        let recorded = AuditEvent::of_transition(self, event, &steps, now);
        self.journal.extend(recorded);
        self.outbox.extend(effects);
    }

    fn approval_message_posted(&mut self, message: &MessageRef) -> Vec<Effect> {
        self.approval_message = Some(message.clone());
        // A decision taken before the message existed must still show on it.
        if self.state == GrantState::Requested && self.approvals.is_empty() {
            vec![]
        } else {
            vec![Effect::UpdateApprovalMessage]
        }
    }

    fn review_message_posted(&mut self, message: &MessageRef) -> Result<Vec<Effect>, Rejection> {
        let use_ = self
            .break_glass
            .as_mut()
            .ok_or(Rejection::NothingToReview)?;
        use_.review_message = Some(message.clone());
        if use_.needs_review() {
            Ok(vec![])
        } else {
            Ok(vec![Effect::UpdateReviewMessage])
        }
    }

    /// An approval counts towards the request; the last one needed approves it, to be bound.
    fn approve(&mut self, approval: Decision, policy: &Policy) -> Result<Vec<Effect>, Rejection> {
        self.check_approver(&approval.by, &self.approvals, policy)?;
        let lapsed = lapse(&mut self.approvals, &self.role, policy);
        self.lapsed_approvals.extend(lapsed);
        self.approvals.push(approval);
        if self.approvals.len() as u64 >= u64::from(self.required_approvals) {
            // The expiry is fixed when the binding is created (`Bound`), so time spent binding is
            // not taken from the requester.
            self.state = GrantState::Approved;
            Ok(vec![Effect::Bind])
        } else {
            let mut effects = vec![Effect::UpdateApprovalMessage];
            effects.extend(told(Step::ApprovalRecorded));
            Ok(effects)
        }
    }

    fn deny(&mut self, denial: Decision, policy: &Policy) -> Result<Vec<Effect>, Rejection> {
        self.check_approver(&denial.by, &self.approvals, policy)?;
        self.state = GrantState::Denied;
        self.ended_at = Some(denial.at);
        self.denial = Some(denial);
        Ok(self.ending(Step::Denied, Some(Note::Denied)))
    }

    /// Only the requester may withdraw their request.
    fn cancel(&mut self, by: &str, now: DateTime<Utc>) -> Result<Vec<Effect>, Rejection> {
        if by != self.requester {
            return Err(Rejection::NotTheRequester);
        }
        self.state = GrantState::Cancelled;
        self.ended_by = Some(decision(by, now));
        self.ended_at = Some(now);
        Ok(self.ending(Step::Cancelled, None))
    }

    /// Nobody decided the request before its review deadline.
    fn time_out(&mut self, now: DateTime<Utc>) -> Result<Vec<Effect>, Rejection> {
        if now < self.review_deadline {
            return Err(Rejection::NotDue);
        }
        self.state = GrantState::TimedOut;
        self.ended_at = Some(now);
        Ok(self.ending(Step::TimedOut, Some(Note::TimedOut)))
    }

    /// The binding exists: the access is live until `expires_at`, counted from its creation.
    fn bound(
        &mut self,
        subject: &str,
        groups: &[String],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Vec<Effect> {
        self.state = GrantState::Active;
        self.subject = Some(subject.to_string());
        self.groups = groups.to_vec();
        self.expires_at = Some(expires_at);
        self.remind_at = reminder_time(expires_at, now, policy);
        let mut effects = vec![Effect::UpdateApprovalMessage];
        effects.extend(self.access_told(Step::Activated, Note::Approved));
        effects
    }

    /// What starting or lengthening access tells (audit, thread, the requester), and a new
    /// kubeconfig where the role issues tokens: the old token dies at the old expiry.
    pub(super) fn access_told(&self, step: Step, note: Note) -> Vec<Effect> {
        let mut effects = told(step).to_vec();
        effects.push(Effect::Notify { note });
        if self.kubeconfig {
            effects.push(Effect::IssueKubeconfig);
        }
        effects
    }

    fn bind_failed(&mut self, reason: &Failure, now: DateTime<Utc>) -> Vec<Effect> {
        self.state = GrantState::Failed;
        self.failure = Some(reason.clone());
        self.ended_at = Some(now);
        // Report first: the clean-up may have to wait for the cluster, the people must not. A
        // partial create must still not outlive the failure.
        let mut effects = self.ending(Step::Failed, Some(Note::Failed));
        effects.push(Effect::Unbind);
        effects
    }

    /// The binding stands; only the token file failed, and the requester is told why.
    fn kubeconfig_failed(&mut self, reason: &Failure) -> Vec<Effect> {
        self.kubeconfig_failure = Some(reason.clone());
        vec![Effect::Notify {
            note: Note::KubeconfigFailed,
        }]
    }

    /// The requester drops their own access, or an approver of the role takes it away.
    fn revoke(
        &mut self,
        by: &str,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        let by_requester = by == self.requester;
        if !by_requester && !policy.may_approve(&self.role, by) {
            return Err(Rejection::NotAllowedToRevoke);
        }
        self.state = GrantState::Revoked;
        self.ended_by = Some(decision(by, now));
        self.ended_at = Some(now);
        let note = (!by_requester).then_some(Note::Revoked);
        let mut effects = vec![Effect::Unbind];
        effects.extend(self.ending(Step::Revoked, note));
        effects.push(Effect::VerifyRevocation);
        Ok(effects)
    }

    /// Time passed on live access: it expires, or its requester is reminded that it soon will.
    fn tick_active(&mut self, now: DateTime<Utc>) -> Result<Vec<Effect>, Rejection> {
        let expires_at = self.expires_at.unwrap_or(now);
        if now >= expires_at {
            self.state = GrantState::Expired;
            self.ended_at = Some(now);
            self.remind_at = None;
            let mut effects = vec![Effect::Unbind];
            effects.extend(self.ending(Step::Expired, Some(Note::Expired)));
            effects.push(Effect::VerifyRevocation);
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

    /// Records what the cluster said once the bindings were gone, and tells the audit channel
    /// and the thread.
    fn revocation_verified(
        &mut self,
        verification: &super::revocation::Verification,
    ) -> Vec<Effect> {
        self.revocation = Some(verification.clone());
        let mut effects = told(Step::RevocationVerified).to_vec();
        // A break-glass review shows whether the access really ended.
        if self
            .break_glass
            .as_ref()
            .is_some_and(|b| b.review_message.is_some())
        {
            effects.push(Effect::UpdateReviewMessage);
        }
        effects
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

    pub(super) fn check_approver(
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
}

/// Takes out of `approvals` those whose approver may no longer approve `role` (removed from the
/// role or its user group since they clicked) and returns them: an approval counts only while
/// its approver still qualifies under the policy as it is at the click that counts it.
pub(super) fn lapse(approvals: &mut Vec<Decision>, role: &str, policy: &Policy) -> Vec<Decision> {
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
