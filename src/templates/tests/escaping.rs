//! Slack reads `<…>` as links and mentions and `&` as the start of an entity in every mrkdwn
//! text: every Slack template, in every state the other template tests render, with hostile
//! names and text, must escape them everywhere but in Slack's own syntax. Plain-text fields
//! show text as it is.

use super::fixtures;
use super::incident::{SLACK, incident_grants};
use super::slack::{grants, t0};
use super::slack_syntax::{texts, unescaped};
use crate::domain::audit::{AuditEvent, AuditKind, ChainHead, chain};
use crate::domain::command::Part;
use crate::domain::digest::{
    ActiveGrant, ChainState, Digest, RequestedGrant, UnprovenEnd, UnreviewedUse,
};
use crate::domain::grant::{Decision, Effect, Scope, SubjectDrift};
use crate::domain::identity::IdentityRefusal;
use crate::domain::on_call::OnCallCheck;
use crate::domain::reconcile::{Drift, ObservedBinding, Repair};
use crate::domain::retry::{AlertKind, Retry};
use crate::domain::revocation::Verification;
use crate::templates::*;

/// A reason that tries to forge a link, to ping a channel and to start an entity.
const EVIL: &str = "<https://evil.example|click> & <!channel>";
/// A name with Slack's emphasis characters and a `<`.
const EVIL_NAME: &str = "on_*call*_<x>";

/// A policy whose names, ticket pattern, approvers and incident patterns carry `<`, `&`, `_`, `*`.
fn hostile_policy() -> Policy {
    serde_saphyr::from_str(
        r#"
approvers: [UBOB, "mallory_<x>&@example.com"]
incidents: { channels: [CINC42], name_patterns: ["inc-<*>&"] }
roles:
  "on_*call*_<x>":
    cluster_role: "view_<x>&"
    namespaces: ["team_<x>&*", payments]
    max_duration: 2h
    reason: { ticket: "(?<ref>INC)-[0-9]+&" }
    break_glass: { max_duration: 1h }
"#,
    )
    .unwrap()
}

/// `grant` with every text a person, the policy or the cluster can set made hostile.
fn hostile(mut g: Grant) -> Grant {
    g.reason = EVIL.into();
    g.role = EVIL_NAME.into();
    g.cluster_role = "view_<x>&".into();
    g.scope = Scope::namespace("team_<x>&*");
    g.cluster = "eu_<1>&".into();
    g.subject = g.subject.map(|_| "oidc:mallory_<x>&@example.com".into());
    g.groups = vec!["team_<x>&".into()];
    g.subject_drift = Some(SubjectDrift::Changed {
        subject: "oidc:mallory_<y>&@example.com".into(),
    });
    let lapsed = || Decision {
        by: "mallory_<x>&@example.com".into(),
        at: t0(),
    };
    g.lapsed_approvals = vec![lapsed()];
    if let Some(x) = g.extension.as_mut() {
        x.lapsed_approvals = vec![lapsed()];
    }
    if let Some(Verification::StillAllowed {
        bindings, unlisted, ..
    }) = g.revocation.as_mut()
    {
        for binding in bindings {
            binding.namespace = Some("team_<x>&".into());
            binding.name = EVIL_NAME.into();
            binding.role = "view_<x>&".into();
            binding.subject = EVIL.into();
        }
        *unlisted = Some(EVIL.into());
    }
    g.kubeconfig_failure = Some(EVIL.into());
    g.failure = g.failure.map(|_| EVIL.into());
    if let Some(incident) = g.incident.as_mut() {
        incident.reference = Some(EVIL.into());
    }
    g.on_call = g.on_call.map(|check| match check {
        OnCallCheck::OnCall { .. } => OnCallCheck::OnCall {
            via: crate::domain::testing::pagerduty_schedule(EVIL, EVIL),
        },
        OnCallCheck::Unavailable { .. } => OnCallCheck::Unavailable {
            why: crate::domain::on_call::OnCallFailure::NoProfile { error: EVIL.into() },
        },
        other => other,
    });
    g
}

