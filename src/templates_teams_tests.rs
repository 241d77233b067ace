//! The Teams templates: valid Bot Framework activities and Adaptive Cards in every state.

use std::collections::HashMap;

use super::tests::{grants, t0};
use super::*;
use crate::domain::digest::{ActiveGrant, ChainState, Digest, RequestedGrant};
use crate::domain::grant::{Effect, Event, GrantState, Scope};
use crate::domain::lifecycle::NewRequest;
use crate::domain::policy::GrantTerms;
use crate::domain::reconcile::ObservedBinding;
use crate::domain::retry::{AlertKind, Retry};

/// What a person could type to forge a link, a mention or emphasis.
const EVIL: &str = "[click](https://evil.example) <at>everyone</at> **bold**";

const VERBS: &[&str] = &[
    "approve",
    "deny",
    "approve_extension",
    "deny_extension",
    "extend",
    "drop",
];

const STEPS: [Step; 13] = [
    Step::Requested,
    Step::ApprovalRecorded,
    Step::Activated,
    Step::Denied,
    Step::Expired,
    Step::Failed,
    Step::Cancelled,
    Step::TimedOut,
    Step::Revoked,
    Step::ExtensionRequested,
    Step::ExtensionApprovalRecorded,
    Step::Extended,
    Step::ExtensionDenied,
];

const NOTES: [Note; 10] = [
    Note::Approved,
    Note::Denied,
    Note::TimedOut,
    Note::Expired,
    Note::Revoked,
    Note::Failed,
    Note::Reminder,
    Note::Extended,
    Note::ExtensionDenied,
    Note::Kubeconfig,
];

fn teams() -> Templates {
    Templates::for_platform(Platform::Teams).unwrap()
}

/// A Teams deployment's policy: people are known by their email.
fn policy() -> Policy {
    serde_saphyr::from_str(
        r#"
approvers: [bob@example.com, carol@example.com]
roles:
  edit:
    cluster_role: edit
    namespaces: [payments, orders]
    max_duration: 4h
  debug:
    cluster_role: view
    namespaces: ["team-*"]
    max_duration: 2h
    default_duration: 30m
    reason: { ticket: "INC-[0-9]+" }
"#,
    )
    .unwrap()
}

/// One grant in every state and extension state, with email ids and a reason that tries to
/// forge a link and a mention; named by what it shows.
fn teams_grants() -> Vec<(&'static str, Grant)> {
    let policy = policy();
    let at = |m| t0() + chrono::Duration::minutes(m);
    let apply = |g: &Grant, e: Event, m| g.apply(&e, at(m), &policy).unwrap();
    let by = |who: &str| who.to_string();
    let requested = Grant::request(
        NewRequest {
            id: "abc123".into(),
            requester: "alice@example.com",
            requested_in: "19:dev@thread.tacv2",
            reason: EVIL,
            terms: GrantTerms::example("edit", "payments", Duration::from_secs(7200)),
        },
        t0(),
        &policy,
    );
    let approved = apply(
        &requested,
        Event::Approve {
            approver: by("bob@example.com"),
        },
        1,
    );
    let bound = Event::Bound {
        subject: "oidc:alice@example.com".into(),
        groups: vec![],
        expires_at: at(122),
    };
    let active = apply(&approved, bound, 2);
    let extending = apply(
        &active,
        Event::RequestExtension {
            by: by("alice@example.com"),
            secs: 3600,
        },
        30,
    );
    let carol = || by("carol@example.com");
    let failed = Event::BindFailed {
        reason: format!("forbidden {EVIL}"),
    };
    vec![
        ("requested", requested.clone()),
        ("approved", approved.clone()),
        ("active", active.clone()),
        ("extending", extending.clone()),
        (
            "extended",
            apply(
                &extending,
                Event::ApproveExtension { approver: carol() },
                31,
            ),
        ),
        (
            "extension denied",
            apply(&extending, Event::DenyExtension { approver: carol() }, 31),
        ),
        ("expired", apply(&extending, Event::Tick, 200)),
        ("revoked", apply(&active, Event::Revoke { by: carol() }, 3)),
        (
            "denied",
            apply(&requested, Event::Deny { approver: carol() }, 1),
        ),
        (
            "cancelled",
            apply(
                &requested,
                Event::Cancel {
                    by: by("alice@example.com"),
                },
                1,
            ),
        ),
        ("timed out", apply(&requested, Event::Tick, 120)),
        ("failed", apply(&approved, failed, 2)),
    ]
}

