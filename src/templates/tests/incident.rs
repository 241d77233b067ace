//! The break-glass and on-call texts in Slack: the review request and its button, the loud
//! audit post, the approval message's notes and the refusal that names the incident channels.
//! The grants are shared with the Teams tests.

use super::fixtures;
use super::slack::{t0, valid};
use crate::domain::break_glass::BreakGlassUse;
use crate::domain::grant::Rejection;
use crate::domain::grant::{Decision, Effect, GrantState, MessageRef};
use crate::domain::incident::{ChannelBasis, IncidentContext};
use crate::domain::lifecycle::NewRequest;
use crate::domain::on_call::OnCallCheck;
use crate::domain::policy::GrantTerms;
use crate::templates::*;

/// Who the incident grants are about, as one platform names them.
pub(super) struct Cast<'a> {
    pub requester: &'a str,
    pub reviewer: &'a str,
    /// The incident channel the break-glass role is requested in.
    pub channel: &'a str,
    /// The approval message's link, which the review request points to.
    pub link: &'a str,
    pub reason: &'a str,
}

pub(super) const SLACK: Cast<'static> = Cast {
    requester: "UALICE",
    reviewer: "UBOB",
    channel: "CINC42",
    link: "https://acme.slack.com/archives/CINC42/p1700000000000101",
    reason: "INC-42 db failover <!channel>",
};

/// How the templates word the on-call place of the grants below.
pub(super) const ON_CALL_VIA: &str = "PagerDuty schedule Primary (PABC123)";

/// A Slack policy with a break-glass role, an on-call role and incident channels.
fn policy() -> Policy {
    fixtures::incident_policy("[UBOB, UCAROL]", "[CINC42, CINC43]")
}

/// The grants of break-glass and on-call roles in the states their texts differ in, named by
/// what they show. `policy` only supplies the review timeout.
pub(super) fn incident_grants(who: &Cast<'_>, policy: &Policy) -> Vec<(&'static str, Grant)> {
    let at = |m| t0() + chrono::Duration::minutes(m);
    let request = |incident: Option<IncidentContext>, break_glass, on_call| {
        let mut terms = GrantTerms::example("edit", "payments", Duration::from_secs(1800));
        terms.break_glass = break_glass;
        terms.on_call = on_call;
        let new = NewRequest {
            id: "bg1".into(),
            requester: who.requester,
            requested_in: who.channel,
            identity: crate::domain::identity::Identity::user("oidc:alice@example.com"),
            incident,
            reason: who.reason,
            terms,
        };
        Grant::request(new, t0(), policy)
    };
    let incident = || {
        Some(IncidentContext {
            channel: who.channel.into(),
            reference: Some("INC-42".into()),
            basis: ChannelBasis::Listed,
            reference_matches_policy: true,
        })
    };
    let decision = |by: &str, m| Decision {
        by: by.into(),
        at: at(m),
    };
    let requested = request(incident(), Some(Duration::from_secs(3600)), false);
    let mut over_cap = requested.clone();
    over_cap.duration_secs = 7200;
    let mut active = requested.clone();
    active.state = GrantState::Active;
    active.approvals = vec![decision(who.requester, 1)];
    active.subject = Some("oidc:alice@example.com".into());
    active.expires_at = Some(at(31));
    active.approval_message = Some(MessageRef {
        channel: who.channel.into(),
        ts: "1700000000.000101".into(),
        permalink: Some(who.link.into()),
    });
    active.break_glass = Some(BreakGlassUse {
        at: at(1),
        review: None,
        review_message: None,
        remind_at: None,
    });
    let mut expired = active.clone();
    expired.state = GrantState::Expired;
    expired.ended_at = Some(at(31));
    if let Some(b) = expired.break_glass.as_mut() {
        b.remind_at = Some(at(31 + 24 * 60));
        b.review_message = Some(MessageRef {
            channel: "CAUDIT".into(),
            ts: "1700000100.000200".into(),
            permalink: Some(format!("{}?review", who.link)),
        });
    }
    let mut reviewed = expired.clone();
    if let Some(b) = reviewed.break_glass.as_mut() {
        b.review = Some(decision(who.reviewer, 90));
        b.remind_at = None;
    }
    let pending = request(None, None, true);
    let checked = |check| {
        let mut g = pending.clone();
        g.outbox.retain(|e| *e != Effect::CheckOnCall);
        g.on_call = Some(check);
        g
    };
    let mut on_call = checked(OnCallCheck::OnCall {
        via: crate::domain::testing::pagerduty_schedule("PABC123", "Primary"),
    });
    on_call.state = GrantState::Active;
    on_call.subject = Some("oidc:alice@example.com".into());
    on_call.expires_at = Some(at(30));
    let unavailable = OnCallCheck::Unavailable {
        // As stored before failures had a kind.
        why: crate::domain::on_call::OnCallFailure::Said("PagerDuty answered 503".into()),
    };
    vec![
        ("break-glass requested", requested),
        ("break-glass over its cap", over_cap),
        ("break-glass active", active),
        ("break-glass expired, not reviewed", expired),
        ("break-glass reviewed", reviewed),
        ("on-call lookup pending", pending.clone()),
        ("approved by on call", on_call),
        ("not on call", checked(OnCallCheck::NotOnCall)),
        ("on-call lookup failed", checked(unavailable)),
    ]
}

