use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::domain::policy::tests::example as policy;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn minutes(m: i64) -> ChronoDuration {
    ChronoDuration::minutes(m)
}

fn requested(role: &str, approvals: u32) -> Grant {
    let policy = policy();
    let cluster_role = policy.roles[role].cluster_role.clone();
    Grant::request(
        NewRequest {
            id: "abc123".into(),
            requester: "UALICE",
            requested_in: "CDEV",
            reason: "stuck queue",
            terms: GrantTerms {
                role: role.into(),
                cluster_role,
                namespace: "payments".into(),
                duration: Duration::from_secs(7200),
                required_approvals: approvals,
            },
        },
        t0(),
    )
}

fn apply(grant: &Grant, event: Event, at: DateTime<Utc>) -> Result<Grant, Rejection> {
    grant.apply(&event, at, &policy())
}

fn approve(by: &str) -> Event {
    Event::Approve {
        approver: by.into(),
    }
}

fn deny(by: &str) -> Event {
    Event::Deny {
        approver: by.into(),
    }
}

fn bound() -> Event {
    Event::Bound {
        subject: "oidc:alice@example.com".into(),
    }
}

fn without_outbox(mut g: Grant) -> Grant {
    g.outbox.clear();
    g
}

fn active() -> Grant {
    let approved = apply(&requested("edit", 1), approve("UBOB"), t0() + minutes(5)).unwrap();
    without_outbox(apply(&approved, bound(), t0() + minutes(5)).unwrap())
}

fn in_state(state: GrantState) -> Grant {
    let g = without_outbox(requested("edit", 1));
    match state {
        GrantState::Requested => g,
        GrantState::Approved => without_outbox(apply(&g, approve("UBOB"), t0()).unwrap()),
        GrantState::Active => active(),
        GrantState::Expired => {
            without_outbox(apply(&active(), Event::Expire, t0() + minutes(200)).unwrap())
        }
        GrantState::Denied => without_outbox(apply(&g, deny("UBOB"), t0()).unwrap()),
        GrantState::Failed => {
            let approved = apply(&g, approve("UBOB"), t0()).unwrap();
            let failed = Event::BindFailed {
                reason: "boom".into(),
            };
            without_outbox(apply(&approved, failed, t0()).unwrap())
        }
        GrantState::Revoked | GrantState::Cancelled | GrantState::TimedOut => Grant { state, ..g },
    }
}

const ALL_STATES: [GrantState; 9] = [
    GrantState::Requested,
    GrantState::Approved,
    GrantState::Active,
    GrantState::Expired,
    GrantState::Revoked,
    GrantState::Denied,
    GrantState::Cancelled,
    GrantState::TimedOut,
    GrantState::Failed,
];

fn all_events() -> Vec<Event> {
    vec![
        approve("UBOB"),
        deny("UBOB"),
        bound(),
        Event::BindFailed { reason: "x".into() },
        Event::Expire,
    ]
}

/// The (state, event) pairs the machine accepts; everything else must be `WrongState`.
fn is_legal(state: GrantState, event: &Event) -> bool {
    matches!(
        (state, event),
        (GrantState::Requested, Event::Approve { .. })
            | (GrantState::Requested, Event::Deny { .. })
            | (GrantState::Approved, Event::Bound { .. })
            | (GrantState::Approved, Event::BindFailed { .. })
            | (GrantState::Active, Event::Expire)
    )
}

#[test]
fn a_new_request_posts_the_approval_message_and_an_audit_entry() {
    let g = requested("edit", 1);
    assert_eq!(g.state, GrantState::Requested);
    assert_eq!(g.version, 1);
    assert_eq!(
        g.outbox,
        vec![
            Effect::PostApprovalMessage,
            Effect::Audit {
                step: AuditStep::Requested
            }
        ]
    );
}

#[test]
fn the_last_needed_approval_approves_and_binds_with_expiry_from_approval_time() {
    let g = without_outbox(requested("edit", 1));
    let approved = apply(&g, approve("UBOB"), t0() + minutes(10)).unwrap();
    assert_eq!(approved.state, GrantState::Approved);
    assert_eq!(approved.version, g.version + 1);
    assert_eq!(approved.expires_at, Some(t0() + minutes(10) + minutes(120)));
    assert_eq!(approved.outbox, vec![Effect::Bind]);
    assert_eq!(approved.approvals[0].by, "UBOB");
}

#[test]
fn binding_activates_and_announces() {
    let approved = without_outbox(in_state(GrantState::Approved));
    let active = apply(&approved, bound(), t0()).unwrap();
    assert_eq!(active.state, GrantState::Active);
    assert_eq!(active.subject.as_deref(), Some("oidc:alice@example.com"));
    assert_eq!(
        active.outbox,
        vec![
            Effect::UpdateApprovalMessage,
            Effect::Audit {
                step: AuditStep::Activated
            }
        ]
    );
}

#[test]
fn two_of_two_needs_two_distinct_approvers() {
    let g = without_outbox(requested("admin", 2));
    let once = apply(&g, approve("USRE1"), t0()).unwrap();
    assert_eq!(once.state, GrantState::Requested);
    assert_eq!(
        once.outbox,
        vec![
            Effect::UpdateApprovalMessage,
            Effect::Audit {
                step: AuditStep::ApprovalRecorded
            }
        ]
    );
    assert_eq!(
        apply(&once, approve("USRE1"), t0()),
        Err(Rejection::AlreadyApprovedBy)
    );
    let twice = apply(&once, approve("USRE2"), t0()).unwrap();
    assert_eq!(twice.state, GrantState::Approved);
}

