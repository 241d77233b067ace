//! The answers that refuse: a command that does not parse, a request the policy refuses, a
//! click that is not allowed, an unknown grant, and what is said when something broke.

use minijinja::{Value, context};

use std::time::Duration;

use super::views::{human, mentions, roles, shown_time};
use super::{Message, TemplateError, Templates};
use crate::domain::activity::{CleanupRefusal, ObjectRef};
use crate::domain::command::ParseError;
use crate::domain::grant::{Grant, Rejection};
use crate::domain::identity::IdentityRefusal;
use crate::domain::policy::{Policy, RequestRefusal};
use minijinja::value::Serde;

impl Templates {
    pub fn parse_refused(
        &self,
        error: &ParseError,
        policy: &Policy,
    ) -> Result<Message, TemplateError> {
        let (what, text) = match error {
            ParseError::Missing(part) => (part.key(), ""),
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
            context! {
                roles => Value::from(Serde(roles(policy))),
                incident_channels => &policy.incidents.channels,
                incident_patterns => &policy.incidents.name_patterns,
                ..ctx
            },
        )
    }

    pub(super) fn refusal_context(&self, refusal: &RequestRefusal) -> Value {
        let problem = refusal.kind();
        match refusal {
            RequestRefusal::UnknownRole { role, allowed } => context! { problem, role, allowed },
            RequestRefusal::NamespaceNotAllowed {
                role,
                namespace,
                allowed,
            } => context! { problem, role, namespace, allowed },
            RequestRefusal::NamespaceNeverGranted { role, namespace } => {
                context! { problem, role, namespace }
            }
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
                problem, max, per => human(*per), next_at => shown_time(self.platform, *next_at)
            },
            RequestRefusal::ReasonTooLong { max_chars } => context! { problem, max_chars },
            RequestRefusal::ClusterNotChosen {
                role,
                asked,
                allowed,
            } => context! { problem, role, asked, allowed },
            RequestRefusal::BreakGlassOutsideIncident { role } => context! { problem, role },
            RequestRefusal::BreakGlassChannelTooNew { role, min_age } => {
                context! { problem, role, min_age => human(*min_age) }
            }
            RequestRefusal::BreakGlassWithoutIncident { role, pattern } => {
                context! { problem, role, pattern }
            }
            RequestRefusal::Identity(IdentityRefusal::EmailDomain { domain, allowed }) => {
                context! { problem, domain, allowed }
            }
            RequestRefusal::Identity(_) => context! { problem },
        }
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
            Rejection::BreakGlassTooLong { max_secs } => {
                (human(Duration::from_secs(*max_secs)), String::new())
            }
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
                approvers_text => mentions(self.platform, policy.approvers_for(&grant.role)),
            },
        )
    }

    pub fn unknown_grant(&self, grant_id: &str) -> Result<Message, TemplateError> {
        self.render(
            "action_refused",
            context! { problem => "unknown_grant", grant_id },
        )
    }

    pub fn internal_error_on_request(&self, policy: &Policy) -> Result<Message, TemplateError> {
        self.render(
            "request_refused",
            context! { problem => "internal", roles => Value::from(Serde(roles(policy))) },
        )
    }

    pub fn internal_error_on_action(&self, grant_id: &str) -> Result<Message, TemplateError> {
        self.render(
            "action_refused",
            context! { problem => "internal", grant_id },
        )
    }

    /// Why an approver's cleanup click changed nothing.
    pub fn cleanup_refused(
        &self,
        refusal: &CleanupRefusal,
        grant_id: &str,
    ) -> Result<Message, TemplateError> {
        let handled = match refusal {
            CleanupRefusal::AlreadyHandled(handled) => Some(handled),
            _ => None,
        };
        self.render(
            "action_refused",
            context! {
                problem => refusal.kind(),
                grant_id,
                handled_by => handled.map(|h| h.by.clone()),
                handled_how => handled.map(|h| h.how.as_str()),
            },
        )
    }

    /// The cluster refused a cleanup's deletion of `object`: why, and the command for someone
    /// allowed to.
    pub fn cleanup_not_done(
        &self,
        why: &str,
        object: &ObjectRef,
        grant_id: &str,
    ) -> Result<Message, TemplateError> {
        self.render(
            "action_refused",
            context! {
                problem => "cleanup_not_done",
                grant_id,
                why,
                object => Value::from(Serde(object)),
            },
        )
    }
}
