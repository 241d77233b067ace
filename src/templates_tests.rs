use chrono::TimeZone;

use super::*;
use crate::chat::slack::content;
use crate::domain::grant::{Event, GrantState, NewRequest};
use crate::domain::policy::GrantTerms;

fn policy() -> Policy {
    serde_saphyr::from_str(
        r#"
approvers: [UBOB, UCAROL]
roles:
  edit:
    cluster_role: edit
    namespaces: [payments, orders]
    max_duration: 4h
"#,
    )
    .unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn grant_in_every_state() -> Vec<Grant> {
    let policy = policy();
    let requested = Grant::request(
        NewRequest {
            id: "abc123".into(),
            requester: "UALICE",
            requested_in: "CDEV",
            reason: "fix <!channel> & \"quotes\"",
            terms: GrantTerms {
                role: "edit".into(),
                cluster_role: "edit".into(),
                namespace: "payments".into(),
                duration: Duration::from_secs(7200),
                required_approvals: 1,
            },
        },
        t0(),
    );
    let approve = Event::Approve {
        approver: "UBOB".into(),
    };
    let approved = requested.apply(&approve, t0(), &policy).unwrap();
    let bound = Event::Bound {
        subject: "oidc:alice@example.com".into(),
    };
    let active = approved.apply(&bound, t0(), &policy).unwrap();
    let expired = active
        .apply(&Event::Expire, t0() + chrono::Duration::hours(3), &policy)
        .unwrap();
    let deny = Event::Deny {
        approver: "UCAROL".into(),
    };
    let denied = requested.apply(&deny, t0(), &policy).unwrap();
    let failed_event = Event::BindFailed {
        reason: "forbidden".into(),
    };
    let failed = approved.apply(&failed_event, t0(), &policy).unwrap();
    let cancelled = Grant {
        state: GrantState::Cancelled,
        ..requested.clone()
    };
    vec![
        requested, approved, active, expired, denied, failed, cancelled,
    ]
}

#[test]
fn the_approval_message_renders_valid_block_kit_in_every_state() {
    let templates = Templates::new().unwrap();
    for grant in grant_in_every_state() {
        let message = templates.approval_message(&grant).unwrap();
        content(&message).unwrap_or_else(|e| panic!("{:?}: {e}", grant.state));
        let has_buttons = message.0.to_string().contains("\"action_id\":\"approve\"");
        assert_eq!(
            has_buttons,
            grant.state == GrantState::Requested,
            "{:?}",
            grant.state
        );
        // User-typed text cannot ping or forge links.
        assert!(!message.0.to_string().contains("<!channel>"));
    }
}

#[test]
fn the_active_message_names_the_approver_and_the_expiry() {
    let templates = Templates::new().unwrap();
    let active = &grant_in_every_state()[2];
    let text = templates.approval_message(active).unwrap().0.to_string();
    assert!(text.contains("<@UBOB>"), "{text}");
    assert!(text.contains("2026-11-23T11:00:00Z"), "{text}");
}

#[test]
fn every_audit_step_renders() {
    let templates = Templates::new().unwrap();
    let grants = grant_in_every_state();
    let steps = [
        (AuditStep::Requested, &grants[0], "requested"),
        (AuditStep::ApprovalRecorded, &grants[1], "approved"),
        (AuditStep::Activated, &grants[2], "Access granted"),
        (AuditStep::Expired, &grants[3], "expired"),
        (AuditStep::Denied, &grants[4], "denied"),
        (AuditStep::Failed, &grants[5], "could not be created"),
    ];
    for (step, grant, phrase) in steps {
        let message = templates.audit(grant, step).unwrap();
        content(&message).unwrap();
        assert!(
            message.text().contains(phrase),
            "{step:?}: {}",
            message.text()
        );
    }
}

#[test]
fn help_lists_every_role_with_its_limits() {
    let text = Templates::new().unwrap().help(&policy()).unwrap();
    let text = text.text();
    assert!(text.contains("*edit*"), "{text}");
    assert!(text.contains("payments, orders"), "{text}");
    assert!(text.contains("up to 4h"), "{text}");
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
fn click_refusals_explain_themselves() {
    let templates = Templates::new().unwrap();
    let grant = &grant_in_every_state()[4];
    let text = templates
        .action_refused(
            &Rejection::WrongState {
                state: GrantState::Denied,
            },
            grant,
            &policy(),
        )
        .unwrap();
    assert!(text.text().contains("already denied"), "{}", text.text());
    let text = templates
        .action_refused(&Rejection::NotAnApprover, grant, &policy())
        .unwrap();
    assert!(
        text.text().contains("<@UBOB>, <@UCAROL>"),
        "{}",
        text.text()
    );
}
