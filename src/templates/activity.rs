//! The texts of session activity: the thread replies about what a grant's subject did in the
//! cluster, the final summary, and the activity part of `status`.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::views::GrantView;
use super::{Message, TemplateError, Templates};
use crate::domain::activity::{ActivityLines, SessionActivity};
use crate::domain::grant::Grant;

/// Notable actions `status` lists one by one (the latest).
const STATUS_NOTABLE_MAX: usize = 10;
/// Kinds of request `status` lists.
const STATUS_LINES_MAX: usize = 12;

impl Templates {
    /// A thread reply under the approval message: what was done since the last one, or
    /// (`summary`) over the whole grant once it ended.
    pub fn activity(
        &self,
        grant: &Grant,
        lines: &ActivityLines,
        summary: bool,
    ) -> Result<Message, TemplateError> {
        self.render(
            "activity",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                lines => Value::from(Serde(lines)),
                summary,
            },
        )
    }

    /// `status <id>`, with what the grant's subject did in the cluster when that is recorded.
    pub fn status_with_activity(
        &self,
        grant: &Grant,
        activity: Option<&SessionActivity>,
    ) -> Result<Message, TemplateError> {
        let activity = activity.map(|a| {
            let latest: Vec<_> = a
                .total
                .notable
                .iter()
                .rev()
                .take(STATUS_NOTABLE_MAX)
                .map(|n| {
                    context! {
                        deed => Value::from(Serde(&n.deed)),
                        at_text => n.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    }
                })
                .collect();
            let kept = a.total.notable.len() as u64 + a.total.notable_dropped;
            context! {
                lines => Value::from(Serde(a.total.lines(STATUS_LINES_MAX))),
                latest,
                notable_count => kept,
            }
        });
        self.render(
            "status",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                activity,
            },
        )
    }
}
