//! The grant lifecycle: every transition, every effect and every illegal event.

use super::*;
use crate::domain::grant::MessageRef;
use crate::domain::testing::{
    approve, approve_extension, cancel, deny, deny_extension, example_policy as policy, minutes,
    revoke, t0,
};

pub(crate) fn apply(grant: &Grant, event: Event, at: DateTime<Utc>) -> Result<Grant, Rejection> {
    grant.apply(&event, at, &policy())
}

/// Bound at 09:05 for the 2h asked: until 11:05.
pub(crate) fn bound() -> Event {
    Event::Bound {
        subject: "oidc:alice@example.com".into(),
        groups: vec![],
        expires_at: t0() + minutes(125),
        before: None,
    }
}

pub(crate) fn extend(by: &str, minutes: u64) -> Event {
    Event::RequestExtension {
        by: by.into(),
        secs: minutes * 60,
    }
}

pub(crate) fn quiet(mut g: Grant) -> Grant {
    g.outbox.clear();
    g
}

/// Active from 09:05 until 11:05 (reminder at 10:50).
pub(crate) fn active() -> Grant {
    let approved = apply(
        &Grant::test().requested(),
        approve("UBOB"),
        t0() + minutes(5),
    )
    .unwrap();
    quiet(apply(&approved, bound(), t0() + minutes(5)).unwrap())
}

pub(crate) fn with_extension_pending() -> Grant {
    quiet(apply(&active(), extend("UALICE", 60), t0() + minutes(30)).unwrap())
}