/// The grants of the other template tests, as they are and made hostile.
fn every_grant() -> Vec<(String, Grant)> {
    let plain = grants()
        .into_iter()
        .chain(incident_grants(&SLACK, &hostile_policy()));
    plain
        .flat_map(|(name, g)| {
            let mut retrying = hostile(g.clone());
            retrying.subject_drift = Some(SubjectDrift::Refused {
                rule: "identity_<x>&".into(),
            });
            retrying.retry = Some(Retry {
                effect: Effect::Unbind,
                failures: 2,
                since: t0(),
                next_at: t0(),
                last_error: EVIL.into(),
                alerted_at: None,
            });
            [
                (name.to_string(), g.clone()),
                (format!("hostile {name}"), hostile(g)),
                (format!("hostile {name}, retrying"), retrying),
            ]
        })
        .collect()
}

type Rendered = (String, Message);

fn grant_messages(t: &Templates, policy: &Policy, name: &str, g: &Grant) -> Vec<Rendered> {
    let approvers = vec!["UBOB".to_string(), "mallory_<x>&@example.com".to_string()];
    let mut out = vec![
        ("approval", t.approval_message(g)),
        ("status", t.status(g)),
        ("request received", t.request_received(g, &approvers)),
        ("review request", t.review_message(g, &approvers)),
        ("review reminder", t.review_reminder(g, &approvers)),
        ("activity", t.activity(g, &busy_lines(), false)),
        ("session summary", t.activity(g, &busy_lines(), true)),
        (
            "status with activity",
            t.status_with_activity(g, Some(&busy())),
        ),
    ];
    if g.extension.is_some() {
        out.push(("extension", t.extension_message(g)));
        out.push(("extend done", t.command_done("extend", g)));
    }
    for action in ["cancel", "revoke"] {
        out.push(("command done", t.command_done(action, g)));
    }
    for step in fixtures::STEPS {
        out.push(("step", t.step(g, step, false)));
        out.push(("step in thread", t.step(g, step, true)));
    }
    for note in fixtures::NOTES {
        out.push(("note", t.note(g, note, Some(Duration::from_secs(1800)))));
    }
    for rejection in fixtures::rejections(g) {
        out.push(("action refused", t.action_refused(&rejection, g, policy)));
    }
    for kind in [AlertKind::Failing, AlertKind::Recovered] {
        for effect in ["unbind", "update_binding_expiry", "issue_kubeconfig"] {
            out.push(("alert", t.alert(g, &alert(kind, effect))));
        }
    }
    out.into_iter()
        .map(|(what, m)| (format!("{what} of {name}"), m.unwrap()))
        .collect()
}

fn alert(kind: AlertKind, effect: &str) -> crate::domain::retry::Alert {
    crate::domain::retry::Alert {
        kind,
        effect: effect.into(),
        failures: 3,
        since: t0(),
        error: EVIL.into(),
    }
}

fn busy() -> crate::domain::activity::SessionActivity {
    super::activity::busy()
}

fn busy_lines() -> crate::domain::activity::ActivityLines {
    busy().total.lines(12)
}

fn refusals() -> Vec<RequestRefusal> {
    let role = || EVIL_NAME.to_string();
    let allowed = || vec!["team_<x>&*".to_string(), EVIL_NAME.to_string()];
    vec![
        RequestRefusal::UnknownRole {
            role: EVIL.into(),
            allowed: allowed(),
        },
        RequestRefusal::NamespaceNotAllowed {
            role: role(),
            namespace: EVIL.into(),
            allowed: allowed(),
        },
        RequestRefusal::TooLong {
            role: role(),
            requested: Duration::from_secs(7200),
            max: Duration::from_secs(3600),
        },
        RequestRefusal::ReasonRequired { role: role() },
        RequestRefusal::ReasonTooLong { max_chars: 500 },
        RequestRefusal::ClusterNotChosen {
            role: role(),
            asked: Some(EVIL.into()),
            allowed: allowed(),
        },
        RequestRefusal::ClusterNotChosen {
            role: role(),
            asked: None,
            allowed: allowed(),
        },
        RequestRefusal::TicketRequired {
            role: role(),
            pattern: "(?<ref>INC)-[0-9]+&".into(),
        },
        RequestRefusal::RateLimited {
            max: 5,
            per: Duration::from_secs(3600),
            next_at: t0(),
        },
        RequestRefusal::BreakGlassOutsideIncident { role: role() },
        RequestRefusal::BreakGlassChannelTooNew {
            role: role(),
            min_age: Duration::from_secs(1800),
        },
        RequestRefusal::BreakGlassWithoutIncident {
            role: role(),
            pattern: Some("(?<ref>INC)-[0-9]+&".into()),
        },
        RequestRefusal::Identity(IdentityRefusal::EmailDomain {
            domain: "evil_<x>&.example".into(),
            allowed: allowed(),
        }),
        RequestRefusal::Identity(IdentityRefusal::Deactivated),
        RequestRefusal::Identity(IdentityRefusal::Bot),
        RequestRefusal::Identity(IdentityRefusal::Guest),
        RequestRefusal::Identity(IdentityRefusal::NoEmail),
        RequestRefusal::Identity(IdentityRefusal::EmailUnconfirmed),
        RequestRefusal::Identity(IdentityRefusal::PlusAddress),
        RequestRefusal::Identity(IdentityRefusal::ProfileUnavailable),
    ]
}

