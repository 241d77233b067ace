//! What the templates see: grants, extensions and roles as views, and the formatting helpers
//! (Slack escaping, durations, dates, mentions) they share.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::Value;
use serde::{Serialize, Serializer};

use crate::chat::Platform;
use crate::domain::grant::{Extension, Failure, Grant};
use crate::domain::on_call::{OnCallCheck, OnCallFailure, OnCallPlace};
use crate::domain::policy::{ApproverRef, Policy};

/// Text already in the platform's markup: escaped text, mentions, date tokens. The Slack
/// templates' auto-escaping writes it as it is and escapes every other value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Markup(String);

impl Markup {
    pub(super) fn new(markup: String) -> Self {
        Markup(markup)
    }
}

impl Serialize for Markup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Value::from(self.clone()).serialize(serializer)
    }
}

impl From<Markup> for Value {
    fn from(markup: Markup) -> Value {
        Value::from_safe_string(markup.0)
    }
}

/// Escapes user-typed text so it cannot ping people, forge links or change the formatting:
/// Slack's three control characters; for Teams, the markdown that makes links, HTML and emphasis.
pub(super) fn escape(platform: Platform, text: &str) -> String {
    match platform {
        Platform::Slack => text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        Platform::Teams => {
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '&' => out.push_str("&amp;"),
                    '\\' | '*' | '_' | '[' | ']' | '`' | '#' | '~' => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out
        }
    }
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

/// A time as each platform shows it: in Slack a date token (each reader's time zone, RFC 3339
/// as the fallback text); in Teams, which has no such token in messages, the time in UTC.
pub(super) fn shown_time(platform: Platform, at: DateTime<Utc>) -> Markup {
    Markup(match platform {
        Platform::Slack => format!(
            "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            at.timestamp(),
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        Platform::Teams => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

/// How each platform shows approvers: in Slack users and groups as mentions, emails as text; in
/// Teams, where people are known by their email (UPN), as text.
pub(super) fn mentions(
    platform: Platform,
    approvers: impl IntoIterator<Item = impl AsRef<str>>,
) -> Markup {
    let shown: Vec<_> = approvers
        .into_iter()
        .map(|a| match (platform, ApproverRef::parse(a.as_ref())) {
            (Platform::Slack, ApproverRef::User(id)) => format!("<@{id}>"),
            (Platform::Slack, ApproverRef::Group(id)) => format!("<!subteam^{id}>"),
            _ => escape(platform, a.as_ref()),
        })
        .collect();
    Markup(shown.join(", "))
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
    approvers_text: Markup,
    denied_by: Option<&'a str>,
    ended_by: Option<&'a str>,
    /// Why it ended when its requester left: `deactivated`, `became_guest`, ….
    ended_because: Option<&'static str>,
    subject: Option<&'a str>,
    groups: &'a [String],
    /// What the requester's profile gives now, when it no longer gives `subject`.
    subject_drift: Option<&'a crate::domain::grant::SubjectDrift>,
    /// Approvals that stopped counting because their approver lost the right.
    lapsed_text: Option<Markup>,
    review_deadline_text: Markup,
    expires_at_text: Option<Markup>,
    ended_at_text: Option<Markup>,
    /// Why access could not be created, as the macro `failure` words it.
    failure: Option<&'a Failure>,
    kubeconfig_failure: Option<&'a Failure>,
    /// What the cluster said once the bindings were gone, as the macro `revocation` words it.
    revocation: Option<&'a crate::domain::revocation::Verification>,
    extension: Option<ExtensionView<'a>>,
    retry: Option<RetryView<'a>>,
    /// The incident it was requested for (a reference such as `INC-123`, or a link).
    incident: Option<&'a str>,
    /// The incident channel it was requested (and decided) in.
    incident_channel: Option<&'a str>,
    /// For a break-glass role: the longest the requester may approve themself.
    break_glass_cap: Option<String>,
    /// Longer than the requester may approve themself.
    over_break_glass_cap: bool,
    break_glass: Option<BreakGlassView<'a>>,
    /// The on-call lookup has still to answer.
    on_call_pending: bool,
    on_call: Option<OnCallView<'a>>,
}

/// A self-approved break-glass use and its review.
#[derive(Serialize)]
pub(super) struct BreakGlassView<'a> {
    at_text: Markup,
    reviewed_by: Option<&'a str>,
    reviewed_at_text: Option<Markup>,
    /// A link to the review request, once posted.
    review_link: Option<&'a str>,
}

/// What the on-call lookup found.
#[derive(Serialize)]
pub(super) struct OnCallView<'a> {
    /// `on_call`, `not_on_call` or `unavailable`.
    outcome: &'static str,
    /// Where the requester is on call, as the macro `on_call_place` words it.
    via: Option<&'a OnCallPlace>,
    /// Why it found no answer, as the macro `on_call_failure` words it.
    why: Option<&'a OnCallFailure>,
}

impl<'a> OnCallView<'a> {
    fn of(check: &'a OnCallCheck) -> Self {
        let (outcome, via, why) = match check {
            OnCallCheck::OnCall { via } => ("on_call", Some(via), None),
            OnCallCheck::NotOnCall => ("not_on_call", None, None),
            OnCallCheck::Unavailable { why } => ("unavailable", None, Some(why)),
        };
        OnCallView { outcome, via, why }
    }
}

/// A Kubernetes step that failed and waits to be tried again.
#[derive(Serialize)]
pub(super) struct RetryView<'a> {
    effect: &'static str,
    failures: u32,
    error: &'a str,
    next_at_text: Markup,
}

#[derive(Serialize)]
pub(super) struct ExtensionView<'a> {
    by: String,
    state: &'static str,
    required_approvals: u32,
    approvals: Vec<&'a str>,
    approvers_text: Markup,
    lapsed_text: Option<Markup>,
    denied_by: Option<&'a str>,
}

/// Who approved but no longer counts, as the platform mentions people; `None` for nobody.
fn lapsed_text(lapsed: &[crate::domain::grant::Decision], p: Platform) -> Option<Markup> {
    (!lapsed.is_empty()).then(|| mentions(p, lapsed.iter().map(|a| &a.by)))
}

impl<'a> ExtensionView<'a> {
    pub(super) fn of(x: &'a Extension, p: Platform) -> Self {
        ExtensionView {
            by: human(Duration::from_secs(x.by_secs)),
            state: match x.state {
                crate::domain::grant::ExtensionState::Pending => "pending",
                crate::domain::grant::ExtensionState::Approved => "approved",
                crate::domain::grant::ExtensionState::Denied => "denied",
            },
            required_approvals: x.required_approvals,
            approvals: x.approvals.iter().map(|a| a.by.as_str()).collect(),
            approvers_text: mentions(p, x.approvals.iter().map(|a| &a.by)),
            lapsed_text: lapsed_text(&x.lapsed_approvals, p),
            denied_by: x.denial.as_ref().map(|d| d.by.as_str()),
        }
    }
}

impl<'a> GrantView<'a> {
    pub(super) fn of(g: &'a Grant, p: Platform) -> Self {
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
            approvers_text: mentions(p, g.approvals.iter().map(|a| &a.by)),
            denied_by: g.denial.as_ref().map(|d| d.by.as_str()),
            ended_by: g.ended_by.as_ref().map(|d| d.by.as_str()),
            ended_because: g.ended_because.map(|why| why.as_str()),
            subject: g.subject.as_deref(),
            groups: &g.groups,
            subject_drift: g.subject_drift.as_ref(),
            lapsed_text: lapsed_text(&g.lapsed_approvals, p),
            review_deadline_text: shown_time(p, g.review_deadline),
            expires_at_text: g.expires_at.map(|at| shown_time(p, at)),
            ended_at_text: g.ended_at.map(|at| shown_time(p, at)),
            failure: g.failure.as_ref(),
            kubeconfig_failure: g.kubeconfig_failure.as_ref(),
            revocation: g.revocation.as_ref(),
            extension: g.extension.as_ref().map(|x| ExtensionView::of(x, p)),
            retry: g.retry.as_ref().map(|r| RetryView {
                effect: r.effect.kind(),
                failures: r.failures,
                error: &r.last_error,
                next_at_text: shown_time(p, r.next_at),
            }),
            incident: g.incident.as_ref().and_then(|i| i.reference.as_deref()),
            incident_channel: g.incident.as_ref().map(|i| i.channel.as_str()),
            break_glass_cap: g
                .break_glass_cap_secs
                .map(|secs| human(Duration::from_secs(secs))),
            over_break_glass_cap: g
                .break_glass_cap_secs
                .is_some_and(|cap| g.duration_secs > cap),
            on_call_pending: g
                .outbox
                .contains(&crate::domain::grant::Effect::CheckOnCall),
            break_glass: g.break_glass.as_ref().map(|b| BreakGlassView {
                at_text: shown_time(p, b.at),
                reviewed_by: b.review.as_ref().map(|r| r.by.as_str()),
                reviewed_at_text: b.review.as_ref().map(|r| shown_time(p, r.at)),
                review_link: b
                    .review_message
                    .as_ref()
                    .and_then(|m| m.permalink.as_deref()),
            }),
            on_call: g.on_call.as_ref().map(OnCallView::of),
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
    approvers_text: Markup,
    expires_at_text: Option<Markup>,
}

/// The digest's lists, at most `max` each, and how many did not fit.
#[derive(Serialize)]
pub(super) struct DigestView<'a> {
    since_text: Markup,
    until_text: Markup,
    counts: &'a std::collections::BTreeMap<&'static str, usize>,
    requested: Vec<DigestGrantView<'a>>,
    more_requested: usize,
    active: Vec<DigestGrantView<'a>>,
    more_active: usize,
    unreviewed: Vec<UnreviewedView<'a>>,
    more_unreviewed: usize,
    /// Access not proven ended: `outcome` is the entry's kind, `reason` its detail.
    unproven: Vec<DigestGrantView<'a>>,
    more_unproven: usize,
    chain: &'a crate::domain::digest::ChainState,
}

/// A break-glass use the digest lists as waiting for review.
#[derive(Serialize)]
pub(super) struct UnreviewedView<'a> {
    id: &'a str,
    requester: &'a str,
    role: &'a str,
    namespaces: &'a [String],
    cluster_wide: bool,
    cluster: Option<&'a str>,
    incident: Option<&'a str>,
    used_at_text: Markup,
    review_link: Option<&'a str>,
}

