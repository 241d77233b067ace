//! The audit log's words for session activity: plain text from `templates/records/`, with the
//! deeds worded by the same macros as the posts (`templates/deeds.jinja`).

use minijinja::value::{Serde, Value};
use minijinja::{Environment, context};

use super::{TemplateError, Templates};
use crate::domain::activity::{NotableAction, Tally};

/// The plain-text templates of audit-log entries, the same on every platform.
pub(super) fn environment() -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    for (name, source) in super::sources::RECORDS {
        env.add_template(name, source).map_err(|e| TemplateError {
            name,
            detail: e.to_string(),
        })?;
    }
    Ok(env)
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
    pub fn summary_record(&self, total: &Tally) -> Result<String, TemplateError> {
        let lines = total.lines(usize::MAX);
        self.record(
            "records/summary",
            context! { lines => Value::from(Serde(lines)) },
        )
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