fn policy_messages(t: &Templates, policy: &Policy) -> Vec<Rendered> {
    let parse_errors = [
        ParseError::Missing(Part::RoleAndNamespace),
        ParseError::BadDuration(EVIL.into()),
        ParseError::ZeroDuration,
    ];
    let mut out = vec![
        ("help", t.help(policy)),
        (
            "internal error on request",
            t.internal_error_on_request(policy),
        ),
        ("unknown grant", t.unknown_grant(EVIL)),
        ("internal error on action", t.internal_error_on_action(EVIL)),
    ];
    if t.platform() == Platform::Slack {
        out.push(("request form", t.request_modal(policy, "C0DEV")));
    }
    for error in &parse_errors {
        out.push(("parse refused", t.parse_refused(error, policy)));
    }
    for refusal in &refusals() {
        out.push(("policy refused", t.policy_refused(refusal, policy)));
    }
    out.into_iter()
        .map(|(what, m)| (what.to_string(), m.unwrap()))
        .collect()
}

fn drift_messages(t: &Templates, grants: &[(String, Grant)]) -> Vec<Rendered> {
    let by_id: std::collections::HashMap<String, Grant> = grants
        .iter()
        .map(|(_, g)| (g.id.clone(), g.clone()))
        .collect();
    let binding = |grant_id: Option<&str>| ObservedBinding {
        namespace: Some("team_<x>&".into()),
        name: "prod-access-<x>&".into(),
        grant_id: grant_id.map(String::from),
        expires_at: None,
    };
    let deleted = [
        Drift::Expired,
        Drift::UnknownGrant,
        Drift::GrantEnded(crate::domain::grant::GrantState::Revoked),
        Drift::NotTheGrantsBinding,
    ];
    let mut repairs: Vec<Repair> = deleted
        .into_iter()
        .map(|drift| Repair::Delete {
            binding: binding(Some(EVIL)),
            drift,
        })
        .collect();
    repairs.extend(by_id.keys().map(|id| Repair::Rebind {
        grant_id: id.clone(),
    }));
    repairs
        .iter()
        .map(|r| ("drift".to_string(), t.drift(r, &by_id).unwrap()))
        .collect()
}

fn digest(chain_state: ChainState) -> Digest {
    Digest {
        since: t0(),
        until: t0() + chrono::Duration::days(1),
        counts: [("requested", 1), ("granted", 1)].into_iter().collect(),
        requested: vec![RequestedGrant {
            id: "g1".into(),
            requester: "UALICE".into(),
            role: EVIL_NAME.into(),
            scope: Scope::namespace("team_<x>&"),
            cluster: "eu_<1>&".into(),
            reason: EVIL.into(),
            incident: Some(EVIL.into()),
            outcome: "expired",
        }],
        active: vec![ActiveGrant {
            id: "g2".into(),
            requester: "UDANA".into(),
            role: EVIL_NAME.into(),
            scope: Scope::Cluster,
            cluster: "eu_<1>&".into(),
            approvers: vec!["UBOB".into(), "mallory_<x>&@example.com".into()],
            expires_at: Some(t0()),
        }],
        unreviewed: vec![UnreviewedUse {
            id: "g3".into(),
            requester: "UALICE".into(),
            role: EVIL_NAME.into(),
            scope: Scope::namespace("team_<x>&"),
            cluster: "eu_<1>&".into(),
            incident: Some(EVIL.into()),
            used_at: t0(),
            review_link: Some("https://acme.slack.com/archives/CAUDIT/p1?thread_ts=1&cid=C".into()),
        }],
        unproven: vec![UnprovenEnd {
            id: "g4".into(),
            requester: "UALICE".into(),
            role: EVIL_NAME.into(),
            scope: Scope::namespace("team_<x>&"),
            cluster: "eu_<1>&".into(),
            kind: "access_not_ended",
            detail: EVIL.into(),
        }],
        chain: chain_state,
    }
}

