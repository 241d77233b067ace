//! The incident transitions of a grant: a break-glass self-approval and its post-incident
//! review, and approval by policy of whoever is on call.

use chrono::{DateTime, Utc};

use super::break_glass::{BreakGlassUse, REVIEW_REMINDER_EVERY};
use super::grant::{Decision, Effect, Grant, GrantState, Rejection, Step};
use super::on_call::OnCallCheck;
use super::policy::Policy;

impl Grant {
    /// The requester approves their own request: allowed only for a break-glass role, asked for
    /// in an incident channel, within the role's break-glass cap. It approves the request whole,
    /// tells the audit channel at once and is reviewed after the incident.
    pub(super) fn self_approve(
        &mut self,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        // Break-glass both when it was requested and now: a role that gained the rule later
        // does not make old requests self-approvable, and the shorter cap of the two applies.
        let rule = policy
            .roles
            .get(&self.role)
            .and_then(|r| r.break_glass.as_ref());
        let (Some(rule), Some(recorded_cap)) = (rule, self.break_glass_cap_secs) else {
            return Err(Rejection::SelfApproval);
        };
        if !self.incident.as_ref().is_some_and(|i| i.shows_incident()) {
            return Err(Rejection::BreakGlassOutsideIncident);
        }
        if !rule.requesters.contains(&self.requester) {
            return Err(Rejection::NotABreakGlassRequester);
        }
        let cap = recorded_cap.min(rule.max_duration.as_secs());
        if self.duration_secs > cap {
            return Err(Rejection::BreakGlassTooLong { max_secs: cap });
        }
        if self.reason.trim().is_empty() {
            return Err(Rejection::SelfApproval);
        }
        self.state = GrantState::Approved;
        self.approvals.push(Decision {
            by: self.requester.clone(),
            at: now,
        });
        self.break_glass = Some(BreakGlassUse {
            at: now,
            review: None,
            review_message: None,
            remind_at: None,
        });
        Ok(vec![
            Effect::Audit {
                step: Step::BreakGlass,
            },
            Effect::ThreadReply {
                step: Step::BreakGlass,
            },
            Effect::Bind,
        ])
    }

    /// The on-call lookup answered: on call (and the role still approves whoever is) approves
    /// the request by policy; anything else leaves it to the approvers.
    pub(super) fn on_call_checked(
        &mut self,
        check: &OnCallCheck,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        if self.on_call.is_some() {
            return Err(Rejection::WrongState { state: self.state });
        }
        self.on_call = Some(check.clone());
        let role_approves = policy
            .roles
            .get(&self.role)
            .is_some_and(|r| r.on_call.is_some());
        if matches!(check, OnCallCheck::OnCall { .. }) && role_approves {
            self.state = GrantState::Approved;
            Ok(vec![Effect::Bind])
        } else {
            Ok(vec![])
        }
    }

    /// What ending a break-glass grant adds: the review request, chased daily from then on.
    pub(super) fn review_on_ending(&mut self) -> Vec<Effect> {
        let ended_at = self.ended_at;
        match self.break_glass.as_mut() {
            Some(use_) if use_.needs_review() && use_.review_message.is_none() => {
                use_.remind_at = ended_at.map(|at| at + REVIEW_REMINDER_EVERY);
                vec![Effect::PostReviewMessage]
            }
            _ => vec![],
        }
    }

    /// An approver (not the requester) reviews the break-glass use.
    pub(super) fn review(
        &mut self,
        by: &str,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        let requester = self.requester.clone();
        let use_ = self
            .break_glass
            .as_mut()
            .filter(|b| b.needs_review())
            .ok_or(Rejection::NothingToReview)?;
        if by == requester {
            return Err(Rejection::SelfReview);
        }
        if !policy.may_approve(&self.role, by) {
            return Err(Rejection::NotAnApprover);
        }
        use_.review = Some(Decision {
            by: by.to_string(),
            at: now,
        });
        use_.remind_at = None;
        Ok(vec![
            Effect::UpdateReviewMessage,
            Effect::Audit {
                step: Step::Reviewed,
            },
        ])
    }

    /// Time passed on a finished grant: its overdue review may be due to be asked for again.
    pub(super) fn tick_review(&mut self, now: DateTime<Utc>) -> Result<Vec<Effect>, Rejection> {
        match self.break_glass.as_mut() {
            Some(use_) if use_.needs_review() && use_.remind_at.is_some_and(|at| now >= at) => {
                use_.remind_at = Some(now + REVIEW_REMINDER_EVERY);
                Ok(vec![Effect::RemindReview])
            }
            Some(use_) if use_.needs_review() => Err(Rejection::NotDue),
            _ => Err(Rejection::WrongState { state: self.state }),
        }
    }

    /// The longest this grant may run in all, extensions included, under the policy as it is.
    pub fn max_secs(&self, policy: &Policy) -> u64 {
        let Some(role) = policy.roles.get(&self.role) else {
            return 0;
        };
        let max = role.max_duration.as_secs();
        match (&self.break_glass, &role.break_glass) {
            (Some(_), Some(rule)) => max.min(rule.max_duration.as_secs()),
            _ => max,
        }
    }
}

#[cfg(test)]
mod tests;
