//! The post-incident review of a break-glass use: a request with a Reviewed button in the audit
//! channel when the access ends, asked for again in its thread every day until it is done.

use tracing::warn;

use super::{App, EffectError};
use crate::chat::ChatError;
use crate::domain::activity::EndReport;
use crate::domain::grant::{Effect, Event, Grant};

impl App {
    /// Carries out the review effects; others are not for this.
    pub(super) async fn review_effect(
        &self,
        grant: &Grant,
        effect: &Effect,
    ) -> Result<Option<Event>, EffectError> {
        let chat = &self.adapters.chat;
        let approvers = self.policy.approvers_for(&grant.role);
        match effect {
            Effect::PostReviewMessage => self.post_review_request(grant, approvers).await,
            Effect::UpdateReviewMessage => {
                if let Some(at) = grant
                    .break_glass
                    .as_ref()
                    .and_then(|b| b.review_message.as_ref())
                {
                    let report = self.end_report_of(&grant.id).await;
                    let message =
                        (self.templates).review_message_with(grant, approvers, report.as_ref())?;
                    chat.update(at, &message).await?;
                }
                Ok(None)
            }
            Effect::RemindReview => {
                let posted_at = grant
                    .break_glass
                    .as_ref()
                    .and_then(|b| b.review_message.clone());
                let reminder = self.templates.review_reminder(grant, approvers)?;
                let refused = match &posted_at {
                    Some(at) => match chat.reply_in_thread(at, &reminder).await {
                        Ok(()) => return Ok(None),
                        Err(ChatError::Refused(e)) => e,
                        Err(e) => return Err(e.into()),
                    },
                    None => "never posted".to_string(),
                };
                // Without its review request (never posted, or deleted) the use could never be
                // reviewed: post the request again, with its Reviewed button.
                warn!(grant = %grant.id, why = %refused, "the review request is gone; posting it again");
                self.post_review_request(grant, approvers).await
            }
            _ => Ok(None),
        }
    }

    /// What the grant's session summary reported its end did not end, once it did; `None`
    /// before, and when it cannot be read (the review request then leaves it out).
    pub(super) async fn end_report_of(&self, grant: &str) -> Option<EndReport> {
        match self.adapters.activity.activity(grant).await {
            Ok(record) => record.and_then(|r| r.end_report),
            Err(e) => {
                warn!(grant, error = %e, "cannot read what the grant's end left");
                None
            }
        }
    }

    /// Shows on the review request of a break-glass use what its summary reported.
    pub(super) async fn show_end_on_review(&self, grant: &Grant, report: &EndReport) {
        let Some(at) = grant
            .break_glass
            .as_ref()
            .and_then(|b| b.review_message.as_ref())
        else {
            return;
        };
        let approvers = self.policy.approvers_for(&grant.role);
        let shown = match (self.templates).review_message_with(grant, approvers, Some(report)) {
            Ok(message) => self
                .adapters
                .chat
                .update(at, &message)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = shown {
            warn!(grant = %grant.id, error = %e, "cannot show what the end left on the review request");
        }
    }

    async fn post_review_request(
        &self,
        grant: &Grant,
        approvers: &[String],
    ) -> Result<Option<Event>, EffectError> {
        let chat = &self.adapters.chat;
        let report = self.end_report_of(&grant.id).await;
        let message = (self.templates).review_message_with(grant, approvers, report.as_ref())?;
        let mut posted = chat.post(&self.settings.audit_channel, &message).await?;
        match chat.permalink(&posted).await {
            Ok(link) => posted.permalink = Some(link),
            Err(e) => warn!(grant = %grant.id, error = %e, "no link to the review request"),
        }
        Ok(Some(Event::ReviewMessagePosted { message: posted }))
    }
}
