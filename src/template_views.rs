//! What the templates see: grants, extensions and roles as views, and the formatting helpers
//! (Slack escaping, durations, dates, mentions) they share.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::grant::{Extension, Grant};
use crate::domain::policy::{ApproverRef, Policy};

pub(super) fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, ending in an ellipsis when cut, for Slack's per-field limits.
pub(super) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

pub(super) fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A Slack date token: shown in each reader's time zone, with RFC 3339 as the fallback text.
pub(super) fn slack_time(at: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// How Slack shows each kind of approver: users and groups as mentions, emails as text.
pub(super) fn mentions(approvers: impl IntoIterator<Item = impl AsRef<str>>) -> String {
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
pub(super) struct GrantView<'a> {
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
pub(super) struct RetryView<'a> {
    effect: &'static str,
    failures: u32,
    error: &'a str,
    next_at_slack: String,
}

#[derive(Serialize)]
pub(super) struct ExtensionView<'a> {
    by: String,
    state: &'static str,
    required_approvals: u32,
    approvals: Vec<&'a str>,
    approvers_text: String,
    denied_by: Option<&'a str>,
}

impl<'a> ExtensionView<'a> {
    pub(super) fn of(x: &'a Extension) -> Self {
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
    pub(super) fn of(g: &'a Grant) -> Self {
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
pub(super) struct RoleView<'a> {
    name: &'a str,
    cluster_role: &'a str,
    namespaces: &'a [String],
    default_duration: String,
    max_duration: String,
    approvals: u32,
    ticket: Option<&'a str>,
}

pub(super) fn roles(policy: &Policy) -> Vec<RoleView<'_>> {
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

/// A grant as the digest lists it.
#[derive(Serialize)]
pub(super) struct DigestGrantView<'a> {
    id: &'a str,
    requester: &'a str,
    role: &'a str,
    namespaces: &'a [String],
    cluster_wide: bool,
    cluster: Option<&'a str>,
    reason: &'a str,
    incident: Option<&'a str>,
    outcome: &'static str,
    approvers_text: String,
    expires_at_slack: Option<String>,
}

/// The digest's lists, at most `max` each, and how many did not fit.
#[derive(Serialize)]
pub(super) struct DigestView<'a> {
    since_slack: String,
    until_slack: String,
    counts: &'a std::collections::BTreeMap<&'static str, usize>,
    requested: Vec<DigestGrantView<'a>>,
    more_requested: usize,
    active: Vec<DigestGrantView<'a>>,
    more_active: usize,
    chain: &'a crate::domain::digest::ChainState,
}

fn cluster_name(cluster: &str) -> Option<&str> {
    (cluster != crate::domain::grant::DEFAULT_CLUSTER && !cluster.is_empty()).then_some(cluster)
}

impl<'a> DigestView<'a> {
    pub(super) fn of(d: &'a crate::domain::digest::Digest, max: usize) -> Self {
        let requested = d.requested.iter().take(max).map(|g| DigestGrantView {
            id: &g.id,
            requester: &g.requester,
            role: &g.role,
            namespaces: g.scope.namespaces(),
            cluster_wide: g.scope.is_cluster(),
            cluster: cluster_name(&g.cluster),
            reason: &g.reason,
            incident: g.incident.as_deref(),
            outcome: g.outcome,
            approvers_text: String::new(),
            expires_at_slack: None,
        });
        let active = d.active.iter().take(max).map(|g| DigestGrantView {
            id: &g.id,
            requester: &g.requester,
            role: &g.role,
            namespaces: g.scope.namespaces(),
            cluster_wide: g.scope.is_cluster(),
            cluster: cluster_name(&g.cluster),
            reason: "",
            incident: None,
            outcome: "granted",
            approvers_text: mentions(&g.approvers),
            expires_at_slack: g.expires_at.map(slack_time),
        });
        DigestView {
            since_slack: slack_time(d.since),
            until_slack: slack_time(d.until),
            counts: &d.counts,
            requested: requested.collect(),
            more_requested: d.requested.len().saturating_sub(max),
            active: active.collect(),
            more_active: d.active.len().saturating_sub(max),
            chain: &d.chain,
        }
    }
}

/// A grant on the App Home, with the time its access has left.
#[derive(Serialize)]
pub(super) struct HomeGrantView<'a> {
    #[serde(flatten)]
    grant: GrantView<'a>,
    left: Option<String>,
}

impl<'a> HomeGrantView<'a> {
    pub(super) fn of(g: &'a Grant, now: DateTime<Utc>) -> Self {
        let left = g
            .expires_at
            .filter(|_| g.state == crate::domain::grant::GrantState::Active)
            .map(|at| {
                // Whole minutes: the tab is a snapshot, seconds would only look precise.
                let minutes = (at - now).num_minutes().max(0).unsigned_abs();
                human(Duration::from_secs(minutes * 60).max(Duration::from_secs(60)))
            });
        HomeGrantView {
            grant: GrantView::of(g),
            left,
        }
    }
}

/// One of the user's recent decisions, from the audit log.
#[derive(Serialize)]
pub(super) struct DecisionView<'a> {
    kind: &'static str,
    grant: Option<&'a str>,
    requester: Option<&'a str>,
    role: Option<&'a str>,
    namespaces: &'a [String],
    cluster_wide: bool,
    cluster: Option<&'a str>,
    at_slack: String,
}

impl<'a> DecisionView<'a> {
    pub(super) fn of(e: &'a crate::domain::audit::AuditEntry) -> Self {
        let event = &e.event;
        let scope = event.scope.as_ref();
        DecisionView {
            kind: event.kind.as_str(),
            grant: event.grant.as_deref(),
            requester: event.requester.as_deref(),
            role: event.role.as_deref(),
            namespaces: scope.map(|s| s.namespaces()).unwrap_or(&[]),
            cluster_wide: scope.is_some_and(|s| s.is_cluster()),
            cluster: event.cluster.as_deref().and_then(cluster_name),
            at_slack: slack_time(event.at),
        }
    }
}