pub(crate) fn in_state(state: GrantState) -> Grant {
    let g = quiet(Grant::test().requested());
    let at = t0() + minutes(1);
    match state {
        GrantState::Requested => g,
        GrantState::Approved => quiet(apply(&g, approve("UBOB"), at).unwrap()),
        GrantState::Active => active(),
        GrantState::Expired => quiet(apply(&active(), Event::Tick, t0() + minutes(200)).unwrap()),
        GrantState::Denied => quiet(apply(&g, deny("UBOB"), at).unwrap()),
        GrantState::Cancelled => quiet(apply(&g, cancel("UALICE"), at).unwrap()),
        GrantState::TimedOut => quiet(apply(&g, Event::Tick, t0() + minutes(60)).unwrap()),
        GrantState::Revoked => quiet(apply(&active(), revoke("UALICE"), at).unwrap()),
        GrantState::Failed => {
            let approved = apply(&g, approve("UBOB"), at).unwrap();
            let failed = Event::BindFailed {
                reason: "boom".into(),
            };
            quiet(apply(&approved, failed, at).unwrap())
        }
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

/// Events that depend on the state alone (message postings are accepted in every state).
fn all_events() -> Vec<Event> {
    vec![
        approve("UBOB"),
        deny("UBOB"),
        bound(),
        Event::BindFailed { reason: "x".into() },
        Event::Tick,
        cancel("UALICE"),
        revoke("UALICE"),
        extend("UALICE", 30),
        approve_extension("UBOB"),
        deny_extension("UBOB"),
        Event::OnCallChecked {
            check: crate::domain::on_call::OnCallCheck::NotOnCall,
        },
        Event::RequesterGone {
            why: crate::domain::departure::Departure::Deactivated,
        },
    ]
}

/// The states in which an event is considered at all; elsewhere it must be `WrongState`.
fn is_considered(state: GrantState, event: &Event) -> bool {
    use GrantState::*;
    if matches!(event, Event::RequesterGone { .. }) {
        return matches!(state, Requested | Approved | Active);
    }
    matches!(
        (state, event),
        (
            Requested,
            Event::Approve { .. }
                | Event::Deny { .. }
                | Event::Cancel { .. }
                | Event::Tick
                | Event::OnCallChecked { .. }
        ) | (
            Approved,
            Event::Bound { .. } | Event::BindFailed { .. } | Event::Revoke { .. }
        ) | (
            Active,
            Event::Tick
                | Event::Revoke { .. }
                | Event::RequestExtension { .. }
                | Event::ApproveExtension { .. }
                | Event::DenyExtension { .. }
        )
    )
}

#[test]
fn every_event_outside_its_states_is_rejected_and_changes_nothing() {
    for state in ALL_STATES {
        let g = in_state(state);
        assert_eq!(g.state, state);
        for event in all_events() {
            let result = apply(&g, event.clone(), t0() + minutes(600));
            if !is_considered(state, &event) {
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
fn a_new_request_posts_the_approval_message_and_an_audit_entry() {
    let g = Grant::test().requested();
    assert_eq!(g.state, GrantState::Requested);
    assert_eq!(g.version, 1);
    assert_eq!(g.review_deadline, t0() + minutes(60));
    assert_eq!(g.next_deadline(), Some(t0() + minutes(60)));
    assert_eq!(
        g.outbox,
        vec![
            Effect::PostApprovalMessage,
            Effect::Audit {
                step: Step::Requested
            }
        ]
    );
}

#[test]
fn the_last_needed_approval_approves_and_binds_without_starting_the_clock() {
    let g = quiet(Grant::test().requested());
    let approved = apply(&g, approve("UBOB"), t0() + minutes(10)).unwrap();
    assert_eq!(approved.state, GrantState::Approved);
    assert_eq!(approved.version, g.version + 1);
    assert_eq!(
        approved.expires_at, None,
        "the clock starts when the binding exists"
    );
    assert_eq!(approved.outbox, vec![Effect::Bind]);
    assert_eq!(
        approved.next_deadline(),
        None,
        "nothing is timed until bound"
    );
}

#[test]
fn binding_activates_tells_everyone_and_schedules_the_reminder() {
    let approved = in_state(GrantState::Approved);
    let active = apply(&approved, bound(), t0() + minutes(5)).unwrap();
    assert_eq!(active.state, GrantState::Active);
    assert_eq!(active.subject.as_deref(), Some("oidc:alice@example.com"));
    assert_eq!(active.expires_at, Some(t0() + minutes(125)));
    assert_eq!(active.remind_at, Some(t0() + minutes(110)));
    assert_eq!(
        active.outbox,
        vec![
            Effect::UpdateApprovalMessage,
            Effect::Audit {
                step: Step::Activated
            },
            Effect::ThreadReply {
                step: Step::Activated
            },
            Effect::Notify {
                note: Note::Approved
            },
        ]
    );
}

#[test]
fn two_of_two_needs_two_distinct_approvers() {
    let g = quiet(Grant::test().role("admin").requested());
    let once = apply(&g, approve("USRE1"), t0()).unwrap();
    assert_eq!(once.state, GrantState::Requested);
    assert_eq!(
        once.outbox,
        vec![
            Effect::UpdateApprovalMessage,
            Effect::Audit {
                step: Step::ApprovalRecorded
            },
            Effect::ThreadReply {
                step: Step::ApprovalRecorded
            },
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
    let g = Grant::test().requested();
    for event in [approve("UALICE"), deny("UALICE")] {
        assert_eq!(g.apply(&event, t0(), &policy), Err(Rejection::SelfApproval));
    }
}

#[test]
fn only_the_roles_approvers_may_decide() {
    let g = Grant::test().role("admin").requested();
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
    let g = Grant::test().requested();
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
fn message_references_are_recorded_in_any_state() {
    let message = MessageRef {
        channel: "CAPPROVALS".into(),
        ts: "1.2".into(),
        permalink: None,
    };
    let posted = Event::ApprovalMessagePosted {
        message: message.clone(),
    };
    let fresh = apply(&quiet(Grant::test().requested()), posted.clone(), t0()).unwrap();
    assert_eq!(fresh.approval_message, Some(message.clone()));
    assert!(fresh.outbox.is_empty());
    // Denied before the post finished: the message must be brought up to date at once.
    let denied = apply(&in_state(GrantState::Denied), posted, t0()).unwrap();
    assert_eq!(denied.outbox, vec![Effect::UpdateApprovalMessage]);

    let ext_posted = Event::ExtensionMessagePosted {
        message: message.clone(),
    };
    let pending = apply(&with_extension_pending(), ext_posted.clone(), t0()).unwrap();
    assert!(pending.outbox.is_empty());
    assert_eq!(
        apply(&active(), ext_posted, t0()),
        Err(Rejection::NoExtensionPending)
    );
}

#[test]
fn completing_an_effect_removes_just_that_one() {
    let g = Grant::test().requested();
    let next = g.complete_effect(1);
    assert_eq!(next.version, g.version + 1);
    assert_eq!(next.outbox, vec![Effect::PostApprovalMessage]);
    assert!(next.complete_effect(0).outbox.is_empty());
    assert_eq!(
        next.complete_effect(5).outbox,
        next.outbox,
        "out of range changes nothing"
    );
}

#[test]
fn final_states_are_final_and_have_no_deadline() {
    for state in ALL_STATES {
        let g = in_state(state);
        assert_eq!(
            state.is_final(),
            !matches!(
                state,
                GrantState::Requested | GrantState::Approved | GrantState::Active
            )
        );
        if state.is_final() {
            assert_eq!(g.next_deadline(), None, "{state:?}");
        }
    }
}

#[test]
fn the_binding_name_is_deterministic() {
    assert_eq!(
        Grant::test().requested().binding_name(),
        "prod-access-abc123"
    );
}

#[test]
fn grants_survive_serialisation() {
    let g = with_extension_pending();
    let json = serde_json::to_string(&g).unwrap();
    assert_eq!(serde_json::from_str::<Grant>(&json).unwrap(), g);
}

proptest::proptest! {
    /// No sequence of clicks, ticks and requests grants more than the policy allows: never active
    /// without the required distinct, eligible, non-requester approvals, never beyond the max.
    #[test]
    fn no_sequence_of_events_exceeds_the_policy(
        steps in proptest::collection::vec((0usize..10, 0usize..5, 0i64..90), 0..40)
    ) {
        let policy = policy();
        let people = ["UALICE", "UBOB", "UCAROL", "USRE1", "UMALLORY"];
        let mut g = Grant::test().role("admin").requested();
        let mut now = t0();
        for (kind, who, wait) in steps {
            now += minutes(wait);
            let who = people[who].to_string();
            let event = match kind {
                0 => Event::Approve { approver: who },
                1 => Event::Deny { approver: who },
                2 => bound(),
                3 => Event::Tick,
                4 => Event::Cancel { by: who },
                5 => Event::Revoke { by: who },
                6 => Event::RequestExtension { by: who, secs: 1800 },
                7 => Event::ApproveExtension { approver: who },
                8 => Event::DenyExtension { approver: who },
                _ => Event::BindFailed { reason: "x".into() },
            };
            if let Ok(next) = g.apply(&event, now, &policy) {
                g = next;
            }
            if matches!(g.state, GrantState::Approved | GrantState::Active) {
                let approvers: std::collections::BTreeSet<_> =
                    g.approvals.iter().map(|a| a.by.as_str()).collect();
                proptest::prop_assert_eq!(approvers.len(), g.approvals.len());
                proptest::prop_assert!(approvers.len() >= 2);
                proptest::prop_assert!(!approvers.contains("UALICE"));
                proptest::prop_assert!(approvers.iter().all(|a| policy.may_approve("admin", a)));
                proptest::prop_assert!(g.duration_secs <= 3600);
            }
        }
    }
}
