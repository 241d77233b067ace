//! The Teams templates: valid Bot Framework activities and Adaptive Cards in every state.

use super::fixtures;
use super::slack::{grants, t0};
use crate::domain::command::Part;
use crate::domain::digest::{ActiveGrant, ChainState, Digest, RequestedGrant};
use crate::domain::grant::Rejection;
use crate::domain::grant::{Effect, Event, Failure, GrantState, Scope};
use crate::domain::lifecycle::NewRequest;
use crate::domain::policy::GrantTerms;
use crate::domain::reconcile::ObservedBinding;
use crate::domain::retry::{AlertKind, Retry};
use crate::templates::*;

/// What a person could type to forge a link, a mention or emphasis.
const EVIL: &str = "[click](https://evil.example) <at>everyone</at> **bold**";
/// `EVIL` as Teams shows it: escaped.
const EVIL_ESCAPED: &str =
    r"\[click\](https://evil.example) &lt;at&gt;everyone&lt;/at&gt; \*\*bold\*\*";

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";

const VERBS: [&str; 10] = [
    "approve",
    "deny",
    "approve_extension",
    "deny_extension",
    "extend",
    "drop",
    "review",
    "mark_reviewed",
    "delete_leftover",
    "restart_pod",
];

type Rendered = Result<Message, TemplateError>;

pub(in crate::templates) fn teams() -> Templates {
    Templates::for_platform(Platform::Teams).unwrap()
}

/// A Teams deployment's policy: people are known by their email.
fn policy() -> Policy {
    fixtures::policy("[bob@example.com, carol@example.com]")
}

/// One grant in every state and extension state, with email ids and a reason that tries to
/// forge a link and a mention; named by what it shows.
pub(in crate::templates) fn teams_grants() -> Vec<(&'static str, Grant)> {
    let policy = policy();
    let at = |m| t0() + chrono::Duration::minutes(m);
    let apply = |g: &Grant, e: Event, m| g.apply(&e, at(m), &policy).unwrap();
    let request = NewRequest {
        id: "abc123".into(),
        requester: ALICE,
        requested_in: "19:dev@thread.tacv2",
        identity: crate::domain::identity::Identity::user("oidc:alice@example.com"),
        incident: None,
        reason: EVIL,
        terms: GrantTerms::example("edit", "payments", Duration::from_secs(7200)),
    };
    let requested = Grant::request(request, t0(), &policy);
    let (bob, carol) = (|| BOB.to_string(), || CAROL.to_string());
    let approved = apply(&requested, Event::Approve { approver: bob() }, 1);
    let bound = Event::Bound {
        subject: "oidc:alice@example.com".into(),
        groups: vec![],
        expires_at: at(122),
        before: None,
    };
    let active = apply(&approved, bound, 2);
    let extend = Event::RequestExtension {
        by: ALICE.into(),
        secs: 3600,
    };
    let extending = apply(&active, extend, 30);
    let approve_extension = Event::ApproveExtension { approver: carol() };
    let deny_extension = Event::DenyExtension { approver: carol() };
    let revoke = Event::Revoke { by: carol() };
    let deny = Event::Deny { approver: carol() };
    let cancel = Event::Cancel { by: ALICE.into() };
    let fail = Event::BindFailed {
        reason: Failure::Refused {
            error: format!("forbidden {EVIL}"),
        },
    };
    vec![
        ("requested", requested.clone()),
        ("approved", approved.clone()),
        ("active", active.clone()),
        ("extending", extending.clone()),
        ("extended", apply(&extending, approve_extension, 31)),
        ("extension denied", apply(&extending, deny_extension, 31)),
        ("expired", apply(&extending, Event::Tick, 200)),
        ("revoked", apply(&active, revoke, 3)),
        ("denied", apply(&requested, deny, 1)),
        ("cancelled", apply(&requested, cancel, 1)),
        ("timed out", apply(&requested, Event::Tick, 120)),
        ("failed", apply(&approved, fail, 2)),
    ]
}

fn by_name(name: &str) -> Grant {
    let mut all = teams_grants().into_iter();
    all.find(|(n, _)| *n == name).unwrap().1
}

