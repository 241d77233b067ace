//! Slack's rendering: every message is valid Block Kit in every grant state and says what it must.

use chrono::{DateTime, TimeZone, Utc};

use super::fixtures;
use crate::domain::grant::{Event, GrantState};
use crate::domain::lifecycle::NewRequest;
use crate::domain::policy::GrantTerms;
use crate::domain::revocation::{NamedBinding, StillAllowed, Verification};
use crate::slack::client::content;
use crate::templates::views::clip;
use crate::templates::*;

fn policy() -> Policy {
    fixtures::policy("[UBOB, UCAROL]")
}

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// One grant in every state and extension state, named by what it shows.
pub(super) fn grants() -> Vec<(&'static str, Grant)> {
    let policy = policy();
    let at = |m| t0() + chrono::Duration::minutes(m);
    let apply = |g: &Grant, e: Event, m| g.apply(&e, at(m), &policy).unwrap();
    let requested = Grant::request(
        NewRequest {
            id: "abc123".into(),
            requester: "UALICE",
            requested_in: "CDEV",
            identity: crate::domain::identity::Identity::user("oidc:alice@example.com"),
            incident: None,
            reason: "fix <!channel> & \"quotes\"",
            terms: GrantTerms::example("edit", "payments", Duration::from_secs(7200)),
        },
        t0(),
        &policy,
    );
    let approved = apply(
        &requested,
        Event::Approve {
            approver: "UBOB".into(),
        },
        1,
    );
    let bound = Event::Bound {
        subject: "oidc:alice@example.com".into(),
        groups: vec![],
        expires_at: at(122),
        before: None,
    };
    let active = apply(&approved, bound, 2);
    let extending = apply(
        &active,
        Event::RequestExtension {
            by: "UALICE".into(),
            secs: 3600,
        },
        30,
    );
    let extended = apply(
        &extending,
        Event::ApproveExtension {
            approver: "UCAROL".into(),
        },
        31,
    );
    let ext_denied = apply(
        &extending,
        Event::DenyExtension {
            approver: "UCAROL".into(),
        },
        31,
    );
    let expired = apply(&extending, Event::Tick, 200);
    let verified = |verification| apply(&expired, Event::RevocationVerified { verification }, 201);
    vec![
        (
            "expired, verified",
            verified(Verification::NoLongerAllowed {
                probes: 9,
                standing: 0,
            }),
        ),
        (
            "expired, still allowed",
            verified(Verification::StillAllowed {
                standing: 0,
                allowed: vec![StillAllowed {
                    verb: "create".into(),
                    resource: "pods/exec".into(),
                    group: String::new(),
                    namespace: Some("payments".into()),
                }],
                bindings: vec![NamedBinding {
                    namespace: Some("payments".into()),
                    name: "oncall".into(),
                    role_kind: "ClusterRole".into(),
                    role: "edit".into(),
                    subject_kind: "Group".into(),
                    subject: "payments-oncall".into(),
                }],
                unlisted: None,
            }),
        ),
        (
            "expired, not verified",
            verified(Verification::Unverified {
                failure: "forbidden".into(),
            }),
        ),
        ("requested", requested.clone()),
        ("approved", approved.clone()),
        ("active", active.clone()),
        ("extending", extending.clone()),
        ("extended", extended),
        ("extension denied", ext_denied),
        ("expired", expired),
        (
            "revoked",
            apply(&active, Event::Revoke { by: "UBOB".into() }, 3),
        ),
        (
            "denied",
            apply(
                &requested,
                Event::Deny {
                    approver: "UCAROL".into(),
                },
                1,
            ),
        ),
        (
            "cancelled",
            apply(
                &requested,
                Event::Cancel {
                    by: "UALICE".into(),
                },
                1,
            ),
        ),
        ("timed out", apply(&requested, Event::Tick, 120)),
        (
            "failed",
            apply(
                &approved,
                Event::BindFailed {
                    reason: "forbidden".into(),
                },
                2,
            ),
        ),
    ]
}

