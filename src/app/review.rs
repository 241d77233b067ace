//! The post-incident review of a break-glass use: a request with a Reviewed button in the audit
//! channel when the access ends, asked for again in its thread every day until it is done.

use tracing::warn;

use super::{App, EffectError};
use crate::chat::ChatError;
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
                    chat.update(at, &self.templates.review_message(grant, approvers)?)
                        .await?;
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

    async fn post_review_request(
        &self,
        grant: &Grant,
        approvers: &[String],
    ) -> Result<Option<Event>, EffectError> {
        let chat = &self.adapters.chat;
        let message = self.templates.review_message(grant, approvers)?;
        let mut posted = chat.post(&self.settings.audit_channel, &message).await?;
        match chat.permalink(&posted).await {
            Ok(link) => posted.permalink = Some(link),
            Err(e) => warn!(grant = %grant.id, error = %e, "no link to the review request"),
        }
        Ok(Some(Event::ReviewMessagePosted { message: posted }))
    }
}