fn grant(name: &str) -> Grant {
    let all = incident_grants(&SLACK, &policy());
    all.into_iter().find(|(n, _)| *n == name).unwrap().1
}

fn reviewers() -> Vec<String> {
    vec!["UBOB".into(), "UCAROL".into()]
}

/// The `action_id`s of the message's buttons.
fn buttons(message: &Message) -> Vec<String> {
    let blocks = message.0["blocks"].as_array().unwrap();
    let elements = blocks.iter().filter(|b| b["type"] == "actions");
    let ids = elements.flat_map(|b| b["elements"].as_array().unwrap().iter());
    ids.map(|e| e["action_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_incident_message_renders_valid_block_kit() {
    let templates = Templates::new().unwrap();
    let policy = policy();
    let steps = [
        Step::Requested,
        Step::Activated,
        Step::BreakGlass,
        Step::Expired,
    ];
    for (name, grant) in incident_grants(&SLACK, &policy) {
        valid(name, &templates.approval_message(&grant).unwrap());
        for step in steps {
            valid(name, &templates.step(&grant, step, false).unwrap());
            valid(name, &templates.step(&grant, step, true).unwrap());
        }
        valid(
            name,
            &templates.request_received(&grant, &reviewers()).unwrap(),
        );
        valid(name, &templates.status(&grant).unwrap());
        if grant.break_glass.is_some() {
            valid(
                name,
                &templates.step(&grant, Step::Reviewed, false).unwrap(),
            );
            valid(
                name,
                &templates.review_message(&grant, &reviewers()).unwrap(),
            );
            valid(
                name,
                &templates.review_reminder(&grant, &reviewers()).unwrap(),
            );
        }
    }
}

#[test]
fn the_review_request_has_a_reviewed_button_only_until_reviewed() {
    let templates = Templates::new().unwrap();
    let waiting = grant("break-glass expired, not reviewed");
    let message = templates.review_message(&waiting, &reviewers()).unwrap();
    assert_eq!(buttons(&message), ["review"], "{}", message.0);
    let text = message.text();
    assert!(text.contains("<@UALICE> used break-glass access"), "{text}");
    assert!(text.contains("<@UBOB>, <@UCAROL>"), "{text}");
    let json = message.0.to_string();
    assert!(
        json.contains(&format!("<{}|View the request>", SLACK.link)),
        "{json}"
    );
    let done = grant("break-glass reviewed");
    let message = templates.review_message(&done, &reviewers()).unwrap();
    assert_eq!(buttons(&message), Vec::<String>::new(), "{}", message.0);
    assert!(
        message.text().contains("Reviewed by <@UBOB>"),
        "{}",
        message.text()
    );
    let reminder = templates.review_reminder(&waiting, &reviewers()).unwrap();
    let text = reminder.text();
    assert!(
        text.starts_with(":alarm_clock: Still not reviewed"),
        "{text}"
    );
    assert!(text.contains("grant `bg1`"), "{text}");
}

#[test]
fn the_break_glass_audit_post_calls_here_only_outside_the_thread() {
    let templates = Templates::new().unwrap();
    let active = grant("break-glass active");
    let post = templates.step(&active, Step::BreakGlass, false).unwrap();
    let text = post.text();
    assert!(
        text.starts_with(":rotating_light: <!here> *Break-glass*: <@UALICE> approved their own"),
        "{text}"
    );
    assert!(text.contains("in <#CINC42> (INC-42)"), "{text}");
    assert!(text.contains("post-incident review"), "{text}");
    let reply = templates.step(&active, Step::BreakGlass, true).unwrap();
    assert!(!reply.text().contains("<!here>"), "{}", reply.text());
    assert!(reply.text().contains("*Break-glass*"), "{}", reply.text());
    let reviewed = grant("break-glass reviewed");
    let line = templates.step(&reviewed, Step::Reviewed, true).unwrap();
    let expected = ":white_check_mark: <@UBOB> reviewed the break-glass use by <@UALICE>";
    assert!(line.text().starts_with(expected), "{}", line.text());
}

#[test]
fn the_approval_message_notes_break_glass_only_while_requested() {
    let templates = Templates::new().unwrap();
    let note = "may approve this themself (up to 1h)";
    let requested = templates
        .approval_message(&grant("break-glass requested"))
        .unwrap();
    let json = requested.0.to_string();
    assert!(json.contains(&format!("<@UALICE> {note}")), "{json}");
    assert_eq!(buttons(&requested), ["approve", "deny"]);
    for name in ["break-glass active", "break-glass expired, not reviewed"] {
        let message = templates.approval_message(&grant(name)).unwrap();
        let json = message.0.to_string();
        assert!(!json.contains(note), "{name}: {json}");
        assert!(json.contains("themself (break-glass)"), "{name}: {json}");
    }
    let not_on_call = templates.approval_message(&grant("not on call")).unwrap();
    let json = not_on_call.0.to_string();
    assert!(json.contains("<@UALICE> is not on call now"), "{json}");
    let failed = templates
        .approval_message(&grant("on-call lookup failed"))
        .unwrap();
    let json = failed.0.to_string();
    assert!(
        json.contains("The on-call check failed (PagerDuty answered 503)"),
        "{json}"
    );
}

#[test]
fn an_on_call_approval_is_credited_to_the_policy() {
    let templates = Templates::new().unwrap();
    let on_call = grant("approved by on call");
    assert!(on_call.approvals.is_empty());
    let line = templates.step(&on_call, Step::Activated, false).unwrap();
    let expected = format!("approved by policy (on call in {ON_CALL_VIA})");
    assert!(line.text().contains(&expected), "{}", line.text());
    let pending = grant("on-call lookup pending");
    let received = templates.request_received(&pending, &reviewers()).unwrap();
    let text = received.text();
    assert!(
        text.ends_with("If you are on call now, it is approved at once."),
        "{text}"
    );
    let over = grant("break-glass over its cap");
    let received = templates.request_received(&over, &reviewers()).unwrap();
    let text = received.text();
    assert!(
        text.contains("over the 1h you may approve yourself"),
        "{text}"
    );
}

#[test]
fn a_break_glass_request_outside_an_incident_lists_the_incident_channels() {
    let templates = Templates::new().unwrap();
    let refusal = RequestRefusal::BreakGlassOutsideIncident {
        role: "edit".into(),
    };
    let refused = templates.policy_refused(&refusal, &policy()).unwrap();
    valid("break_glass_outside_incident", &refused);
    let text = refused.text();
    let expected = "request it in an incident channel (<#CINC42>, <#CINC43>, or one named inc-*)";
    assert!(text.contains(expected), "{text}");
    let rejection = Rejection::BreakGlassTooLong { max_secs: 3600 };
    let refused = templates
        .action_refused(&rejection, &grant("break-glass over its cap"), &policy())
        .unwrap();
    let text = refused.text();
    assert!(text.contains("is for at most 1h;"), "{text}");
    let rejection = Rejection::NotABreakGlassRequester;
    let refused = templates
        .action_refused(&rejection, &grant("break-glass over its cap"), &policy())
        .unwrap();
    let text = refused.text();
    assert!(
        text.contains("not one of the people who may break glass for *edit*")
            && text.contains("<@UBOB>"),
        "{text}"
    );
}

/// The two refusals of break-glass where no incident is shown, by the rule that applied.
pub(super) fn no_incident_refusals() -> [RequestRefusal; 2] {
    [
        RequestRefusal::BreakGlassChannelTooNew {
            role: "edit".into(),
            min_age: std::time::Duration::from_secs(1800),
        },
        RequestRefusal::BreakGlassWithoutIncident {
            role: "edit".into(),
            pattern: Some("INC-[0-9]+".into()),
        },
    ]
}

#[test]
fn a_break_glass_request_without_an_incident_is_told_which_rule_applied() {
    let templates = Templates::new().unwrap();
    let [too_new, unnamed] = no_incident_refusals();
    let refused = templates.policy_refused(&too_new, &policy()).unwrap();
    let text = valid("break_glass_channel_too_new", &refused);
    assert!(
        text.contains(
            "*edit* is break-glass access, and this channel was created less than 30m ago"
        ),
        "{text}"
    );
    let refused = templates.policy_refused(&unnamed, &policy()).unwrap();
    let text = valid("break_glass_without_incident", &refused);
    assert!(
        text.contains("name the incident in the reason (matching `INC-[0-9]+`)"),
        "{text}"
    );
    let (field, line) = templates.form_error(&FormProblem::Policy(unnamed)).unwrap();
    assert_eq!(
        (field.as_str(), line.as_str()),
        ("reason", "Name the incident (matching INC-[0-9]+)")
    );
    let (field, line) = templates.form_error(&FormProblem::Policy(too_new)).unwrap();
    assert_eq!(field, "role");
    assert!(line.contains("less than 30m old"), "{line}");
}
