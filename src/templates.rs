//! Every user-visible text, rendered from `templates/` (embedded at build time so the binary
//! stands alone). Templates produce Slack message JSON; the chat adapter sends it as it is.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::chat::Message;
use crate::domain::command::ParseError;
use crate::domain::grant::{Extension, Grant, Note, Rejection, Step};
use crate::domain::policy::{ApproverRef, Policy, RequestRefusal};
use crate::domain::reconcile::{Drift, Repair};
use crate::domain::retry::Alert;

const SOURCES: &[(&str, &str)] = &[
    (
        "approval_request",
        include_str!("../templates/slack/approval_request.json"),
    ),
    ("audit", include_str!("../templates/slack/audit.json")),
    (
        "request_received",
        include_str!("../templates/slack/request_received.json"),
    ),
    ("help", include_str!("../templates/slack/help.json")),
    (
        "request_refused",
        include_str!("../templates/slack/request_refused.json"),
    ),
    (
        "action_refused",
        include_str!("../templates/slack/action_refused.json"),
    ),
    (
        "extension_request",
        include_str!("../templates/slack/extension_request.json"),
    ),
    ("notify", include_str!("../templates/slack/notify.json")),
    ("list", include_str!("../templates/slack/list.json")),
    ("status", include_str!("../templates/slack/status.json")),
    ("alert", include_str!("../templates/slack/alert.json")),
    (
        "command_done",
        include_str!("../templates/slack/command_done.json"),
    ),
    (
        "request_modal",
        include_str!("../templates/slack/request_modal.json"),
    ),
    (
        "form_error",
        include_str!("../templates/slack/form_error.json"),
    ),
    ("drift", include_str!("../templates/slack/drift.json")),
    ("macros", include_str!("../templates/slack/macros.jinja")),
    ("kubeconfig", include_str!("../templates/kubeconfig.yaml")),
];

/// Why a submitted request form was refused.
pub enum FormProblem {
    Parse(ParseError),
    Policy(RequestRefusal),
    /// Our fault, not the form's: nothing was stored.
    Internal,
}

pub struct Templates {
    env: Environment<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {detail}")]
pub struct TemplateError {
    name: &'static str,
    detail: String,
}

/// Escapes the three characters Slack's mrkdwn treats as control characters, so user-typed text
/// cannot ping channels or forge links.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, ending in an ellipsis when cut, for Slack's per-field limits.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A Slack date token: shown in each reader's time zone, with RFC 3339 as the fallback text.
fn slack_time(at: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// How Slack shows each kind of approver: users and groups as mentions, emails as text.
fn mentions(approvers: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    approvers
        .into_iter()
        .map(|a| match ApproverRef::parse(a.as_ref()) {
            ApproverRef::User(id) => format!("<@{id}>"),
            ApproverRef::Group(id) => format!("<!subteam^{id}>"),
            ApproverRef::Email(email) | ApproverRef::Invalid(email) => slack_escape(email),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Serialize)]
struct GrantView<'a> {
    id: &'a str,
    state: &'static str,
    requester: &'a str,
    role: &'a str,
    cluster_role: &'a str,
    namespaces: &'a [String],
    cluster_wide: bool,
    /// Named only in multi-cluster setups.
    cluster: Option<&'a str>,
    duration: String,
    reason: &'a str,
    required_approvals: u32,
    approvals: Vec<&'a str>,
    approvers_text: String,
    denied_by: Option<&'a str>,
    ended_by: Option<&'a str>,
    subject: Option<&'a str>,
    review_deadline_slack: String,
    expires_at_slack: Option<String>,
    ended_at_slack: Option<String>,
    failure: Option<&'a str>,
    extension: Option<ExtensionView<'a>>,
    retry: Option<RetryView<'a>>,
}

/// A Kubernetes step that failed and waits to be tried again.
#[derive(Serialize)]
struct RetryView<'a> {
    effect: &'static str,
    failures: u32,
    error: &'a str,
    next_at_slack: String,
}

#[derive(Serialize)]
struct ExtensionView<'a> {
    by: String,
    state: &'static str,
    required_approvals: u32,
    approvals: Vec<&'a str>,
    approvers_text: String,
    denied_by: Option<&'a str>,
}

