//! Every user-visible text, rendered from `templates/` (embedded at build time so the binary
//! stands alone). Each platform has its own set: Slack message JSON in `templates/slack/`, Bot
//! Framework activities in `templates/teams/`; the chat adapter sends them as they are.

use std::time::Duration;

use minijinja::value::Serde;
use minijinja::{Environment, Value, context};

use crate::chat::Message;
use crate::domain::command::ParseError;
use crate::domain::grant::{Grant, Note, Step};
use crate::domain::policy::{Policy, RequestRefusal};
use crate::domain::reconcile::{Drift, Repair};
use crate::domain::retry::Alert;

mod views;

mod sources;

mod incident;

mod form;

mod activity;

mod markup;

mod records;

mod refusals;

mod operator;
pub use operator::operator_says;

pub use crate::chat::Platform;
use views::{
    DecisionView, DigestView, GrantView, HomeGrantView, human, mentions, roles, shown_time,
};

/// Grants the App Home shows in each of its lists.
const HOME_LIST_MAX: usize = 20;

/// Grants the digest lists by name in each list; the rest are counted.
const DIGEST_LIST_MAX: usize = 15;

/// Why a submitted request form was refused.
pub enum FormProblem {
    Parse(ParseError),
    Policy(RequestRefusal),
    /// Our fault, not the form's: nothing was stored.
    Internal,
}

/// What is said when a template cannot render.
pub fn last_resort_text() -> &'static str {
    sources::LAST_RESORT.trim_end()
}

/// [`last_resort_text`] as a message every platform takes.
pub fn last_resort() -> Message {
    Message(serde_json::json!({ "text": last_resort_text() }))
}

pub struct Templates {
    env: Environment<'static>,
    platform: Platform,
    /// The audit log's plain-text entries (see `records`).
    records: Environment<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {detail}")]
pub struct TemplateError {
    name: &'static str,
    detail: String,
}

impl Templates {
    /// Slack's templates.
    pub fn new() -> Result<Self, TemplateError> {
        Templates::for_platform(Platform::Slack)
    }

    /// The templates of `platform`: Block Kit for Slack, Bot Framework activities with Adaptive
    /// Cards for Teams. Both see the same views, formatted for their platform.
    pub fn for_platform(platform: Platform) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        markup::install(&mut env, platform);
        for (name, source) in sources::of(platform) {
            env.add_template(name, source).map_err(|e| TemplateError {
                name,
                detail: e.to_string(),
            })?;
        }
        Ok(Templates {
            env,
            platform,
            records: records::environment()?,
        })
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

    pub fn platform(&self) -> Platform {
        self.platform
    }

    pub fn approval_message(&self, grant: &Grant) -> Result<Message, TemplateError> {
        self.render(
            "approval_request",
            context! { grant => Value::from(Serde(GrantView::of(grant, self.platform))) },
        )
    }

    /// One lifecycle step, for the audit channel (with a link to the approval message) and the
    /// approval thread (`in_thread`: without one).
    pub fn step(
        &self,
        grant: &Grant,
        step: Step,
        in_thread: bool,
    ) -> Result<Message, TemplateError> {
        self.render(
            "audit",
            context! {
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                step => step.as_str(),
                in_thread,
                link => (!in_thread).then(|| grant.approval_message.as_ref()?.permalink.clone()).flatten(),
            },
        )
    }

    pub fn extension_message(&self, grant: &Grant) -> Result<Message, TemplateError> {
        self.render(
            "extension_request",
            context! { grant => Value::from(Serde(GrantView::of(grant, self.platform))) },
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
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                note => note.as_str(),
                extend_by => extend_by.map(human),
            },
        )
    }

    pub fn list(&self, mine: &[Grant], waiting: &[Grant]) -> Result<Message, TemplateError> {
        let views = |grants: &[Grant]| {
            Value::from(Serde(
                grants
                    .iter()
                    .map(|g| GrantView::of(g, self.platform))
                    .collect::<Vec<_>>(),
            ))
        };
        self.render(
            "list",
            context! { mine => views(mine), waiting => views(waiting) },
        )
    }

    pub fn status(&self, grant: &Grant) -> Result<Message, TemplateError> {
        self.status_with_activity(grant, None)
    }

    /// `action` is `cancel`, `revoke` or `extend`.
    pub fn command_done(&self, action: &str, grant: &Grant) -> Result<Message, TemplateError> {
        self.render(
            "command_done",
            context! { action, grant => Value::from(Serde(GrantView::of(grant, self.platform))) },
        )
    }

    pub fn request_received(
        &self,
        grant: &Grant,
        approvers: &[String],
    ) -> Result<Message, TemplateError> {
        self.render(
            "request_received",
            context! { grant => Value::from(Serde(GrantView::of(grant, self.platform))), approvers_text => mentions(self.platform, approvers) },
        )
    }

    pub fn help(&self, policy: &Policy) -> Result<Message, TemplateError> {
        let example = policy.roles.iter().next().map(|(role, r)| {
            let namespace = r.namespaces.first().map_or("default", String::as_str);
            context! { role, namespace }
        });
        self.render(
            "help",
            context! { roles => Value::from(Serde(roles(policy))), example => example },
        )
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
                grant => Value::from(Serde(GrantView::of(grant, self.platform))),
                alert => Value::from(Serde(alert)),
                binding => grant.binding_name(),
                since => shown_time(self.platform, alert.since),
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

    /// The App Home tab: the user's grants, what waits for them, their recent decisions (at
    /// most `HOME_LIST_MAX` of the first two; the view holds 100 blocks).
    pub fn home(
        &self,
        mine: &[Grant],
        waiting: &[Grant],
        left: &[(Grant, crate::domain::activity::EndReport)],
        decisions: &[crate::domain::audit::AuditEntry],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Message, TemplateError> {
        let cleanup = activity::left_views(left, self.platform);
        let mine: Vec<_> = mine
            .iter()
            .take(HOME_LIST_MAX)
            .map(|g| HomeGrantView::of(g, now, self.platform))
            .collect();
        let waiting: Vec<_> = waiting
            .iter()
            .take(HOME_LIST_MAX)
            .map(|g| GrantView::of(g, self.platform))
            .collect();
        let decisions: Vec<_> = decisions
            .iter()
            .map(|e| DecisionView::of(e, self.platform))
            .collect();
        self.render(
            "home",
            context! {
                mine => Value::from(Serde(mine)),
                waiting => Value::from(Serde(waiting)),
                cleanup,
                decisions => Value::from(Serde(decisions)),
            },
        )
    }

    /// The daily digest for the audit channel.
    pub fn digest(&self, digest: &crate::domain::digest::Digest) -> Result<Message, TemplateError> {
        self.render(
            "digest",
            context! { digest => Value::from(Serde(DigestView::of(digest, DIGEST_LIST_MAX, self.platform))) },
        )
    }

    /// Teams: to a sender who cannot be named (no UPN or email, or another organisation's).
    pub fn unidentified_sender(&self) -> Result<Message, TemplateError> {
        self.render("unidentified", context! {})
    }
}

#[cfg(test)]
mod tests;