fn by_name(name: &str) -> Grant {
    teams_grants()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
}

/// Asserts `message` is a Bot Framework message activity whose cards are Adaptive Cards 1.4,
/// whose buttons are Universal Actions on `grant`, and which holds no Slack syntax; returns
/// its JSON text.
fn activity(name: &str, message: &Message, grant: Option<&str>) -> String {
    let m = &message.0;
    let json = m.to_string();
    assert_eq!(m["type"], "message", "{name}: {json}");
    assert_eq!(m["textFormat"], "markdown", "{name}: {json}");
    assert!(!message.text().trim().is_empty(), "{name}: no text: {json}");
    let attachments = m.get("attachments").map(|a| a.as_array().unwrap());
    for attachment in attachments.into_iter().flatten() {
        assert_eq!(
            attachment["contentType"], "application/vnd.microsoft.card.adaptive",
            "{name}"
        );
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard", "{name}");
        assert_eq!(card["version"], "1.4", "{name}");
        assert_eq!(
            card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json",
            "{name}"
        );
        let body = card["body"].as_array().unwrap();
        assert!(!body.is_empty(), "{name}: empty card body");
        for element in body {
            match element["type"].as_str() {
                Some("TextBlock") => {
                    assert_eq!(element["wrap"], true, "{name}: {element}");
                    let text = element["text"].as_str().unwrap();
                    assert!(!text.trim().is_empty(), "{name}: {element}");
                }
                Some("FactSet") => {
                    let facts = element["facts"].as_array().unwrap();
                    assert!(!facts.is_empty(), "{name}");
                    for fact in facts {
                        assert!(fact["title"].is_string(), "{name}: {fact}");
                        assert!(fact["value"].is_string(), "{name}: {fact}");
                    }
                }
                other => panic!("{name}: unexpected card element {other:?}"),
            }
        }
        for action in card["actions"].as_array().into_iter().flatten() {
            assert_eq!(action["type"], "Action.Execute", "{name}: {action}");
            let verb = action["verb"].as_str().unwrap_or_default();
            assert!(VERBS.contains(&verb), "{name}: verb {verb}");
            assert!(action["title"].is_string(), "{name}: {action}");
            assert_eq!(action["data"]["grant"].as_str(), grant, "{name}: {action}");
        }
    }
    for slack in [
        "<@",
        "<!date",
        "<!subteam",
        "<!channel",
        "mrkdwn",
        "\"blocks\"",
    ] {
        assert!(
            !json.contains(slack),
            "{name}: Slack syntax {slack}: {json}"
        );
    }
    let emoji_code = regex::Regex::new(":[a-z_]+:").unwrap();
    assert!(!emoji_code.is_match(&json), "{name}: emoji code: {json}");
    assert!(!json.contains("[click]("), "{name}: a forged link: {json}");
    assert!(!json.contains("<at>"), "{name}: a forged mention: {json}");
    json
}