/// Asserts `message` is a Bot Framework message activity (a markdown line, or one Adaptive
/// Card 1.4 of text blocks and fact sets whose buttons are Universal Actions on `grant` or
/// links), with no Slack syntax and no link or mention made of user text in its markdown, and a
/// plain-text summary (user text as typed, no escapes); returns its JSON.
pub(super) fn activity(name: &str, message: &Message, grant: Option<&str>) -> String {
    let m = &message.0;
    let json = m.to_string();
    assert_eq!(m["type"], "message", "{name}: {json}");
    let mut markdown = m.clone();
    if m.get("text").is_some() {
        assert_eq!(m["textFormat"], "markdown", "{name}: {json}");
    } else {
        let summary = markdown.as_object_mut().unwrap().remove("summary");
        let summary = summary
            .as_ref()
            .and_then(|s| s.as_str())
            .unwrap_or_default();
        let escapes = ["\\", "&lt;", "&gt;", "&amp;"];
        let escaped = escapes.iter().find(|e| summary.contains(*e));
        assert_eq!(escaped, None, "{name}: plain summary: {json}");
    }
    let markdown = markdown.to_string();
    assert!(!message.text().trim().is_empty(), "{name}: no text: {json}");
    for attachment in m["attachments"].as_array().into_iter().flatten() {
        let adaptive = "application/vnd.microsoft.card.adaptive";
        assert_eq!(attachment["contentType"], adaptive, "{name}");
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard", "{name}");
        assert_eq!(card["version"], "1.4", "{name}");
        let body = card["body"].as_array().unwrap();
        assert!(!body.is_empty(), "{name}: empty card body");
        for element in body {
            check_element(name, element, grant);
        }
        for action in card["actions"].as_array().into_iter().flatten() {
            check_action(name, action, grant);
        }
    }
    let slack = regex::Regex::new(r#"<@|<!|<#|mrkdwn|"blocks"|:[a-z_]+:|\|View"#);
    let found = slack.unwrap().find(&markdown).map(|m| m.as_str());
    assert_eq!(found, None, "{name}: Slack syntax: {json}");
    assert!(
        !markdown.contains("[click]("),
        "{name}: a forged link: {json}"
    );
    assert!(
        !markdown.contains("<at>"),
        "{name}: a forged mention: {json}"
    );
    json
}

/// The verbs of the card's Universal Actions, in order.
pub(super) fn verbs(message: &Message) -> Vec<String> {
    let actions = message.0["attachments"][0]["content"]["actions"].as_array();
    let execute = actions.into_iter().flatten();
    let execute = execute.filter(|a| a["type"] == "Action.Execute");
    execute
        .map(|a| a["verb"].as_str().unwrap().to_string())
        .collect()
}

fn digest(requests: usize, chain: ChainState) -> Digest {
    let grant = |n: usize| RequestedGrant {
        id: format!("g{n}"),
        requester: ALICE.into(),
        role: "edit".into(),
        scope: Scope::namespace("payments"),
        cluster: "default".into(),
        reason: EVIL.repeat(10),
        incident: Some("INC-1".into()),
        outcome: "timed_out",
    };
    let active = ActiveGrant {
        id: "g9".into(),
        requester: "dana@example.com".into(),
        role: "view".into(),
        scope: Scope::Cluster,
        cluster: "eu".into(),
        approvers: vec![BOB.into()],
        expires_at: Some(t0() + chrono::Duration::hours(25)),
    };
    Digest {
        since: t0(),
        until: t0() + chrono::Duration::days(1),
        counts: [("requested", requests), ("granted", 1)].into(),
        requested: (0..requests).map(grant).collect(),
        active: if requests > 0 { vec![active] } else { vec![] },
        unreviewed: vec![],
        unproven: vec![],
        chain,
    }
}

#[test]
fn every_message_about_a_grant_is_a_valid_activity_in_every_state() {
    let templates = teams();
    let policy = policy();
    let kinds = [AlertKind::Failing, AlertKind::Recovered];
    let effects = ["unbind", "update_binding_expiry", "issue_kubeconfig"];
    // The Slack fixtures too: ids that are not emails are shown as text all the same.
    for (name, grant) in teams_grants().into_iter().chain(grants()) {
        let id = Some(grant.id.as_str());
        let valid = |message: Rendered| activity(name, &message.unwrap(), id);
        valid(templates.approval_message(&grant));
        if grant.extension.is_some() {
            valid(templates.extension_message(&grant));
            valid(templates.command_done("extend", &grant));
        }
        for step in fixtures::STEPS {
            valid(templates.step(&grant, step, false));
            valid(templates.step(&grant, step, true));
        }
        for note in fixtures::NOTES {
            valid(templates.note(&grant, note, Some(Duration::from_secs(1800))));
            valid(templates.note(&grant, note, None));
        }
        valid(templates.status(&grant));
        valid(templates.command_done("cancel", &grant));
        valid(templates.command_done("revoke", &grant));
        valid(templates.request_received(&grant, &[BOB.into(), CAROL.into()]));
        let rejections = fixtures::rejections(&grant);
        for rejection in rejections {
            valid(templates.action_refused(&rejection, &grant, &policy));
        }
        for (kind, effect) in kinds.iter().flat_map(|k| effects.map(|e| (*k, e))) {
            let alert = crate::domain::retry::Alert {
                kind,
                effect: effect.into(),
                failures: 3,
                since: t0(),
                error: format!("503 {EVIL}"),
            };
            valid(templates.alert(&grant, &alert));
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
    let status = templates.status(&retrying).unwrap();
    activity("retry", &status, Some("abc123"));
}

#[test]
fn every_refusal_help_and_list_is_a_valid_activity() {
    let templates = teams();
    let policy = policy();
    let valid = |name: &str, message: Rendered| activity(name, &message.unwrap(), None);
    let debug = || "debug".to_string();
    let not_chosen = |asked| RequestRefusal::ClusterNotChosen {
        role: debug(),
        asked,
        allowed: vec!["eu".into(), "us".into()],
    };
    let refusals = [
        RequestRefusal::UnknownRole {
            role: EVIL.into(),
            allowed: vec!["edit".into(), "debug".into()],
        },
        RequestRefusal::NamespaceNotAllowed {
            role: debug(),
            namespace: EVIL.into(),
            allowed: vec!["team-*".into()],
        },
        RequestRefusal::TooLong {
            role: debug(),
            requested: Duration::from_secs(3 * 3600),
            max: Duration::from_secs(2 * 3600),
        },
        RequestRefusal::ReasonRequired { role: debug() },
        RequestRefusal::ReasonTooLong { max_chars: 500 },
        not_chosen(Some(EVIL.into())),
        not_chosen(None),
        RequestRefusal::TicketRequired {
            role: debug(),
            pattern: "INC-[0-9]+".into(),
        },
        RequestRefusal::RateLimited {
            max: 5,
            per: Duration::from_secs(3600),
            next_at: t0(),
        },
    ];
    for refusal in refusals {
        valid(refusal.kind(), templates.policy_refused(&refusal, &policy));
    }
    for error in [
        ParseError::Missing(Part::RoleAndNamespace),
        ParseError::Missing(Part::GrantId),
        ParseError::BadDuration(EVIL.into()),
        ParseError::ZeroDuration,
    ] {
        valid(error.kind(), templates.parse_refused(&error, &policy));
    }
    valid("internal", templates.internal_error_on_request(&policy));
    valid("unknown grant", templates.unknown_grant(EVIL));
    valid("internal", templates.internal_error_on_action("abc123"));
    valid("help", templates.help(&policy));
    let all: Vec<Grant> = teams_grants().into_iter().map(|(_, g)| g).collect();
    let none: &[Grant] = &[];
    for (mine, waiting) in [(&all[..], &all[..]), (none, none), (&all[..1], none)] {
        valid("list", templates.list(mine, waiting));
    }
}

#[test]
fn every_drift_report_and_digest_is_a_valid_activity() {
    let templates = teams();
    let grants = [("abc123".to_string(), by_name("active"))].into();
    let delete = |grant: Option<&str>, namespace: Option<&str>, drift| Repair::Delete {
        binding: ObservedBinding {
            namespace: namespace.map(String::from),
            name: "prod-access-abc123".into(),
            grant_id: grant.map(String::from),
            expires_at: None,
        },
        drift,
    };
    let (id, ns) = (Some("abc123"), Some("payments"));
    let rebind = |grant_id: String| Repair::Rebind { grant_id };
    for repair in [
        rebind("abc123".into()),
        rebind("gone".into()),
        delete(id, ns, Drift::Expired),
        delete(None, None, Drift::UnknownGrant),
        delete(id, ns, Drift::GrantEnded(GrantState::Revoked)),
        delete(id, ns, Drift::NotTheGrantsBinding),
    ] {
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
        let digest = templates.digest(&digest(requests, chain)).unwrap();
        activity("digest", &digest, None);
    }
}

#[test]
fn the_cards_offer_buttons_only_while_their_decision_is_open() {
    let templates = teams();
    for (name, grant) in teams_grants() {
        let approval = templates.approval_message(&grant).unwrap();
        let requested = grant.state == GrantState::Requested;
        let expected: &[&str] = if requested { &["approve", "deny"] } else { &[] };
        assert_eq!(verbs(&approval), expected, "approval card, {name}");
        if requested {
            let deny = &approval.0["attachments"][0]["content"]["actions"][1];
            assert_eq!(deny["style"], "destructive", "{name}");
        }
        if grant.extension.is_some() {
            let extension = templates.extension_message(&grant).unwrap();
            let pending = grant.pending_extension().is_some() && grant.state == GrantState::Active;
            let buttons = ["approve_extension", "deny_extension"];
            let expected: &[&str] = if pending { &buttons } else { &[] };
            assert_eq!(verbs(&extension), expected, "extension card, {name}");
        }
    }
    let active = by_name("active");
    let room = Some(Duration::from_secs(1800));
    let reminder = templates.note(&active, Note::Reminder, room).unwrap();
    assert_eq!(verbs(&reminder), ["extend", "drop"]);
    let actions = &reminder.0["attachments"][0]["content"]["actions"];
    assert_eq!(actions[0]["title"], "Extend by 30m");
    assert_eq!(actions[1]["style"], "destructive");
    let no_room = templates.note(&active, Note::Reminder, None).unwrap();
    assert_eq!(verbs(&no_room), ["drop"], "no room left to extend");
    let expired = templates.note(&active, Note::Expired, room).unwrap();
    assert!(expired.0.get("attachments").is_none(), "{}", expired.0);
}

#[test]
fn user_text_cannot_make_links_mentions_or_emphasis() {
    let templates = teams();
    let requested = by_name("requested");
    let card = templates.approval_message(&requested).unwrap();
    let reason = &card.0["attachments"][0]["content"]["body"][3]["text"];
    assert_eq!(reason, EVIL_ESCAPED);
    let audit = templates.step(&requested, Step::Requested, true).unwrap();
    assert!(audit.text().ends_with(EVIL_ESCAPED), "{}", audit.text());
    let failed = by_name("failed");
    let failed = templates.note(&failed, Note::Failed, None).unwrap();
    assert!(failed.text().contains(EVIL_ESCAPED), "{}", failed.text());
    let unknown = templates.unknown_grant(EVIL).unwrap();
    let expected = format!("There is no request **{EVIL_ESCAPED}**.");
    assert!(unknown.text().ends_with(&expected), "{}", unknown.text());
}

#[test]
fn times_are_shown_in_utc_and_people_by_their_email() {
    let templates = teams();
    let active = templates.approval_message(&by_name("active")).unwrap();
    // The card's summary line is plain text.
    let expected = "alice@example.com requests edit in payments for 2h — \
        ✅ Approved by bob@example.com. Active until 2026-11-23 11:02 UTC.";
    assert_eq!(active.text(), expected);
    let requested = by_name("requested");
    let waiting = templates.approval_message(&requested).unwrap();
    let expected = "Waiting for approval: 0 of 1 approvals. Times out 2026-11-23 11:00 UTC.";
    assert!(waiting.text().contains(expected), "{}", waiting.text());
    let denied = by_name("denied");
    let denied = templates.step(&denied, Step::Denied, true).unwrap();
    let expected = "⛔ carol@example.com denied alice@example.com's request for edit";
    assert!(denied.text().starts_with(expected), "{}", denied.text());
    let emails = "bob@example.com, carol@example.com.";
    let received = templates.request_received(&requested, &[BOB.into(), CAROL.into()]);
    let text = received.unwrap().text().to_string();
    assert!(
        text.ends_with(&format!(
            "approval to {emails} The clock starts when it is approved."
        )),
        "{text}"
    );
    let refused = templates.action_refused(&Rejection::NotAnApprover, &requested, &policy());
    let text = refused.unwrap().text().to_string();
    assert!(text.ends_with(&format!("Approvers: {emails}")), "{text}");
    let unknown = ChainState::Unknown {
        problem: "disk".into(),
    };
    let digest = templates.digest(&digest(1, unknown)).unwrap();
    let period = "for 2026-11-23 09:00 UTC to 2026-11-24 09:00 UTC: 1 requested, 1 granted";
    assert!(digest.text().contains(period), "{}", digest.text());
    let holder = "• g9 dana@example.com **view** across the whole cluster on eu \
        until 2026-11-24 10:00 UTC, approved by bob@example.com";
    assert!(digest.0.to_string().contains(holder), "{}", digest.0);
}

#[test]
fn help_and_refusals_teach_the_typed_command_without_a_slash() {
    let templates = teams();
    let help = templates.help(&policy()).unwrap();
    let json = help.0.to_string();
    assert!(!json.contains("/prod-access"), "{json}");
    let usage = "prod-access <role> <namespace> [duration] [reason]";
    assert!(help.text().contains(usage), "{}", help.text());
    assert!(json.contains("@mention the bot"), "{json}");
    assert!(json.contains("**prod-access list**"), "{json}");
    let debug = "default 30m, up to 2h, 1 approval(s), reason must name a ticket";
    assert!(json.contains(debug), "{json}");
    let unidentified = templates.unidentified_sender().unwrap();
    activity("unidentified", &unidentified, None);
    assert!(unidentified.text().contains("UPN or email"));
    let bare = ParseError::Missing(Part::RoleAndNamespace);
    let refused = templates.parse_refused(&bare, &policy()).unwrap();
    let text = refused.text();
    assert!(text.contains("type the whole request"), "{text}");
    assert!(!text.contains("/prod-access"), "{text}");
    assert!(text.contains("edit in payments, orders (max 4h)"), "{text}");
}

/// One element of a card's body, as Teams renders it: text wraps and is not empty, facts are
/// text, containers hold such elements, action sets such actions.
fn check_element(name: &str, element: &serde_json::Value, grant: Option<&str>) {
    match element["type"].as_str() {
        Some("TextBlock") => {
            assert_eq!(element["wrap"], true, "{name}: {element}");
            let text = element["text"].as_str().unwrap();
            assert!(!text.trim().is_empty(), "{name}: {element}");
        }
        Some("FactSet") => {
            let facts = element["facts"].as_array().unwrap();
            let text = |f: &serde_json::Value| f["title"].is_string() && f["value"].is_string();
            assert!(facts.iter().all(text), "{name}: {element}");
        }
        Some("Container") => {
            let items = element["items"].as_array().unwrap();
            assert!(!items.is_empty(), "{name}: empty container");
            for item in items {
                check_element(name, item, grant);
            }
        }
        Some("ActionSet") => {
            for action in element["actions"].as_array().unwrap() {
                check_action(name, action, grant);
            }
        }
        other => panic!("{name}: unexpected card element {other:?}"),
    }
}

/// One action of a card: a known verb about the card's grant, or a link.
fn check_action(name: &str, action: &serde_json::Value, grant: Option<&str>) {
    assert!(action["title"].is_string(), "{name}: {action}");
    match action["type"].as_str() {
        Some("Action.Execute") => {
            let verb = action["verb"].as_str().unwrap_or_default();
            assert!(VERBS.contains(&verb), "{name}: verb {verb}");
            assert_eq!(action["data"]["grant"].as_str(), grant, "{name}: {action}");
        }
        Some("Action.OpenUrl") => {
            let url = action["url"].as_str().unwrap_or_default();
            assert!(url.starts_with("https://"), "{name}: {action}");
        }
        other => panic!("{name}: unexpected action {other:?}"),
    }
}
