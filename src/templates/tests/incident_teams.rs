//! The break-glass and on-call texts in Teams: valid activities, the review card's Reviewed
//! button, the loud audit line, the approval card's notes, the refusals and the digest's list
//! of uses not reviewed, none of it in Slack syntax.

use super::fixtures;
use super::incident::{Cast, ON_CALL_VIA, incident_grants, no_incident_refusals};
use super::slack::t0;
use super::teams::{activity, teams, verbs};
use crate::domain::digest::{ChainState, Digest, UnreviewedUse};
use crate::domain::grant::Rejection;
use crate::domain::grant::Scope;
use crate::templates::*;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";

const TEAMS: Cast<'static> = Cast {
    requester: ALICE,
    reviewer: BOB,
    channel: "19:incident42@thread.tacv2",
    link: "https://teams.microsoft.com/l/message/19%3Aincident42%40thread.tacv2/1700000000101",
    reason: "INC-42 db failover [click](https://evil.example) <at>everyone</at>",
};

/// `TEAMS.reason` as Teams shows it: escaped.
const REASON_ESCAPED: &str =
    r"INC-42 db failover \[click\](https://evil.example) &lt;at&gt;everyone&lt;/at&gt;";

/// A Teams policy with a break-glass role and incident channels (by conversation ID).
fn policy() -> Policy {
    let channels = r#"["19:incident42@thread.tacv2"]"#;
    fixtures::incident_policy("[bob@example.com, carol@example.com]", channels)
}

fn grant(name: &str) -> Grant {
    let all = incident_grants(&TEAMS, &policy());
    all.into_iter().find(|(n, _)| *n == name).unwrap().1
}

fn reviewers() -> Vec<String> {
    vec![BOB.into(), CAROL.into()]
}