#[test]
fn the_requester_cannot_approve_or_deny_their_own_request() {
    let mut policy = policy();
    policy.approvers.push("UALICE".into());
    let g = requested("edit", 1);
    assert_eq!(
        g.apply(&approve("UALICE"), t0(), &policy),
        Err(Rejection::SelfApproval)
    );
    assert_eq!(
        g.apply(&deny("UALICE"), t0(), &policy),
        Err(Rejection::SelfApproval)
    );
}

#[test]
fn only_the_roles_approvers_may_decide() {
    let g = requested("admin", 2);
    assert_eq!(
        apply(&g, approve("UBOB"), t0()),
        Err(Rejection::NotAnApprover)
    );
    assert_eq!(
        apply(&g, deny("UMALLORY"), t0()),
        Err(Rejection::NotAnApprover)
    );
}

#[test]
fn approvers_are_checked_against_the_policy_as_it_is_now() {
    let g = requested("edit", 1);
    let mut policy = policy();
    policy.approvers.retain(|a| a != "UBOB");
    assert_eq!(
        g.apply(&approve("UBOB"), t0(), &policy),
        Err(Rejection::NotAnApprover)
    );
    policy.roles.remove("edit");
    assert_eq!(
        g.apply(&approve("UCAROL"), t0(), &policy),
        Err(Rejection::NotAnApprover)
    );
}

#[test]
fn a_deny_ends_the_request_without_binding() {
    let g = without_outbox(requested("edit", 1));
    let denied = apply(&g, deny("UCAROL"), t0() + minutes(1)).unwrap();
    assert_eq!(denied.state, GrantState::Denied);
    assert_eq!(denied.denial.as_ref().unwrap().by, "UCAROL");
    assert_eq!(denied.ended_at, Some(t0() + minutes(1)));
    assert!(!denied.outbox.contains(&Effect::Bind));
    assert!(denied.outbox.contains(&Effect::Audit {
        step: AuditStep::Denied
    }));
}

#[test]
fn a_failed_bind_cleans_up_and_reports() {
    let approved = without_outbox(in_state(GrantState::Approved));
    let failed = apply(
        &approved,
        Event::BindFailed {
            reason: "forbidden".into(),
        },
        t0(),
    )
    .unwrap();
    assert_eq!(failed.state, GrantState::Failed);
    assert_eq!(failed.failure.as_deref(), Some("forbidden"));
    assert_eq!(failed.outbox.last(), Some(&Effect::Unbind));
    assert_eq!(failed.outbox[0], Effect::UpdateApprovalMessage);
}

#[test]
fn expiry_is_refused_before_the_deadline_and_unbinds_at_it() {
    let g = active();
    let deadline = g.expires_at.unwrap();
    assert_eq!(
        apply(&g, Event::Expire, deadline - ChronoDuration::seconds(1)),
        Err(Rejection::NotDue {
            expires_at: deadline
        })
    );
    let expired = apply(&g, Event::Expire, deadline).unwrap();
    assert_eq!(expired.state, GrantState::Expired);
    assert_eq!(expired.ended_at, Some(deadline));
    assert_eq!(
        expired.outbox,
        vec![
            Effect::Unbind,
            Effect::UpdateApprovalMessage,
            Effect::Audit {
                step: AuditStep::Expired
            }
        ]
    );
}

#[test]
fn every_illegal_transition_is_rejected_and_changes_nothing() {
    for state in ALL_STATES {
        let g = in_state(state);
        assert_eq!(g.state, state);
        for event in all_events() {
            let result = apply(&g, event.clone(), t0() + minutes(600));
            if is_legal(state, &event) {
                assert!(result.is_ok(), "{state:?} + {event:?} should be accepted");
            } else {
                assert_eq!(
                    result,
                    Err(Rejection::WrongState { state }),
                    "{state:?} + {event:?} should be refused"
                );
            }
        }
    }
}

#[test]
fn final_states_are_final() {
    for state in ALL_STATES {
        let expected = !matches!(
            state,
            GrantState::Requested | GrantState::Approved | GrantState::Active
        );
        assert_eq!(state.is_final(), expected, "{state:?}");
    }
}

#[test]
fn the_message_reference_is_recorded_in_any_state() {
    let message = MessageRef {
        channel: "CAPPROVALS".into(),
        ts: "1.2".into(),
    };
    let posted = Event::ApprovalMessagePosted {
        message: message.clone(),
    };
    let fresh = apply(&without_outbox(requested("edit", 1)), posted.clone(), t0()).unwrap();
    assert_eq!(fresh.approval_message, Some(message.clone()));
    assert!(fresh.outbox.is_empty());
    // Denied before the post finished: the message must be brought up to date at once.
    let denied = apply(&in_state(GrantState::Denied), posted, t0()).unwrap();
    assert_eq!(denied.outbox, vec![Effect::UpdateApprovalMessage]);
}

#[test]
fn completing_effects_takes_them_in_order() {
    let g = requested("edit", 1);
    let next = g.complete_first_effect();
    assert_eq!(next.version, g.version + 1);
    assert_eq!(
        next.outbox,
        vec![Effect::Audit {
            step: AuditStep::Requested
        }]
    );
    assert!(next.complete_first_effect().outbox.is_empty());
}

#[test]
fn the_binding_name_is_deterministic() {
    assert_eq!(requested("edit", 1).binding_name(), "prod-access-abc123");
}

#[test]
fn grants_survive_serialisation() {
    let g = active();
    let json = serde_json::to_string(&g).unwrap();
    assert_eq!(serde_json::from_str::<Grant>(&json).unwrap(), g);
}