pub(super) fn valid(name: &str, message: &Message) -> String {
    content(message).unwrap_or_else(|e| panic!("{name}: {e}: {}", message.0));
    let json = message.0.to_string();
    assert!(
        !json.contains("<!channel>"),
        "{name}: user text must be escaped"
    );
    json
}

#[test]
fn every_message_renders_valid_block_kit_in_every_state() {
    let templates = Templates::new().unwrap();
    let policy = policy();
    for (name, grant) in grants() {
        let json = valid(name, &templates.approval_message(&grant).unwrap());
        let has_buttons = json.contains("\"action_id\":\"approve\"");
        assert_eq!(has_buttons, grant.state == GrantState::Requested, "{name}");
        if grant.extension.is_some() {
            let json = valid(name, &templates.extension_message(&grant).unwrap());
            let pending = grant.pending_extension().is_some() && grant.state == GrantState::Active;
            assert_eq!(json.contains("approve_extension"), pending, "{name}");
        }
        for step in fixtures::STEPS {
            valid(name, &templates.step(&grant, step, false).unwrap());
            valid(name, &templates.step(&grant, step, true).unwrap());
        }
        for note in fixtures::NOTES {
            valid(
                name,
                &templates
                    .note(&grant, note, Some(Duration::from_secs(1800)))
                    .unwrap(),
            );
        }
        valid(name, &templates.status(&grant).unwrap());
        for rejection in fixtures::rejections(&grant) {
            valid(
                name,
                &templates
                    .action_refused(&rejection, &grant, &policy)
                    .unwrap(),
            );
        }
    }
}

#[test]
fn alerts_say_what_keeps_failing_since_when_and_whether_access_is_still_there() {
    use crate::domain::retry::{Alert, AlertKind};
    let templates = Templates::new().unwrap();
    let grant = by_name("active");
    let alert = |kind, effect: &str| Alert {
        kind,
        effect: effect.into(),
        failures: 3,
        since: t0(),
        error: "503 <!channel> Service Unavailable".into(),
    };
    let text = |a: &Alert| valid("alert", &templates.alert(&grant, a).unwrap());
    let failing = text(&alert(AlertKind::Failing, "unbind"));
    assert!(failing.contains("Access is NOT removed yet"), "{failing}");
    assert!(failing.contains("`prod-access-abc123`"), "{failing}");
    assert!(
        failing.contains("failed 3 times since <!date^"),
        "{failing}"
    );
    assert!(
        failing.contains("503 &lt;!channel&gt; Service Unavailable"),
        "{failing}"
    );
    assert!(failing.contains("delete the binding by hand"), "{failing}");
    let expiry = text(&alert(AlertKind::Failing, "update_binding_expiry"));
    assert!(expiry.contains("the access still ends on time"), "{expiry}");
    let kubeconfig = text(&alert(AlertKind::Failing, "issue_kubeconfig"));
    assert!(
        kubeconfig.contains("Issuing the kubeconfig"),
        "{kubeconfig}"
    );
    let recovered = text(&alert(AlertKind::Recovered, "unbind"));
    assert!(
        recovered.contains("Recovered: deleting `prod-access-abc123`"),
        "{recovered}"
    );
    assert!(recovered.contains("after 3 failed attempts"), "{recovered}");
}

#[test]
fn status_tells_of_a_kubernetes_step_that_waits_for_its_retry() {
    use crate::domain::retry::Retry;
    let templates = Templates::new().unwrap();
    let mut grant = by_name("active");
    assert!(!valid("status", &templates.status(&grant).unwrap()).contains(":warning:"));
    grant.retry = Some(Retry {
        effect: crate::domain::grant::Effect::Unbind,
        failures: 2,
        since: t0(),
        next_at: t0() + chrono::Duration::seconds(3),
        last_error: "503 Service Unavailable".into(),
        alerted_at: None,
    });
    let status = valid("status", &templates.status(&grant).unwrap());
    assert!(
        status.contains(
            "Removing the binding failed 2 times (503 Service Unavailable); next attempt <!date^"
        ),
        "{status}"
    );
}