/// The texts of the card's text blocks, in order.
fn texts(message: &Message) -> Vec<String> {
    let body = message.0["attachments"][0]["content"]["body"].as_array();
    let blocks = body.into_iter().flatten();
    let blocks = blocks.filter(|e| e["type"] == "TextBlock");
    blocks
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

fn unreviewed(n: usize) -> UnreviewedUse {
    UnreviewedUse {
        id: format!("bg{n}"),
        requester: ALICE.into(),
        role: "edit".into(),
        scope: Scope::namespace("payments"),
        cluster: "default".into(),
        incident: Some("INC-42".into()),
        used_at: t0() + chrono::Duration::minutes(n as i64),
        review_link: Some(format!("{}?review={n}", TEAMS.link)),
    }
}

fn digest(uses: usize) -> Digest {
    Digest {
        since: t0(),
        until: t0() + chrono::Duration::days(1),
        counts: [("requested", 1), ("granted", 1)].into(),
        requested: vec![],
        active: vec![],
        unreviewed: (1..=uses).map(unreviewed).collect(),
        unproven: vec![],
        chain: ChainState::Intact {
            entries: 42,
            seq: 42,
            hash: "9f86d081884c7d65".into(),
        },
    }
}

#[test]
fn every_incident_message_is_a_valid_activity() {
    let templates = teams();
    let policy = policy();
    let steps = [
        Step::Requested,
        Step::Activated,
        Step::BreakGlass,
        Step::Expired,
    ];
    let rejections = [
        Rejection::BreakGlassTooLong { max_secs: 3600 },
        Rejection::BreakGlassOutsideIncident,
        Rejection::NotABreakGlassRequester,
        Rejection::SelfReview,
        Rejection::NothingToReview,
    ];
    for (name, grant) in incident_grants(&TEAMS, &policy) {
        let id = Some(grant.id.as_str());
        let valid = |message: Result<Message, TemplateError>| activity(name, &message.unwrap(), id);
        valid(templates.approval_message(&grant));
        for step in steps {
            valid(templates.step(&grant, step, false));
            valid(templates.step(&grant, step, true));
        }
        valid(templates.request_received(&grant, &reviewers()));
        valid(templates.status(&grant));
        for rejection in &rejections {
            valid(templates.action_refused(rejection, &grant, &policy));
        }
        if grant.break_glass.is_some() {
            valid(templates.step(&grant, Step::Reviewed, false));
            valid(templates.review_message(&grant, &reviewers()));
            valid(templates.review_reminder(&grant, &reviewers()));
        }
    }
    let refusal = RequestRefusal::BreakGlassOutsideIncident {
        role: "edit".into(),
    };
    let refused = templates.policy_refused(&refusal, &policy).unwrap();
    activity("break_glass_outside_incident", &refused, None);
    for refusal in no_incident_refusals() {
        let refused = templates.policy_refused(&refusal, &policy).unwrap();
        let text = activity(refusal.kind(), &refused, None);
        assert!(
            text.contains("**edit** is break-glass access")
                && text.contains("Nothing was requested"),
            "{text}"
        );
    }
    for uses in [0, 2, 17] {
        activity("digest", &templates.digest(&digest(uses)).unwrap(), None);
    }
}

#[test]
fn the_review_card_offers_reviewed_only_until_reviewed() {
    let templates = teams();
    let waiting = grant("break-glass expired, not reviewed");
    let card = templates.review_message(&waiting, &reviewers()).unwrap();
    assert_eq!(verbs(&card), ["review"], "{}", card.0);
    let actions = &card.0["attachments"][0]["content"]["actions"];
    let reviewed = &actions[0];
    assert_eq!(reviewed["title"], "Reviewed");
    assert_eq!(reviewed["style"], "positive");
    assert_eq!(reviewed["data"]["grant"], "bg1");
    let open = &actions[1];
    assert_eq!(open["type"], "Action.OpenUrl", "{open}");
    assert_eq!(open["title"], "View the request");
    assert_eq!(open["url"], TEAMS.link);
    let summary = card.text();
    let used = "🚨 Post-incident review: alice@example.com used break-glass access: edit";
    assert!(summary.starts_with(used), "{summary}");
    assert!(
        summary.contains("bob@example.com, carol@example.com"),
        "{summary}"
    );
    let body = texts(&card);
    assert!(body.contains(&REASON_ESCAPED.to_string()), "{body:?}");
    let facts = card.0["attachments"][0]["content"]["body"][1]["facts"].to_string();
    assert!(
        facts.contains(r#"{"title":"Incident","value":"INC-42"}"#),
        "{facts}"
    );
    assert!(
        facts.contains(r#""value":"expired 2026-11-23 09:31 UTC""#),
        "{facts}"
    );
    let done = grant("break-glass reviewed");
    let card = templates.review_message(&done, &reviewers()).unwrap();
    assert_eq!(verbs(&card), Vec::<String>::new(), "{}", card.0);
    let actions = &card.0["attachments"][0]["content"]["actions"];
    assert_eq!(actions.as_array().map(Vec::len), Some(1), "{actions}");
    let status = "✅ Reviewed by bob@example.com 2026-11-23 10:30 UTC.";
    assert!(
        texts(&card).contains(&status.to_string()),
        "{:?}",
        texts(&card)
    );
    let mut unlinked = waiting.clone();
    unlinked.approval_message = None;
    let card = templates.review_message(&unlinked, &reviewers()).unwrap();
    let actions = &card.0["attachments"][0]["content"]["actions"];
    assert_eq!(actions.as_array().map(Vec::len), Some(1), "{actions}");
    let reminder = templates.review_reminder(&waiting, &reviewers()).unwrap();
    let text = reminder.text();
    let expected = "⏰ Still not reviewed: the break-glass use by alice@example.com of **edit** \
        in `payments` (grant `bg1`, 2026-11-23 09:01 UTC). bob@example.com, carol@example.com: ";
    assert!(text.starts_with(expected), "{text}");
}

#[test]
fn the_approval_card_notes_break_glass_and_on_call_outcomes() {
    let templates = teams();
    let note = "🚨 Break-glass role: alice@example.com may approve this themself (up to 1h)";
    let requested = templates
        .approval_message(&grant("break-glass requested"))
        .unwrap();
    assert_eq!(verbs(&requested), ["approve", "deny"]);
    let notes = texts(&requested);
    let last = notes.last().unwrap();
    assert!(last.starts_with(note), "{notes:?}");
    let block = &requested.0["attachments"][0]["content"]["body"][5];
    assert_eq!(block["isSubtle"], true, "{block}");
    for name in ["break-glass active", "break-glass reviewed"] {
        let card = templates.approval_message(&grant(name)).unwrap();
        assert!(
            !card.0.to_string().contains("may approve this themself"),
            "{name}"
        );
        assert!(
            card.text()
                .contains("alice@example.com themself (break-glass)")
        );
    }
    let not_on_call = templates.approval_message(&grant("not on call")).unwrap();
    let expected = "ℹ️ alice@example.com is not on call now, so this needs an approver.";
    assert_eq!(texts(&not_on_call).last().unwrap(), expected);
    let failed = grant("on-call lookup failed");
    let failed = templates.approval_message(&failed).unwrap();
    let expected = "⚠️ The on-call check failed (PagerDuty answered 503), so this needs an \
        approver as usual.";
    assert_eq!(texts(&failed).last().unwrap(), expected);
    let on_call = templates
        .approval_message(&grant("approved by on call"))
        .unwrap();
    let expected = format!("✅ Approved by policy (on call in {ON_CALL_VIA}).");
    assert!(on_call.text().contains(&expected), "{}", on_call.text());
}

#[test]
fn break_glass_is_announced_loudly_and_its_review_recorded() {
    let templates = teams();
    let active = grant("break-glass active");
    for in_thread in [false, true] {
        let line = templates
            .step(&active, Step::BreakGlass, in_thread)
            .unwrap();
        let text = line.text();
        let loud = "🚨 **Break-glass**: alice@example.com approved their own request for edit";
        assert!(text.starts_with(loud), "{text}");
        assert!(text.contains("in an incident channel (INC-42)"), "{text}");
        assert!(text.contains(REASON_ESCAPED), "{text}");
        assert!(!text.contains("here"), "{text}");
        let link = format!("[View the request]({})", TEAMS.link);
        assert_eq!(text.contains(&link), !in_thread, "{text}");
    }
    let reviewed = grant("break-glass reviewed");
    let line = templates.step(&reviewed, Step::Reviewed, true).unwrap();
    let expected = "✅ bob@example.com reviewed the break-glass use by alice@example.com of \
        edit in `payments` for 30m (grant `bg1`)";
    assert_eq!(line.text(), expected);
    let activated = templates.step(&active, Step::Activated, true).unwrap();
    let text = activated.text();
    assert!(
        text.contains("approved by alice@example.com themself (break-glass)"),
        "{text}"
    );
    let on_call = grant("approved by on call");
    let activated = templates.step(&on_call, Step::Activated, true).unwrap();
    let text = activated.text();
    let expected = format!("approved by policy (on call in {ON_CALL_VIA}), until");
    assert!(text.contains(&expected), "{text}");
}

#[test]
fn refusals_name_the_break_glass_problem() {
    let templates = teams();
    let policy = policy();
    let refused = |rejection: Rejection, name: &str| {
        let message = templates.action_refused(&rejection, &grant(name), &policy);
        message.unwrap().text().to_string()
    };
    let text = refused(
        Rejection::BreakGlassTooLong { max_secs: 3600 },
        "break-glass over its cap",
    );
    let expected = "⚠️ Break-glass self-approval of **edit** is for at most 1h; `bg1` asks for \
        more, so it needs an approver (bob@example.com, carol@example.com). Or cancel it and \
        request 1h or less.";
    assert_eq!(text, expected);
    let text = refused(
        Rejection::BreakGlassOutsideIncident,
        "on-call lookup pending",
    );
    assert!(
        text.contains("was not requested in an incident channel"),
        "{text}"
    );
    let text = refused(Rejection::NotABreakGlassRequester, "on-call lookup pending");
    assert!(
        text.contains("not one of the people who may break glass for **edit**"),
        "{text}"
    );
    let text = refused(Rejection::SelfReview, "break-glass expired, not reviewed");
    let expected = "You cannot review your own break-glass use `bg1`: another approver of \
        **edit** must (bob@example.com, carol@example.com).";
    assert!(text.ends_with(expected), "{text}");
    let text = refused(Rejection::NothingToReview, "break-glass reviewed");
    assert!(
        text.contains("no break-glass use waiting for review"),
        "{text}"
    );
    let refusal = RequestRefusal::BreakGlassOutsideIncident {
        role: "edit".into(),
    };
    let message = templates.policy_refused(&refusal, &policy).unwrap();
    let text = message.text();
    let expected = "⚠️ Role **edit** is break-glass access: request it in one of the policy's \
        incident channels, or a channel named inc-\\*. Nothing was requested.";
    assert!(text.starts_with(expected), "{text}");
    assert!(
        !text.contains("19:"),
        "a conversation ID means nothing to people: {text}"
    );
    let mut by_name_only = policy.clone();
    by_name_only.incidents.channels.clear();
    let message = templates.policy_refused(&refusal, &by_name_only).unwrap();
    let text = message.text();
    assert!(
        text.contains("in an incident channel (one named inc-\\*)."),
        "{text}"
    );
}

#[test]
fn the_answer_to_a_request_tells_of_break_glass_and_on_call() {
    let templates = teams();
    let received = |name: &str| {
        let message = templates.request_received(&grant(name), &reviewers());
        message.unwrap().text().to_string()
    };
    let text = received("break-glass requested");
    let expected = " 🚨 Break-glass: you may approve it yourself with Approve on the request \
        (up to 1h); the use is announced and reviewed after the incident.";
    assert!(text.ends_with(expected), "{text}");
    let text = received("break-glass over its cap");
    let expected = "(it is 2h, over the 1h you may approve yourself, so it needs an approver)";
    assert!(text.contains(expected), "{text}");
    let text = received("on-call lookup pending");
    assert!(
        text.ends_with(" If you are on call now, it is approved at once."),
        "{text}"
    );
    assert!(!text.contains("Break-glass"), "{text}");
    let text = received("not on call");
    assert!(!text.contains("on call now"), "{text}");
}

#[test]
fn the_digest_lists_break_glass_uses_not_reviewed() {
    let templates = teams();
    let none = templates.digest(&digest(0)).unwrap();
    assert!(!none.0.to_string().contains("Break-glass"), "{}", none.0);
    let two = templates.digest(&digest(2)).unwrap();
    let body = texts(&two);
    let header = body
        .iter()
        .position(|t| t == "Break-glass uses not reviewed");
    let header = header.unwrap_or_else(|| panic!("no list: {body:?}"));
    let first = format!(
        "• bg1 alice@example.com **edit** in payments 2026-11-23 09:01 UTC (INC-42) \
        [Review it]({}?review=1)",
        TEAMS.link
    );
    assert_eq!(body[header + 1], first);
    assert!(body[header + 2].starts_with("• bg2 "), "{body:?}");
    assert!(
        body[header + 3].starts_with("🔗 Audit log intact"),
        "{body:?}"
    );
    let many = templates.digest(&digest(17)).unwrap();
    let body = texts(&many);
    assert!(body.contains(&"… and 2 more".to_string()), "{body:?}");
    let listed = body.iter().filter(|t| t.starts_with("• bg")).count();
    assert_eq!(listed, 15, "{body:?}");
}
