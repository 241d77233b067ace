//! The texts of break-glass uses: the post-incident review request and its daily reminder.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::views::{GrantView, mentions};
use super::{Message, TemplateError, Templates};
use crate::domain::grant::Grant;

impl Templates {
    /// The review request of a break-glass use, with its Reviewed button until an approver of
    /// the role (one of `approvers`) has reviewed it.
    pub fn review_message(
        &self,
        grant: &Grant,
        approvers: &[String],
    ) -> Result<Message, TemplateError> {
        self.render(
            "review_request",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                reviewers_text => mentions(self.platform, approvers),
                link => grant.approval_message.as_ref().and_then(|m| m.permalink.clone()),
            },
        )
    }

    /// The daily reminder of a review still not done.
    pub fn review_reminder(
        &self,
        grant: &Grant,
        approvers: &[String],
    ) -> Result<Message, TemplateError> {
        self.render(
            "review_reminder",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                reviewers_text => mentions(self.platform, approvers),
            },
        )
    }
}