fn audit_messages(t: &Templates, grants: &[(String, Grant)]) -> Vec<Rendered> {
    let chains = [
        ChainState::Intact {
            entries: 3,
            seq: 3,
            hash: "ab12".into(),
        },
        ChainState::Broken {
            seq: 2,
            problem: EVIL.into(),
        },
        ChainState::Unknown {
            problem: EVIL.into(),
        },
    ];
    let mut out: Vec<Rendered> = chains
        .into_iter()
        .map(|c| ("digest".to_string(), t.digest(&digest(c)).unwrap()))
        .collect();
    let kinds = [
        AuditKind::Approval,
        AuditKind::Denied,
        AuditKind::ExtensionApproval,
        AuditKind::ExtensionDenied,
        AuditKind::Revoked,
        AuditKind::BreakGlassReviewed,
    ];
    let all: Vec<Grant> = grants.iter().map(|(_, g)| g.clone()).collect();
    let decisions: Vec<_> = all
        .iter()
        .zip(kinds.iter().cycle())
        .map(|(g, kind)| {
            let event = AuditEvent::about(g, *kind, Some("UBOB"), t0());
            chain(&ChainHead::genesis(), event)
        })
        .collect();
    // Teams has no App Home.
    if t.platform() == Platform::Slack {
        for (mine, waiting) in [(&all[..], &all[..]), (&[][..], &[][..])] {
            let home = t.home(mine, waiting, &[], &decisions, t0()).unwrap();
            out.push(("home".to_string(), home));
        }
    }
    out
}

/// Every Slack message and view, by what it is.
fn every_slack_message() -> Vec<Rendered> {
    every_message(&Templates::new().unwrap())
}

/// Every message and view of `t`'s platform, by what it is, with hostile names and text.
pub(super) fn every_message(t: &Templates) -> Vec<Rendered> {
    let policy = hostile_policy();
    let grants = every_grant();
    let mut out = Vec::new();
    for (name, g) in &grants {
        out.extend(grant_messages(t, &policy, name, g));
    }
    out.extend(policy_messages(t, &policy));
    out.extend(drift_messages(t, &grants));
    out.extend(audit_messages(t, &grants));
    out
}

#[test]
fn every_slack_text_escapes_what_is_not_slack_syntax_and_plain_text_is_shown_as_is() {
    let mut problems = Vec::new();
    for (name, message) in every_slack_message() {
        let (mrkdwn, plain) = texts(&message.0);
        for text in mrkdwn {
            if let Some(at) = unescaped(&text) {
                problems.push(format!("{name}: unescaped at {at:?} in {text:?}"));
            }
            // No hostile input holds an entity, so one escaped again is double escaping.
            if ["&amp;amp;", "&amp;lt;", "&amp;gt;"]
                .iter()
                .any(|e| text.contains(e))
            {
                problems.push(format!("{name}: escaped twice in {text:?}"));
            }
        }
        for text in plain {
            if ["&amp;", "&lt;", "&gt;"].iter().any(|e| text.contains(e)) {
                problems.push(format!("{name}: escaped plain text {text:?}"));
            }
        }
    }
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} problems, first ones:\n{}",
        problems.len(),
        problems[..problems.len().min(25)].join("\n")
    );
}

#[test]
fn the_usage_line_shows_its_angle_brackets() {
    let policy = hostile_policy();
    let help = Templates::new().unwrap().help(&policy).unwrap();
    assert!(
        help.text()
            .contains("`/prod-access &lt;role&gt; &lt;namespace&gt; [duration] &lt;reason…&gt;`"),
        "{}",
        help.text()
    );
}

#[test]
fn form_errors_are_plain_text_shown_as_it_is() {
    let t = Templates::new().unwrap();
    let parse = ParseError::BadDuration(EVIL.into());
    let problems = refusals().into_iter().map(FormProblem::Policy);
    for problem in problems.chain([FormProblem::Parse(parse), FormProblem::Internal]) {
        let (_, text) = t.form_error(&problem).unwrap();
        let escaped = ["&amp;", "&lt;", "&gt;"].iter().find(|e| text.contains(*e));
        assert_eq!(escaped, None, "{text}");
    }
}