fn by_name(name: &str) -> Grant {
    grants().into_iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn the_active_message_names_the_approver_and_the_expiry() {
    let text = Templates::new()
        .unwrap()
        .approval_message(&by_name("active"))
        .unwrap()
        .0
        .to_string();
    assert!(text.contains("Approved by <@UBOB>. Active until"), "{text}");
    assert!(text.contains("2026-11-23T11:02:00Z"), "{text}");
}

#[test]
fn the_waiting_message_counts_approvals_and_names_the_timeout() {
    let text = Templates::new()
        .unwrap()
        .approval_message(&by_name("requested"))
        .unwrap()
        .0
        .to_string();
    assert!(
        text.contains("Waiting for approval: 0 of 1 approvals. Times out"),
        "{text}"
    );
}

#[test]
fn the_reminder_offers_extend_and_drop_buttons() {
    let templates = Templates::new().unwrap();
    let active = by_name("active");
    let json = templates
        .note(&active, Note::Reminder, Some(Duration::from_secs(1800)))
        .unwrap()
        .0
        .to_string();
    assert!(
        json.contains("\"action_id\":\"extend\"") && json.contains("Extend by 30m"),
        "{json}"
    );
    assert!(json.contains("\"action_id\":\"drop\""), "{json}");
    let json = templates
        .note(&active, Note::Reminder, None)
        .unwrap()
        .0
        .to_string();
    assert!(
        !json.contains("\"action_id\":\"extend\""),
        "no room left to extend: {json}"
    );
}

#[test]
fn help_lists_every_role_with_its_limits() {
    let text = Templates::new().unwrap().help(&policy()).unwrap();
    let text = text.text();
    assert!(text.contains("*edit*"), "{text}");
    assert!(text.contains("payments, orders"), "{text}");
    assert!(text.contains("default 1h, up to 4h"), "{text}");
    assert!(
        text.contains("default 30m, up to 2h, 1 approval(s), reason must name a ticket"),
        "{text}"
    );
    assert!(text.contains("`list`"), "{text}");
}

#[test]
fn refusals_say_what_is_allowed() {
    let templates = Templates::new().unwrap();
    let policy = policy();
    let unknown = RequestRefusal::UnknownRole {
        role: "root".into(),
        allowed: vec!["edit".into()],
    };
    let text = templates.policy_refused(&unknown, &policy).unwrap();
    assert!(
        text.text()
            .contains("Unknown role `root`. Roles you can request: edit."),
        "{}",
        text.text()
    );
    let too_long = RequestRefusal::TooLong {
        role: "edit".into(),
        requested: Duration::from_secs(5 * 3600),
        max: Duration::from_secs(4 * 3600),
    };
    let text = templates.policy_refused(&too_long, &policy).unwrap();
    assert!(text.text().contains("at most *4h*"), "{}", text.text());
    let ticket = RequestRefusal::TicketRequired {
        role: "debug".into(),
        pattern: "INC-[0-9]+".into(),
    };
    let text = templates.policy_refused(&ticket, &policy).unwrap();
    assert!(
        text.text().contains("matching `INC-[0-9]+`"),
        "{}",
        text.text()
    );
    let parse = templates
        .parse_refused(&ParseError::BadDuration("soon".into()), &policy)
        .unwrap();
    assert!(
        parse.text().contains("`soon` is not a duration"),
        "{}",
        parse.text()
    );
    assert!(
        parse.text().contains("edit in payments, orders (max 4h)"),
        "{}",
        parse.text()
    );
}

#[test]
fn list_separates_my_access_from_what_waits_for_me() {
    let templates = Templates::new().unwrap();
    let empty = templates.list(&[], &[]).unwrap();
    assert!(
        empty
            .text()
            .contains("You have no active or pending access"),
        "{}",
        empty.text()
    );
    let text = templates
        .list(&[by_name("active")], &[by_name("requested")])
        .unwrap();
    let text = text.text();
    assert!(
        text.contains("*Your access*\n• `abc123` *edit* in `payments` — active until"),
        "{text}"
    );
    assert!(
        text.contains("*Waiting for you*\n• `abc123` <@UALICE> wants *edit* in `payments` for 2h"),
        "{text}"
    );
}

#[test]
fn the_request_form_is_a_valid_modal_and_uses_a_text_field_for_namespace_patterns() {
    let templates = Templates::new().unwrap();
    let view = templates.request_modal(&policy(), "C0DEV").unwrap();
    let parsed: slack_morphism::prelude::SlackView =
        serde_json::from_value(view.0.clone()).unwrap();
    assert!(matches!(
        parsed,
        slack_morphism::prelude::SlackView::Modal(_)
    ));
    let namespace = view.0["blocks"][1].clone();
    assert_eq!(namespace["block_id"], "namespace");
    assert_eq!(
        namespace["element"]["type"], "plain_text_input",
        "team-* cannot be a picker"
    );
    assert!(
        namespace["hint"]["text"]
            .as_str()
            .unwrap()
            .contains("team-*")
    );
    assert_eq!(view.0["private_metadata"], "C0DEV");
}

#[test]
fn long_texts_are_clipped_to_slacks_limits() {
    assert_eq!(clip("abc", 3), "abc");
    assert_eq!(clip("abcd", 3), "ab…");
    assert_eq!(clip("ééééé", 4).chars().count(), 4);
}

#[test]
fn every_drift_report_renders_valid_block_kit() {
    use crate::domain::reconcile::{Drift, ObservedBinding, Repair};
    let templates = Templates::new().unwrap();
    let grants: std::collections::HashMap<String, Grant> =
        [("abc123".to_string(), by_name("active"))].into();
    let binding = |grant: Option<&str>| ObservedBinding {
        namespace: Some("payments".into()),
        name: "prod-access-abc123".into(),
        grant_id: grant.map(String::from),
        expires_at: None,
    };
    let repairs = [
        Repair::Rebind {
            grant_id: "abc123".into(),
        },
        Repair::Delete {
            binding: binding(Some("abc123")),
            drift: Drift::Expired,
        },
        Repair::Delete {
            binding: binding(None),
            drift: Drift::UnknownGrant,
        },
        Repair::Delete {
            binding: binding(Some("abc123")),
            drift: Drift::GrantEnded(GrantState::Revoked),
        },
        Repair::Delete {
            binding: binding(Some("abc123")),
            drift: Drift::NotTheGrantsBinding,
        },
    ];
    for repair in repairs {
        let message = templates.drift(&repair, &grants).unwrap();
        let json = valid("drift", &message);
        assert!(json.contains("payments/prod-access-abc123"), "{json}");
    }
}

#[test]
fn the_home_tab_is_a_valid_view_within_slacks_block_limit_however_much_there_is() {
    let templates = Templates::new().unwrap();
    let all: Vec<Grant> = grants().into_iter().map(|(_, g)| g).collect();
    let many: Vec<Grant> = (0..40).flat_map(|_| all.clone()).collect();
    for (mine, waiting) in [
        (&all[..], &all[..]),
        (&many[..], &many[..]),
        (&[][..], &[][..]),
    ] {
        let view = templates.home(mine, waiting, &[], &[], t0()).unwrap();
        let parsed: Result<slack_morphism::prelude::SlackView, _> =
            serde_json::from_value(view.0.clone());
        assert!(parsed.is_ok(), "{:?}: {}", parsed.err(), view.0);
        let blocks = view.0["blocks"].as_array().unwrap().len();
        assert!(blocks <= 100, "{blocks} blocks");
        assert!(
            !view.0.to_string().contains("<!channel>"),
            "user text is escaped"
        );
    }
}
