//! Slack's request form (a modal) and its inline errors.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::views::roles;
use super::{FormProblem, Message, TemplateError, Templates};
use crate::domain::policy::Policy;

impl Templates {
    /// The request form; namespaces are a picker unless a role allows a pattern.
    pub fn request_modal(&self, policy: &Policy, channel: &str) -> Result<Message, TemplateError> {
        let mut namespaces: Vec<String> = policy
            .roles
            .values()
            .flat_map(|r| r.namespaces.iter().cloned())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        let namespace_patterns = namespaces.iter().any(|ns| ns.contains(['*', '?']));
        self.render(
            "request_modal",
            context! {
                roles => Value::from(Serde(roles(policy))),
                namespaces,
                namespace_patterns,
                channel,
                max_reason => crate::domain::policy::MAX_REASON_CHARS,
            },
        )
    }

    /// The inline error for a refused form: which field, and what to write there.
    pub fn form_error(&self, problem: &FormProblem) -> Result<(String, String), TemplateError> {
        let ctx = match problem {
            FormProblem::Policy(refusal) => self.refusal_context(refusal),
            FormProblem::Parse(error) => context! { problem => error.kind() },
            FormProblem::Internal => context! { problem => "internal" },
        };
        let message = self.render("form_error", ctx)?;
        let field = |k: &str| message.0[k].as_str().unwrap_or_default().to_string();
        Ok((field("block"), field("text")))
    }
}
