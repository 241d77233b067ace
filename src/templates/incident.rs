//! The texts of break-glass uses: the post-incident review request and its daily reminder.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::views::{GrantView, mentions};
use super::{Message, TemplateError, Templates};
use crate::domain::activity::EndReport;
use crate::domain::grant::Grant;

impl Templates {
    /// The review request of a break-glass use, with its Reviewed button until an approver of
    /// the role (one of `approvers`) has reviewed it.
    pub fn review_message(
        &self,
        grant: &Grant,
        approvers: &[String],
    ) -> Result<Message, TemplateError> {
        self.review_message_with(grant, approvers, None)
    }

    /// The review request, with what the end did not end once the session summary reported it
    /// (streams still open, leftovers, and how many approvers have yet to handle).
    pub fn review_message_with(
        &self,
        grant: &Grant,
        approvers: &[String],
        report: Option<&EndReport>,
    ) -> Result<Message, TemplateError> {
        let end = report.map(|r| {
            context! {
                still_open => super::activity::streams_view(&r.streams, Some(self.platform)),
                leftovers => super::activity::leftovers_view(&r.leftovers),
                open => r.open_items(),
                items => r.streams.len() + r.leftovers.len(),
            }
        });
        self.render(
            "review_request",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                reviewers_text => mentions(self.platform, approvers),
                link => grant.approval_message.as_ref().and_then(|m| m.permalink.clone()),
                end,
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