fn cluster_name(cluster: &str) -> Option<&str> {
    (cluster != crate::domain::grant::DEFAULT_CLUSTER && !cluster.is_empty()).then_some(cluster)
}

impl<'a> DigestView<'a> {
    pub(super) fn of(d: &'a crate::domain::digest::Digest, max: usize, p: Platform) -> Self {
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
            approvers_text: Markup::default(),
            expires_at_text: None,
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
            approvers_text: mentions(p, &g.approvers),
            expires_at_text: g.expires_at.map(|at| shown_time(p, at)),
        });
        let unproven = d.unproven.iter().take(max).map(|u| DigestGrantView {
            id: &u.id,
            requester: &u.requester,
            role: &u.role,
            namespaces: u.scope.namespaces(),
            cluster_wide: u.scope.is_cluster(),
            cluster: cluster_name(&u.cluster),
            reason: &u.detail,
            incident: None,
            outcome: u.kind,
            approvers_text: Markup::default(),
            expires_at_text: None,
        });
        DigestView {
            since_text: shown_time(p, d.since),
            until_text: shown_time(p, d.until),
            counts: &d.counts,
            requested: requested.collect(),
            more_requested: d.requested.len().saturating_sub(max),
            active: active.collect(),
            more_active: d.active.len().saturating_sub(max),
            unreviewed: d
                .unreviewed
                .iter()
                .take(max)
                .map(|u| UnreviewedView {
                    id: &u.id,
                    requester: &u.requester,
                    role: &u.role,
                    namespaces: u.scope.namespaces(),
                    cluster_wide: u.scope.is_cluster(),
                    cluster: cluster_name(&u.cluster),
                    incident: u.incident.as_deref(),
                    used_at_text: shown_time(p, u.used_at),
                    review_link: u.review_link.as_deref(),
                })
                .collect(),
            more_unreviewed: d.unreviewed.len().saturating_sub(max),
            unproven: unproven.collect(),
            more_unproven: d.unproven.len().saturating_sub(max),
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
    pub(super) fn of(g: &'a Grant, now: DateTime<Utc>, p: Platform) -> Self {
        let left = g
            .expires_at
            .filter(|_| g.state == crate::domain::grant::GrantState::Active)
            .map(|at| {
                // Whole minutes: the tab is a snapshot, seconds would only look precise.
                let minutes = (at - now).num_minutes().max(0).unsigned_abs();
                human(Duration::from_secs(minutes * 60).max(Duration::from_secs(60)))
            });
        HomeGrantView {
            grant: GrantView::of(g, p),
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
    at_text: Markup,
}

impl<'a> DecisionView<'a> {
    pub(super) fn of(e: &'a crate::domain::audit::AuditEntry, p: Platform) -> Self {
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
            at_text: shown_time(p, event.at),
        }
    }
}
