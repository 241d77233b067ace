//! The texts of session activity: the thread replies about what a grant's subject did in the
//! cluster, the final summary, and the activity part of `status`.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::views::GrantView;
use super::{Message, TemplateError, Templates};
use crate::domain::activity::{
    ActivityLines, EndReport, ReportedLeftover, ReportedStream, SessionActivity, still_open,
};
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
                streams_max => 0,
                leftovers_max => 0,
            },
        )
    }

    /// The final summary once the grant ended, naming the streams into pods still open then
    /// (the binding's removal does not cut them) and how to end each, and what the subject
    /// left behind that can carry access beyond the grant.
    /// Approvers get a button for each item still to be handled (Mark reviewed, and Delete or
    /// Restart pod where offered), and see who handled the others.
    pub fn summary(
        &self,
        grant: &Grant,
        lines: &ActivityLines,
        report: &EndReport,
    ) -> Result<Message, TemplateError> {
        let still_open = streams_view(&report.streams, Some(self.platform));
        // One budget for both lists: streams first (they are open now), then leftovers.
        let streams_max = report.streams.len().min(ITEMS_WITH_BUTTONS);
        self.render(
            "activity",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                lines => Value::from(Serde(lines)),
                summary => true,
                still_open,
                leftovers => leftovers_view(&report.leftovers),
                streams_max,
                leftovers_max => ITEMS_WITH_BUTTONS - streams_max,
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
            // Once summarised, what the summary reported, with what approvers did since.
            let report = match (&a.end_report, grant.state.is_final()) {
                (Some(report), _) => report.clone(),
                (None, true) => EndReport::unchecked(a),
                (None, false) => EndReport {
                    leftovers: EndReport::unchecked(a).leftovers,
                    streams: Vec::new(),
                },
            };
            // How much of the summary's report approvers have yet to handle.
            let unhandled = a.end_report.as_ref().map(|r| {
                let items = r.streams.len() + r.leftovers.len();
                context! { open => r.open_items(), items }
            });
            context! {
                lines => Value::from(Serde(a.total.lines(STATUS_LINES_MAX))),
                latest,
                notable_count => kept,
                unhandled,
                still_open => streams_view(&report.streams, Some(self.platform)),
                leftovers => leftovers_view(&report.leftovers),
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

/// Items of end reports the App Home lists with their buttons, over all grants: each takes two
/// blocks of the tab's 100, which the user's own grants and requests share.
const HOME_ITEMS_MAX: usize = 8;

/// What ended grants left, as the App Home lists it: each grant with the items of its end
/// report nobody has handled yet.
pub(super) fn left_views(left: &[(Grant, EndReport)], platform: super::Platform) -> Vec<Value> {
    let mut budget = HOME_ITEMS_MAX;
    let mut views = Vec::new();
    for (grant, report) in left {
        let streams: Vec<Value> = (report.streams.iter().enumerate())
            .filter(|(_, s)| still_open(&s.handled))
            .take(budget)
            .map(|(i, s)| stream_view(i, s, Some(platform)))
            .collect();
        budget -= streams.len();
        let leftovers: Vec<Value> = (report.leftovers.iter().enumerate())
            .filter(|(_, l)| still_open(&l.handled))
            .take(budget)
            .map(|(i, l)| leftover_view(i, l))
            .collect();
        budget -= leftovers.len();
        views.push(context! {
            grant => Value::from(Serde(GrantView::of(grant, platform))),
            open => report.open_items(),
            still_open => streams,
            leftovers,
        });
        if budget == 0 {
            break;
        }
    }
    views
}

/// Items of the end report shown one by one with their buttons, streams and leftovers together;
/// the rest are listed only. Each takes two blocks, and a Slack message holds at most 50.
const ITEMS_WITH_BUTTONS: usize = 20;

/// Streams still open, as the templates show them.
pub(super) fn streams_view(
    streams: &[ReportedStream],
    platform: Option<super::Platform>,
) -> Vec<Value> {
    (streams.iter().enumerate())
        .map(|(i, s)| stream_view(i, s, platform))
        .collect()
}

/// Leftovers as the templates show them: each with its key in the end report (`l<n>`, what
/// its buttons carry).
pub(super) fn leftovers_view(leftovers: &[ReportedLeftover]) -> Vec<Value> {
    (leftovers.iter().enumerate())
        .map(|(i, l)| leftover_view(i, l))
        .collect()
}

fn leftover_view(i: usize, leftover: &ReportedLeftover) -> Value {
    context! { key => format!("l{i}"), ..Value::from(Serde(leftover)) }
}

/// A stream still open, as the templates show it: its particulars and when it began, written
/// for `platform` (RFC 3339 in the audit log), and whether its pod was or can be restarted.
fn stream_view(i: usize, reported: &ReportedStream, platform: Option<super::Platform>) -> Value {
    let stream = &reported.stream;
    let since_text = stream.started_at.map(|at| match platform {
        Some(platform) => Value::from(Serde(super::views::shown_time(platform, at))),
        None => Value::from(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    });
    context! {
        key => format!("s{i}"),
        kind => Value::from(Serde(stream.kind)),
        namespace => &stream.namespace,
        pod => &stream.pod,
        container => &stream.container,
        since_text,
        restartable => reported.restartable,
        handled => Value::from(Serde(&reported.handled)),
    }
}