impl<'a> ExtensionView<'a> {
    fn of(x: &'a Extension) -> Self {
        ExtensionView {
            by: human(Duration::from_secs(x.by_secs)),
            state: match x.state {
                crate::domain::grant::ExtensionState::Pending => "pending",
                crate::domain::grant::ExtensionState::Approved => "approved",
                crate::domain::grant::ExtensionState::Denied => "denied",
            },
            required_approvals: x.required_approvals,
            approvals: x.approvals.iter().map(|a| a.by.as_str()).collect(),
            approvers_text: mentions(x.approvals.iter().map(|a| &a.by)),
            denied_by: x.denial.as_ref().map(|d| d.by.as_str()),
        }
    }
}

impl<'a> GrantView<'a> {
    fn of(g: &'a Grant) -> Self {
        GrantView {
            id: &g.id,
            state: g.state.as_str(),
            requester: &g.requester,
            role: &g.role,
            cluster_role: &g.cluster_role,
            namespaces: g.scope.namespaces(),
            cluster_wide: g.scope.is_cluster(),
            cluster: (g.cluster != crate::domain::grant::DEFAULT_CLUSTER)
                .then_some(g.cluster.as_str()),
            duration: human(Duration::from_secs(g.duration_secs)),
            reason: &g.reason,
            required_approvals: g.required_approvals,
            approvals: g.approvals.iter().map(|a| a.by.as_str()).collect(),
            approvers_text: mentions(g.approvals.iter().map(|a| &a.by)),
            denied_by: g.denial.as_ref().map(|d| d.by.as_str()),
            ended_by: g.ended_by.as_ref().map(|d| d.by.as_str()),
            subject: g.subject.as_deref(),
            review_deadline_slack: slack_time(g.review_deadline),
            expires_at_slack: g.expires_at.map(slack_time),
            ended_at_slack: g.ended_at.map(slack_time),
            failure: g.failure.as_deref(),
            extension: g.extension.as_ref().map(ExtensionView::of),
            retry: g.retry.as_ref().map(|r| RetryView {
                effect: r.effect.kind(),
                failures: r.failures,
                error: &r.last_error,
                next_at_slack: slack_time(r.next_at),
            }),
        }
    }
}

#[derive(Serialize)]
struct RoleView<'a> {
    name: &'a str,
    cluster_role: &'a str,
    namespaces: &'a [String],
    default_duration: String,
    max_duration: String,
    approvals: u32,
    ticket: Option<&'a str>,
}

fn roles(policy: &Policy) -> Vec<RoleView<'_>> {
    policy
        .roles
        .iter()
        .map(|(name, r)| RoleView {
            name,
            cluster_role: &r.cluster_role,
            namespaces: &r.namespaces,
            default_duration: human(r.default_duration()),
            max_duration: human(r.max_duration),
            approvals: r.approvals,
            ticket: r.reason.ticket.as_deref(),
        })
        .collect()
}

