//! Builders for the unit tests: the moment every test clock starts at, policies written as YAML,
//! and grants made the way the application makes them (a request the policy accepted, then the
//! state machine's own transitions), so a test names only what it is about.

use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};

use super::command::RequestArgs;
use super::grant::{DEFAULT_CLUSTER, Event, Grant};
use super::identity::Identity;
use super::incident::IncidentContext;
use super::lifecycle::NewRequest;
use super::on_call::{OnCallPlace, OnCallProvider};
use super::policy::Policy;

/// 09:00 UTC on 23 November 2026, where every unit test's clock starts.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

pub(crate) fn minutes(m: i64) -> ChronoDuration {
    ChronoDuration::minutes(m)
}

/// A policy written as YAML; one that does not parse fails the test, showing the YAML.
pub(crate) fn policy_from(yaml: &str) -> Policy {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

/// The policy most tests run under: reviews time out after 1h, reminders come 15m before
/// expiry; edit allows 4h in payments and orders, admin 1h with 2 approvals from its own SREs.
pub(crate) const EXAMPLE_POLICY: &str = r#"
approvers: [UBOB, UCAROL]
requests:
  review_timeout: 1h
  reminder_before: 15m
roles:
  edit:
    cluster_role: edit
    namespaces: [payments, orders]
    max_duration: 4h
  admin:
    cluster_role: admin
    namespaces: [payments]
    max_duration: 1h
    approvers: [USRE1, USRE2]
    approvals: 2
  debug:
    cluster_role: view
    namespaces: ["team-*"]
    max_duration: 8h
    default_duration: 30m
    approvals_channel: C0TEAMS
    reason:
      required: true
      ticket: "(INC|CHG)-[0-9]+"
  peek:
    cluster_role: view
    namespaces: [payments]
    max_duration: 30m
    reason:
      required: false
  nodes:
    cluster_role: node-reader
    scope: cluster
    max_duration: 1h
"#;

pub(crate) fn example_policy() -> Policy {
    policy_from(EXAMPLE_POLICY)
}

/// What `policy check` reports for the policy written as `yaml`, one line a problem.
pub(crate) fn policy_problems(yaml: &str) -> Vec<String> {
    policy_from(yaml)
        .problems()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

/// Fails, showing every problem, unless one of `problems` starts with `start`.
pub(crate) fn assert_problem_starting(problems: &[String], start: &str) {
    assert!(
        problems.iter().any(|p| p.starts_with(start)),
        "{problems:?}"
    );
}

/// Fails, showing every problem, unless one of `problems` contains `text`.
pub(crate) fn assert_problem_containing(problems: &[String], text: &str) {
    assert!(problems.iter().any(|p| p.contains(text)), "{problems:?}");
}

pub(crate) fn approve(by: &str) -> Event {
    Event::Approve {
        approver: by.into(),
    }
}

pub(crate) fn deny(by: &str) -> Event {
    Event::Deny {
        approver: by.into(),
    }
}

pub(crate) fn cancel(by: &str) -> Event {
    Event::Cancel { by: by.into() }
}

pub(crate) fn revoke(by: &str) -> Event {
    Event::Revoke { by: by.into() }
}

pub(crate) fn approve_extension(by: &str) -> Event {
    Event::ApproveExtension {
        approver: by.into(),
    }
}

pub(crate) fn deny_extension(by: &str) -> Event {
    Event::DenyExtension {
        approver: by.into(),
    }
}

/// A grant for a test, built with `Grant::test()` and the setters a test is about.
pub(crate) struct GrantBuilder {
    id: String,
    role: String,
    duration: Option<Duration>,
    reason: String,
    requested_in: String,
    incident: Option<IncidentContext>,
    policy: Policy,
}

impl Grant {
    /// alice (`UALICE`, bound as `oidc:alice@example.com`) asks in `CDEV` at `t0()` for `edit`
    /// in payments for 2h (or the role's maximum, if shorter) because of a "stuck queue", under
    /// the example policy.
    pub(crate) fn test() -> GrantBuilder {
        GrantBuilder {
            id: "abc123".into(),
            role: "edit".into(),
            duration: None,
            reason: "stuck queue".into(),
            requested_in: "CDEV".into(),
            incident: None,
            policy: example_policy(),
        }
    }
}

impl GrantBuilder {
    pub(crate) fn id(mut self, id: &str) -> Self {
        self.id = id.into();
        self
    }

    pub(crate) fn role(mut self, role: &str) -> Self {
        self.role = role.into();
        self
    }

    pub(crate) fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    pub(crate) fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.into();
        self
    }

    pub(crate) fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Asked in the incident channel `channel`, and so decided there.
    pub(crate) fn in_incident(mut self, channel: &str, incident: IncidentContext) -> Self {
        self.requested_in = channel.into();
        self.incident = Some(incident);
        self
    }

    /// The request as the policy accepted it at `t0()`, its first effects and audit event on it.
    pub(crate) fn requested(self) -> Grant {
        let rule = &self.policy.roles[&self.role];
        let duration = self
            .duration
            .unwrap_or_else(|| Duration::from_secs(7200).min(rule.max_duration));
        let args = RequestArgs {
            role: self.role.clone(),
            namespace: "payments".into(),
            duration: Some(duration),
            reason: self.reason.clone(),
        };
        let terms = self
            .policy
            .evaluate(&args, &[DEFAULT_CLUSTER.to_string()])
            .unwrap_or_else(|refusal| panic!("the policy refuses the test grant: {refusal:?}"));
        let new = NewRequest {
            id: self.id,
            requester: "UALICE",
            requested_in: &self.requested_in,
            identity: Identity::user("oidc:alice@example.com"),
            incident: self.incident,
            reason: &self.reason,
            terms,
        };
        Grant::request(new, t0(), &self.policy)
    }

    /// Approved by as many of the role's approvers as it needs and bound at `t0()`, until
    /// `expires_at`; the effects of getting there are still in its outbox.
    pub(crate) fn active_until(self, expires_at: DateTime<Utc>) -> Grant {
        let policy = self.policy.clone();
        let requested = self.requested();
        let needed = requested.required_approvals as usize;
        let approvers = policy.approvers_for(&requested.role).iter().take(needed);
        let approved = approvers.fold(requested, |grant, approver| {
            grant.apply(&approve(approver), t0(), &policy).unwrap()
        });
        let bound = Event::Bound {
            subject: "oidc:alice@example.com".into(),
            groups: vec![],
            expires_at,
            before: None,
        };
        approved.apply(&bound, t0(), &policy).unwrap()
    }
}

/// PagerDuty schedule `id`, named `name` in PagerDuty's answer.
pub(crate) fn pagerduty_schedule(id: &str, name: &str) -> OnCallPlace {
    OnCallPlace::Schedule {
        provider: OnCallProvider::Pagerduty,
        id: id.into(),
        name: Some(name.into()),
    }
}