/// The verbs of the buttons on the message's card, in order.
fn verbs(message: &Message) -> Vec<String> {
    message.0["attachments"][0]["content"]["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["verb"].as_str().unwrap().to_string())
        .collect()
}

fn every_rejection(state: GrantState) -> Vec<Rejection> {
    vec![
        Rejection::NotAnApprover,
        Rejection::SelfApproval,
        Rejection::AlreadyApprovedBy,
        Rejection::NotTheRequester,
        Rejection::NotAllowedToRevoke,
        Rejection::WrongState { state },
        Rejection::NotDue,
        Rejection::ExtensionPending,
        Rejection::NoExtensionPending,
        Rejection::ExtensionsNotAllowed,
        Rejection::ExtensionTooLong {
            max_secs: 14400,
            left_secs: 0,
        },
    ]
}

fn every_refusal() -> Vec<RequestRefusal> {
    let role = || "debug".to_string();
    vec![
        RequestRefusal::UnknownRole {
            role: EVIL.into(),
            allowed: vec!["edit".into(), "debug".into()],
        },
        RequestRefusal::NamespaceNotAllowed {
            role: role(),
            namespace: EVIL.into(),
            allowed: vec!["team-*".into()],
        },
        RequestRefusal::TooLong {
            role: role(),
            requested: Duration::from_secs(3 * 3600),
            max: Duration::from_secs(2 * 3600),
        },
        RequestRefusal::ReasonRequired { role: role() },
        RequestRefusal::ReasonTooLong { max_chars: 500 },
        RequestRefusal::ClusterNotChosen {
            role: role(),
            asked: Some(EVIL.into()),
            allowed: vec!["eu".into(), "us".into()],
        },
        RequestRefusal::ClusterNotChosen {
            role: role(),
            asked: None,
            allowed: vec!["eu".into(), "us".into()],
        },
        RequestRefusal::TicketRequired {
            role: role(),
            pattern: "INC-[0-9]+".into(),
        },
        RequestRefusal::RateLimited {
            max: 5,
            per: Duration::from_secs(3600),
            next_at: t0(),
        },
    ]
}

fn digest(requests: usize, chain: ChainState) -> Digest {
    let grant = |n: usize| RequestedGrant {
        id: format!("g{n}"),
        requester: "alice@example.com".into(),
        role: "edit".into(),
        scope: Scope::namespace("payments"),
        cluster: "default".into(),
        reason: EVIL.repeat(10),
        incident: Some("INC-1".into()),
        outcome: "timed_out",
    };
    Digest {
        since: t0(),
        until: t0() + chrono::Duration::days(1),
        counts: [("requested", requests), ("granted", 1)]
            .into_iter()
            .collect(),
        requested: (0..requests).map(grant).collect(),
        active: vec![ActiveGrant {
            id: "g9".into(),
            requester: "dana@example.com".into(),
            role: "view".into(),
            scope: Scope::Cluster,
            cluster: "eu".into(),
            approvers: vec!["bob@example.com".into()],
            expires_at: Some(t0() + chrono::Duration::hours(25)),
        }],
        chain,
    }
}

#[test]
fn every_teams_message_is_a_valid_activity_in_every_state() {
    let templates = teams();
    let policy = policy();
    let all = teams_grants().into_iter().chain(grants());
    for (name, grant) in all {
        let id = Some(grant.id.as_str());
        activity(name, &templates.approval_message(&grant).unwrap(), id);
        if grant.extension.is_some() {
            activity(name, &templates.extension_message(&grant).unwrap(), id);
            let done = templates.command_done("extend", &grant).unwrap();
            activity(name, &done, id);
        }
        for step in STEPS {
            activity(name, &templates.step(&grant, step, false).unwrap(), id);
            activity(name, &templates.step(&grant, step, true).unwrap(), id);
        }
        for note in NOTES {
            for extend_by in [Some(Duration::from_secs(1800)), None] {
                let message = templates.note(&grant, note, extend_by).unwrap();
                activity(name, &message, id);
            }
        }
        activity(name, &templates.status(&grant).unwrap(), id);
        for action in ["cancel", "revoke"] {
            activity(name, &templates.command_done(action, &grant).unwrap(), id);
        }
        let approvers = ["bob@example.com".to_string()];
        let received = templates.request_received(&grant, &approvers).unwrap();
        activity(name, &received, id);
        for rejection in every_rejection(grant.state) {
            let refused = templates.action_refused(&rejection, &grant, &policy);
            activity(name, &refused.unwrap(), id);
        }
        for kind in [AlertKind::Failing, AlertKind::Recovered] {
            for effect in ["unbind", "update_binding_expiry", "issue_kubeconfig"] {
                let alert = crate::domain::retry::Alert {
                    kind,
                    effect: effect.into(),
                    failures: 3,
                    since: t0(),
                    error: format!("503 {EVIL}"),
                };
                activity(name, &templates.alert(&grant, &alert).unwrap(), id);
            }
        }
    }
    let mut retrying = by_name("active");
    retrying.retry = Some(Retry {
        effect: Effect::Unbind,
        failures: 1,
        since: t0(),
        next_at: t0() + chrono::Duration::seconds(3),
        last_error: EVIL.into(),
        alerted_at: None,
    });
    activity(
        "retrying",
        &templates.status(&retrying).unwrap(),
        Some("abc123"),
    );

    for refusal in every_refusal() {
        let message = templates.policy_refused(&refusal, &policy).unwrap();
        activity(refusal.kind(), &message, None);
    }
    for error in [
        ParseError::Missing("role and namespace"),
        ParseError::Missing("grant id"),
        ParseError::BadDuration(EVIL.into()),
        ParseError::ZeroDuration,
    ] {
        let message = templates.parse_refused(&error, &policy).unwrap();
        activity(error.kind(), &message, None);
    }
    let internal = templates.internal_error_on_request(&policy).unwrap();
    activity("internal request", &internal, None);
    let unknown = templates.unknown_grant(EVIL).unwrap();
    activity("unknown grant", &unknown, None);
    let internal = templates.internal_error_on_action("abc123").unwrap();
    activity("internal action", &internal, None);
    activity("help", &templates.help(&policy).unwrap(), None);

    let all: Vec<Grant> = teams_grants().into_iter().map(|(_, g)| g).collect();
    for (mine, waiting) in [
        (&all[..], &all[..]),
        (&[][..], &[][..]),
        (&all[..1], &[][..]),
    ] {
        activity("list", &templates.list(mine, waiting).unwrap(), None);
    }

    let grants: HashMap<String, Grant> = [("abc123".to_string(), by_name("active"))].into();
    let binding = |grant: Option<&str>, namespace: Option<&str>| ObservedBinding {
        namespace: namespace.map(String::from),
        name: "prod-access-abc123".into(),
        grant_id: grant.map(String::from),
        expires_at: None,
    };
    let ns = Some("payments");
    let repairs = [
        Repair::Rebind {
            grant_id: "abc123".into(),
        },
        Repair::Rebind {
            grant_id: "gone".into(),
        },
        Repair::Delete {
            binding: binding(Some("abc123"), ns),
            drift: Drift::Expired,
        },
        Repair::Delete {
            binding: binding(None, None),
            drift: Drift::UnknownGrant,
        },
        Repair::Delete {
            binding: binding(Some("abc123"), ns),
            drift: Drift::GrantEnded(GrantState::Revoked),
        },
        Repair::Delete {
            binding: binding(Some("abc123"), ns),
            drift: Drift::NotTheGrantsBinding,
        },
    ];
    for repair in repairs {
        activity("drift", &templates.drift(&repair, &grants).unwrap(), None);
    }

    let intact = ChainState::Intact {
        entries: 42,
        seq: 42,
        hash: "9f86d081884c7d65".into(),
    };
    let broken = ChainState::Broken {
        seq: 7,
        problem: EVIL.into(),
    };
    let unknown = ChainState::Unknown {
        problem: EVIL.into(),
    };
    for (requests, chain) in [(3, intact), (40, broken), (0, unknown)] {
        let mut d = digest(requests, chain);
        if requests == 0 {
            d.active.clear();
        }
        activity("digest", &templates.digest(&d).unwrap(), None);
    }
}

#[test]
fn the_approval_card_offers_approve_and_deny_only_while_the_request_waits() {
    let templates = teams();
    for (name, grant) in teams_grants() {
        let card = templates.approval_message(&grant).unwrap();
        let expected: &[&str] = match grant.state {
            GrantState::Requested => &["approve", "deny"],
            _ => &[],
        };
        assert_eq!(verbs(&card), expected, "{name}");
        if grant.state == GrantState::Requested {
            let actions = &card.0["attachments"][0]["content"]["actions"];
            assert_eq!(actions[0]["style"], "positive", "{name}");
            assert_eq!(actions[1]["style"], "destructive", "{name}");
        }
    }
}

#[test]
fn the_extension_card_offers_its_buttons_only_while_the_extension_is_pending() {
    let templates = teams();
    for (name, grant) in teams_grants() {
        if grant.extension.is_none() {
            continue;
        }
        let card = templates.extension_message(&grant).unwrap();
        let pending = grant.pending_extension().is_some() && grant.state == GrantState::Active;
        let expected: &[&str] = if pending {
            &["approve_extension", "deny_extension"]
        } else {
            &[]
        };
        assert_eq!(verbs(&card), expected, "{name}");
    }
}

#[test]
fn the_reminder_offers_extend_only_when_there_is_room_and_drop_always() {
    let templates = teams();
    let active = by_name("active");
    let room = Some(Duration::from_secs(1800));
    let reminder = templates.note(&active, Note::Reminder, room).unwrap();
    assert_eq!(verbs(&reminder), ["extend", "drop"]);
    let actions = &reminder.0["attachments"][0]["content"]["actions"];
    assert_eq!(actions[0]["title"], "Extend by 30m");
    assert_eq!(actions[1]["style"], "destructive");
    let no_room = templates.note(&active, Note::Reminder, None).unwrap();
    assert_eq!(verbs(&no_room), ["drop"]);
    let expired = templates.note(&active, Note::Expired, room).unwrap();
    assert!(expired.0.get("attachments").is_none(), "{}", expired.0);
}

#[test]
fn user_text_cannot_make_links_mentions_or_emphasis() {
    let templates = teams();
    let escaped = r"\[click\](https://evil.example) &lt;at&gt;everyone&lt;/at&gt; \*\*bold\*\*";
    let requested = by_name("requested");
    let card = templates.approval_message(&requested).unwrap();
    let json = activity("approval", &card, Some("abc123"));
    assert!(json.contains(&escaped.replace('\\', "\\\\")), "{json}");
    assert!(!json.contains("**bold**"), "{json}");
    let audit = templates.step(&requested, Step::Requested, true).unwrap();
    assert!(audit.text().ends_with(escaped), "{}", audit.text());
    let failed = templates
        .note(&by_name("failed"), Note::Failed, None)
        .unwrap();
    assert!(failed.text().contains(escaped), "{}", failed.text());
    let unknown = templates.unknown_grant(EVIL).unwrap();
    assert!(unknown.text().contains(escaped), "{}", unknown.text());
}

#[test]
fn user_ids_are_emails_shown_as_text_never_as_slack_mentions() {
    let templates = teams();
    let denied = templates
        .step(&by_name("denied"), Step::Denied, true)
        .unwrap();
    assert!(
        denied.text().starts_with(
            "⛔ carol@example.com denied alice@example.com's request for edit in `payments`"
        ),
        "{}",
        denied.text()
    );
    let refused = templates
        .action_refused(&Rejection::NotAnApprover, &by_name("requested"), &policy())
        .unwrap();
    assert!(
        refused
            .text()
            .contains("Approvers: bob@example.com, carol@example.com."),
        "{}",
        refused.text()
    );
}

#[test]
fn times_are_shown_in_utc_and_approvers_by_email() {
    let templates = teams();
    let active = templates.approval_message(&by_name("active")).unwrap();
    let json = active.0.to_string();
    assert!(
        json.contains("Approved by bob@example.com. Active until 2026-11-23 11:02 UTC."),
        "{json}"
    );
    let requested = templates.approval_message(&by_name("requested")).unwrap();
    assert!(
        requested
            .text()
            .contains("Waiting for approval: 0 of 1 approvals. Times out 2026-11-23 "),
        "{}",
        requested.text()
    );
    let approvers = [
        "bob@example.com".to_string(),
        "carol@example.com".to_string(),
    ];
    let received = templates
        .request_received(&by_name("requested"), &approvers)
        .unwrap();
    assert!(
        received
            .text()
            .contains("sent for approval to bob@example.com, carol@example.com."),
        "{}",
        received.text()
    );
    let intact = ChainState::Intact {
        entries: 1,
        seq: 1,
        hash: "9f86".into(),
    };
    let digest = templates.digest(&digest(1, intact)).unwrap();
    let json = digest.0.to_string();
    assert!(
        digest
            .text()
            .contains("for 2026-11-23 09:00 UTC to 2026-11-24 09:00 UTC: 1 requested, 1 granted"),
        "{}",
        digest.text()
    );
    assert!(
        json.contains(
            "• g9 dana@example.com **view** across the whole cluster on eu until 2026-11-24 10:00 UTC, approved by bob@example.com"
        ),
        "{json}"
    );
}

#[test]
fn help_and_refusals_teach_the_typed_command_without_a_slash() {
    let templates = teams();
    let help = templates.help(&policy()).unwrap();
    let json = help.0.to_string();
    assert!(!json.contains("/prod-access"), "{json}");
    assert!(
        help.text()
            .contains("`prod-access <role> <namespace> [duration] [reason]`"),
        "{}",
        help.text()
    );
    assert!(json.contains("@mention the bot"), "{json}");
    assert!(json.contains("**prod-access list**"), "{json}");
    assert!(
        json.contains("default 30m, up to 2h, 1 approval(s), reason must name a ticket"),
        "{json}"
    );
    let bare = ParseError::Missing("role and namespace");
    let refused = templates.parse_refused(&bare, &policy()).unwrap();
    let text = refused.text();
    assert!(text.contains("type the whole request"), "{text}");
    assert!(!text.contains("/prod-access"), "{text}");
    assert!(text.contains("edit in payments, orders (max 4h)"), "{text}");
}

#[test]
fn zz_dump() {
    let t = teams();
    let p = policy();
    let show = |m: Message| println!("{}\n", serde_json::to_string_pretty(&m.0).unwrap());
    for (name, g) in teams_grants() {
        println!("##### {name}");
        show(t.approval_message(&g).unwrap());
        if g.extension.is_some() { show(t.extension_message(&g).unwrap()); }
        for s in [Step::Requested, Step::Activated, Step::Revoked, Step::ExtensionDenied] { println!("{}", t.step(&g, s, false).unwrap().text()); }
        for n in NOTES { println!("{}", t.note(&g, n, Some(Duration::from_secs(1800))).unwrap().0); }
        show(t.status(&g).unwrap());
    }
    show(t.help(&p).unwrap());
    for r in every_refusal() { println!("{}", t.policy_refused(&r, &p).unwrap().text()); }
    println!("{}", t.parse_refused(&ParseError::Missing("role and namespace"), &p).unwrap().text());
    for r in every_rejection(GrantState::Active) { println!("{}", t.action_refused(&r, &by_name("active"), &p).unwrap().text()); }
    let all: Vec<Grant> = teams_grants().into_iter().map(|(_, g)| g).collect();
    show(t.list(&all[..3], &all[..4]).unwrap());
    show(t.digest(&digest(2, ChainState::Intact{entries:1,seq:1,hash:"ab".into()})).unwrap());
    let mut r = by_name("active");
    r.retry = Some(Retry { effect: Effect::Unbind, failures: 1, since: t0(), next_at: t0(), last_error: "boom".into(), alerted_at: None });
    show(t.status(&r).unwrap());
}