impl Templates {
    pub fn new() -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.add_filter("esc", |s: String| slack_escape(&s));
        env.add_filter("clip", |s: String, max: usize| clip(&s, max));
        for (name, source) in SOURCES {
            env.add_template(name, source).map_err(|e| TemplateError {
                name,
                detail: e.to_string(),
            })?;
        }
        Ok(Templates { env })
    }

    fn render(&self, name: &'static str, ctx: Value) -> Result<Message, TemplateError> {
        let fail = |detail: String| TemplateError { name, detail };
        let text = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| fail(format!("{e:#}")))?;
        let json = serde_json::from_str(&text)
            .map_err(|e| fail(format!("rendered invalid JSON ({e}): {text}")))?;
        Ok(Message(json))
    }

    pub fn approval_message(&self, grant: &Grant) -> Result<Message, TemplateError> {
        self.render(
            "approval_request",
            context! { grant => Value::from(Serde(GrantView::of(grant))) },
        )
    }

    /// One lifecycle step, for the audit channel and the approval thread.
    pub fn step(&self, grant: &Grant, step: Step) -> Result<Message, TemplateError> {
        self.render(
            "audit",
            context! { grant => Value::from(Serde(GrantView::of(grant))), step => step.as_str() },
        )
    }

    pub fn extension_message(&self, grant: &Grant) -> Result<Message, TemplateError> {
        self.render(
            "extension_request",
            context! { grant => Value::from(Serde(GrantView::of(grant))) },
        )
    }

    /// A direct message to the requester; a reminder offers to extend by `extend_by`, if any.
    pub fn note(
        &self,
        grant: &Grant,
        note: Note,
        extend_by: Option<Duration>,
    ) -> Result<Message, TemplateError> {
        self.render(
            "notify",
            context! {
                grant => Value::from(Serde(GrantView::of(grant))),
                note => note.as_str(),
                extend_by => extend_by.map(human),
            },
        )
    }

    pub fn list(&self, mine: &[Grant], waiting: &[Grant]) -> Result<Message, TemplateError> {
        let views = |grants: &[Grant]| {
            Value::from(Serde(grants.iter().map(GrantView::of).collect::<Vec<_>>()))
        };
        self.render(
            "list",
            context! { mine => views(mine), waiting => views(waiting) },
        )
    }

    pub fn status(&self, grant: &Grant) -> Result<Message, TemplateError> {
        self.render(
            "status",
            context! { grant => Value::from(Serde(GrantView::of(grant))) },
        )
    }

    /// `action` is `cancel`, `revoke` or `extend`.
    pub fn command_done(&self, action: &str, grant: &Grant) -> Result<Message, TemplateError> {
        self.render(
            "command_done",
            context! { action, grant => Value::from(Serde(GrantView::of(grant))) },
        )
    }

    pub fn request_received(
        &self,
        grant: &Grant,
        approvers: &[String],
    ) -> Result<Message, TemplateError> {
        self.render(
            "request_received",
            context! { grant => Value::from(Serde(GrantView::of(grant))), approvers_text => mentions(approvers) },
        )
    }

    pub fn help(&self, policy: &Policy) -> Result<Message, TemplateError> {
        let example = policy
            .roles
            .iter()
            .next()
            .map(|(name, r)| {
                let ns = r
                    .namespaces
                    .first()
                    .map(String::as_str)
                    .unwrap_or("default");
                format!("{name} {ns} 1h INC-123 investigating")
            })
            .unwrap_or_default();
        self.render(
            "help",
            context! { roles => Value::from(Serde(roles(policy))), example => example },
        )
    }

    pub fn parse_refused(
        &self,
        error: &ParseError,
        policy: &Policy,
    ) -> Result<Message, TemplateError> {
        let (what, text) = match error {
            ParseError::Missing(what) => (*what, ""),
            ParseError::BadDuration(text) => ("", text.as_str()),
            ParseError::ZeroDuration => ("", ""),
        };
        self.render(
            "request_refused",
            context! { problem => error.kind(), what, text, roles => Value::from(Serde(roles(policy))) },
        )
    }

    pub fn policy_refused(
        &self,
        refusal: &RequestRefusal,
        policy: &Policy,
    ) -> Result<Message, TemplateError> {
        let ctx = self.refusal_context(refusal);
        self.render(
            "request_refused",
            context! { roles => Value::from(Serde(roles(policy))), ..ctx },
        )
    }

    fn refusal_context(&self, refusal: &RequestRefusal) -> Value {
        let problem = refusal.kind();
        match refusal {
            RequestRefusal::UnknownRole { role, allowed } => context! { problem, role, allowed },
            RequestRefusal::NamespaceNotAllowed {
                role,
                namespace,
                allowed,
            } => context! { problem, role, namespace, allowed },
            RequestRefusal::TooLong {
                role,
                requested,
                max,
            } => context! {
                problem, role, requested => human(*requested), max => human(*max)
            },
            RequestRefusal::ReasonRequired { role } => context! { problem, role },
            RequestRefusal::TicketRequired { role, pattern } => context! { problem, role, pattern },
            RequestRefusal::RateLimited { max, per, next_at } => context! {
                problem, max, per => human(*per), next_at => slack_time(*next_at)
            },
            RequestRefusal::ReasonTooLong { max_chars } => context! { problem, max_chars },
            RequestRefusal::ClusterNotChosen {
                role,
                asked,
                allowed,
            } => context! { problem, role, asked, allowed },
        }
    }

    /// The kubeconfig file for a token-issuing grant. The token is only passed through.
    pub fn kubeconfig(
        &self,
        grant: &Grant,
        cluster: &crate::config::KubeconfigSettings,
        token: &str,
    ) -> Result<String, TemplateError> {
        self.env
            .get_template("kubeconfig")
            .and_then(|t| {
                t.render(context! {
                    cluster_name => &cluster.cluster_name,
                    server => &cluster.server,
                    certificate_authority_data => &cluster.certificate_authority_data,
                    user_name => grant.binding_name(),
                    namespace => grant.scope.namespaces().first(),
                    token,
                })
            })
            .map_err(|e| TemplateError {
                name: "kubeconfig",
                detail: e.to_string(),
            })
    }

    /// The audit post for a Kubernetes effect that keeps failing, or recovered after it did.
    pub fn alert(&self, grant: &Grant, alert: &Alert) -> Result<Message, TemplateError> {
        self.render(
            "alert",
            context! {
                grant => Value::from(Serde(GrantView::of(grant))),
                alert => Value::from(Serde(alert)),
                binding => grant.binding_name(),
                since => slack_time(alert.since),
            },
        )
    }

    /// The audit post for one drift the reconciler repaired.
    pub fn drift(
        &self,
        repair: &Repair,
        grants: &std::collections::HashMap<String, Grant>,
    ) -> Result<Message, TemplateError> {
        match repair {
            Repair::Delete { binding, drift } => {
                let grant_id = binding.grant_id.as_deref().unwrap_or("");
                let state = match drift {
                    Drift::GrantEnded(state) => state.as_str(),
                    _ => "",
                };
                self.render(
                    "drift",
                    context! {
                        repair => "delete",
                        drift => drift.as_str(),
                        namespace => binding.namespace.as_deref(),
                        name => &binding.name,
                        grant_id,
                        state,
                    },
                )
            }
            Repair::Rebind { grant_id } => {
                let grant = grants.get(grant_id);
                self.render(
                    "drift",
                    context! {
                        repair => "rebind",
                        grant_id,
                        namespace => grant.and_then(|g| g.scope.namespaces().first()),
                        name => grant.map(Grant::binding_name),
                        requester => grant.map(|g| g.requester.as_str()),
                    },
                )
            }
        }
    }

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

    pub fn internal_error_on_request(&self, policy: &Policy) -> Result<Message, TemplateError> {
        self.render(
            "request_refused",
            context! { problem => "internal", roles => Value::from(Serde(roles(policy))) },
        )
    }

    pub fn action_refused(
        &self,
        rejection: &Rejection,
        grant: &Grant,
        policy: &Policy,
    ) -> Result<Message, TemplateError> {
        let state = match rejection {
            Rejection::WrongState { state } => state.as_str(),
            _ => grant.state.as_str(),
        };
        let (max, left) = match rejection {
            Rejection::ExtensionTooLong {
                max_secs,
                left_secs,
            } => (
                human(Duration::from_secs(*max_secs)),
                human(Duration::from_secs(*left_secs)),
            ),
            _ => (String::new(), String::new()),
        };
        self.render(
            "action_refused",
            context! {
                problem => rejection.kind(),
                grant_id => &grant.id,
                role => &grant.role,
                requester => &grant.requester,
                state,
                max,
                left,
                approvers_text => mentions(policy.approvers_for(&grant.role)),
            },
        )
    }

    pub fn unknown_grant(&self, grant_id: &str) -> Result<Message, TemplateError> {
        self.render(
            "action_refused",
            context! { problem => "unknown_grant", grant_id },
        )
    }

    pub fn internal_error_on_action(&self, grant_id: &str) -> Result<Message, TemplateError> {
        self.render(
            "action_refused",
            context! { problem => "internal", grant_id },
        )
    }
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;
