//! The extension transitions of an active grant: asking for more time, its approvals and its
//! denial, each needing approval again and never taking the grant past the role's maximum.

use chrono::{DateTime, Utc};

use super::grant::{
    Decision, Effect, Event, Extension, ExtensionState, Grant, GrantState, MessageRef, Note,
    Rejection, Step, secs,
};
use super::lifecycle::{lapse, reminder_time, told};
use super::policy::Policy;

/// Whether `event` is one of an extension's own steps (its message posting aside).
pub(super) fn is_about_an_extension(event: &Event) -> bool {
    matches!(
        event,
        Event::RequestExtension { .. }
            | Event::ApproveExtension { .. }
            | Event::DenyExtension { .. }
    )
}

impl Grant {
    /// Only the requester asks, one extension at a time, where the role allows extensions.
    pub(super) fn request_extension(
        &mut self,
        by: &str,
        extra: u64,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        if by != self.requester {
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
        self.check_extension_fits(extra, policy)?;
        self.extension = Some(Extension {
            by_secs: extra,
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
        Ok(effects)
    }

    pub(super) fn extension_message_posted(
        &mut self,
        message: &MessageRef,
    ) -> Result<Vec<Effect>, Rejection> {
        let active = self.state == GrantState::Active;
        let extension = self
            .extension
            .as_mut()
            .ok_or(Rejection::NoExtensionPending)?;
        extension.message = Some(message.clone());
        if extension.state == ExtensionState::Pending && active {
            Ok(vec![])
        } else {
            Ok(vec![Effect::UpdateExtensionMessage])
        }
    }

    /// An approval counts towards the pending extension; the last one needed extends the grant.
    pub(super) fn approve_extension(
        &mut self,
        approval: Decision,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        let extra = self.extension_to_decide(&approval.by, policy)?.by_secs;
        self.check_extension_fits(extra, policy)?;
        let extension = self
            .extension
            .as_mut()
            .ok_or(Rejection::NoExtensionPending)?;
        let lapsed = lapse(&mut extension.approvals, &self.role, policy);
        extension.lapsed_approvals.extend(lapsed);
        extension.approvals.push(approval);
        if (extension.approvals.len() as u64) < u64::from(extension.required_approvals) {
            let mut effects = vec![Effect::UpdateExtensionMessage];
            effects.extend(told(Step::ExtensionApprovalRecorded));
            return Ok(effects);
        }
        extension.state = ExtensionState::Approved;
        Ok(self.extended_by(extra, now, policy))
    }

    /// The approved extension moves the expiry (and the reminder) on by `extra` seconds.
    fn extended_by(&mut self, extra: u64, now: DateTime<Utc>, policy: &Policy) -> Vec<Effect> {
        self.duration_secs += extra;
        let expires_at = self.expires_at.unwrap_or(now) + secs(extra);
        self.expires_at = Some(expires_at);
        self.remind_at = reminder_time(expires_at, now, policy);
        let mut effects = vec![
            Effect::UpdateBindingExpiry,
            Effect::UpdateExtensionMessage,
            Effect::UpdateApprovalMessage,
        ];
        effects.extend(self.access_told(Step::Extended, Note::Extended));
        effects
    }

    pub(super) fn deny_extension(
        &mut self,
        denial: Decision,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        self.extension_to_decide(&denial.by, policy)?;
        let extension = self
            .extension
            .as_mut()
            .ok_or(Rejection::NoExtensionPending)?;
        extension.state = ExtensionState::Denied;
        extension.denial = Some(denial);
        let mut effects = vec![Effect::UpdateExtensionMessage];
        effects.extend(told(Step::ExtensionDenied));
        effects.push(Effect::Notify {
            note: Note::ExtensionDenied,
        });
        Ok(effects)
    }

    /// The pending extension, once it is clear that `approver` may decide it.
    fn extension_to_decide(
        &self,
        approver: &str,
        policy: &Policy,
    ) -> Result<&Extension, Rejection> {
        let pending = self
            .pending_extension()
            .ok_or(Rejection::NoExtensionPending)?;
        self.check_approver(approver, &pending.approvals, policy)?;
        Ok(pending)
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
