//! The audit log's words: plain text from `templates/records/`, one template per kind of
//! `detail`, with deeds and failures worded by the same macros as the posts
//! (`templates/deeds.jinja`, `templates/reasons.jinja`).

use minijinja::value::{Serde, Value};
use minijinja::{Environment, context};
use tracing::error;

use super::{TemplateError, Templates};
use crate::domain::activity::{
    EndReport, Handled, Item, NotableAction, ReportedLeftover, ReportedStream, Tally,
};
use crate::domain::audit::AuditEvent;
use crate::domain::audit_detail::Particulars;
use crate::domain::reconcile::Repair;

/// The plain-text templates of audit-log entries, the same on every platform.
pub(super) fn environment() -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    // The log stores text as it is: nothing to escape.
    env.add_filter("esc", |text: Value| text);
    env.add_filter("duration", super::markup::duration);
    for (name, source) in super::sources::RECORDS {
        env.add_template(name, source).map_err(|e| TemplateError {
            name,
            detail: e.to_string(),
        })?;
    }
    Ok(env)
}

/// The template that words `particulars`.
fn template_of(particulars: &Particulars) -> &'static str {
    match particulars {
        Particulars::Extension { .. } => "records/extension",
        Particulars::Failure { .. } => "records/failure",
        Particulars::Departure { .. } => "records/departure",
        Particulars::BreakGlass => "records/break_glass",
        Particulars::OnCall { .. } => "records/on_call",
        Particulars::Alert { .. } => "records/alert",
        Particulars::FoundRemoved { .. } => "records/found_removed",
        Particulars::Revocation { .. } => "records/revocation",
    }
}

impl Templates {
    /// The audit log's `detail` of a notable action: "exec into payments/api (HTTP 101, audit ID
    /// …)".
    pub fn notable_record(&self, action: &NotableAction) -> Result<String, TemplateError> {
        self.record(
            "records/notable",
            context! { action => Value::from(Serde(action)) },
        )
    }

    /// The audit log's `detail` of a grant's final activity summary: every kind of request
    /// with its count.
    pub fn summary_record(
        &self,
        total: &Tally,
        report: &EndReport,
    ) -> Result<String, TemplateError> {
        let lines = total.lines(usize::MAX);
        let still_open = super::activity::streams_view(&report.streams, None);
        self.record(
            "records/summary",
            context! { lines => Value::from(Serde(lines)), still_open },
        )
    }

    /// The audit log's `detail` of the streams into pods still open after the access ended.
    pub fn still_open_record(
        &self,
        still_open: &[ReportedStream],
    ) -> Result<String, TemplateError> {
        let still_open = super::activity::streams_view(still_open, None);
        self.record("records/still_open", context! { still_open })
    }

    /// The audit log's `detail` of what a grant's subject left behind, by risk, with whether
    /// each still existed.
    pub fn leftovers_record(
        &self,
        leftovers: &[ReportedLeftover],
    ) -> Result<String, TemplateError> {
        self.record(
            "records/leftovers",
            context! { leftovers => super::activity::leftovers_view(leftovers) },
        )
    }

    /// The audit log's `detail` of a cleanup: what was marked reviewed, deleted or restarted.
    pub fn cleanup_record(&self, item: &Item, handled: &Handled) -> Result<String, TemplateError> {
        let (stream, leftover) = match item {
            Item::Stream(s) => {
                let view = super::activity::streams_view(std::slice::from_ref(s), None);
                (view.into_iter().next(), None)
            }
            Item::Leftover(l) => (None, Some(Value::from(Serde(l)))),
        };
        let how = handled.how.as_str();
        self.record("records/cleanup", context! { how, stream, leftover })
    }

    /// Words the `detail` of every entry of `journal` that waits for it, before the write that
    /// stores it; the particulars are not stored. Particulars no template can word are stored
    /// as data rather than lost.
    pub fn word_journal(&self, journal: &mut [AuditEvent]) {
        for event in journal.iter_mut().filter(|e| e.unworded()) {
            let Some(particulars) = event.particulars.take() else {
                continue;
            };
            let words = self.detail_record(&particulars).unwrap_or_else(|e| {
                error!(error = %e, kind = event.kind.as_str(), "cannot word an audit entry; stored as data");
                serde_json::to_string(&particulars).unwrap_or_default()
            });
            event.detail = Some(words);
        }
    }

    /// The audit log's `detail` of a lifecycle entry: "extension by 3600s", a failure, why the
    /// requester left…
    pub fn detail_record(&self, particulars: &Particulars) -> Result<String, TemplateError> {
        self.record(
            template_of(particulars),
            context! { p => Value::from(Serde(particulars)) },
        )
    }

    /// The audit log's `detail` of a repair by the reconciler.
    pub fn drift_record(&self, repair: &Repair) -> Result<String, TemplateError> {
        let repair = match repair {
            Repair::Delete { binding, drift } => context! {
                namespace => binding.namespace.clone(),
                name => binding.name.clone(),
                drift => drift.as_str(),
            },
            Repair::Rebind { .. } => context! { rebind => true },
        };
        self.record("records/drift", context! { repair })
    }

    fn record(&self, name: &'static str, ctx: Value) -> Result<String, TemplateError> {
        self.records
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| TemplateError {
                name,
                detail: format!("{e:#}"),
            })
    }
}
