//! The texts of session activity: the thread replies about what a grant's subject did in the
//! cluster, the final summary, and the activity part of `status`.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::views::GrantView;
use super::{Message, TemplateError, Templates};
use crate::domain::activity::{ActivityLines, Leftover, OpenStream, SessionActivity};
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
                still_open => Vec::<Value>::new(),
                leftovers => Vec::<Value>::new(),
            },
        )
    }

    /// The final summary once the grant ended, naming the streams into pods still open then
    /// (the binding's removal does not cut them) and how to end each, and what the subject
    /// left behind that can carry access beyond the grant.
    pub fn summary(
        &self,
        grant: &Grant,
        lines: &ActivityLines,
        still_open: &[&OpenStream],
        leftovers: &[Leftover],
    ) -> Result<Message, TemplateError> {
        let still_open: Vec<Value> = still_open
            .iter()
            .map(|s| stream_view(s, Some(self.platform)))
            .collect();
        self.render(
            "activity",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                lines => Value::from(Serde(lines)),
                summary => true,
                still_open,
                leftovers => Value::from(Serde(leftovers)),
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
            // While the grant lives an open exec is ordinary; once it ended, it is still open.
            let still_open: Vec<Value> = if grant.state.is_final() {
                let open = a.open_into_pods().into_iter();
                open.map(|s| stream_view(s, Some(self.platform))).collect()
            } else {
                Vec::new()
            };
            context! {
                lines => Value::from(Serde(a.total.lines(STATUS_LINES_MAX))),
                latest,
                notable_count => kept,
                still_open,
                leftovers => Value::from(Serde(&a.leftovers)),
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

/// A stream still open, as the templates show it: its particulars and when it began, written
/// for `platform` (RFC 3339 in the audit log).
pub(super) fn stream_view(stream: &OpenStream, platform: Option<super::Platform>) -> Value {
    let since_text = stream.started_at.map(|at| match platform {
        Some(platform) => Value::from(Serde(super::views::shown_time(platform, at))),
        None => Value::from(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    });
    context! {
        kind => Value::from(Serde(stream.kind)),
        namespace => &stream.namespace,
        pod => &stream.pod,
        container => &stream.container,
        since_text,
    }
}
