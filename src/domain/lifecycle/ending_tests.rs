//! How grants end: denial, cancellation, timeout, failure, reminder and expiry, revocation.

use std::time::Duration;

use super::tests::{active, apply, bound, in_state, quiet};
use super::*;
use crate::domain::testing::{
    approve, cancel, deny, example_policy as policy, minutes, revoke, t0,
};

#[test]
fn a_deny_ends_the_request_and_tells_the_requester() {
    let g = quiet(Grant::test().requested());
    let denied = apply(&g, deny("UCAROL"), t0() + minutes(1)).unwrap();
    assert_eq!(denied.state, GrantState::Denied);
    assert_eq!(denied.denial.as_ref().unwrap().by, "UCAROL");
    assert_eq!(denied.ended_at, Some(t0() + minutes(1)));
    assert_eq!(
        denied.outbox,
        vec![
            Effect::UpdateApprovalMessage,
            Effect::Audit { step: Step::Denied },
            Effect::ThreadReply { step: Step::Denied },
            Effect::Notify { note: Note::Denied },
        ]
    );
}

#[test]
fn only_the_requester_may_cancel_a_pending_request() {
    let g = quiet(Grant::test().requested());
    assert_eq!(
        apply(&g, cancel("UBOB"), t0()),
        Err(Rejection::NotTheRequester)
    );
    let cancelled = apply(&g, cancel("UALICE"), t0()).unwrap();
    assert_eq!(cancelled.state, GrantState::Cancelled);
    assert_eq!(cancelled.ended_by.as_ref().unwrap().by, "UALICE");
    assert!(
        !cancelled
            .outbox
            .iter()
            .any(|e| matches!(e, Effect::Notify { .. }))
    );
}

#[test]
fn an_unreviewed_request_times_out_at_its_deadline() {
    let g = quiet(Grant::test().requested());
    assert_eq!(
        apply(&g, Event::Tick, t0() + minutes(59)),
        Err(Rejection::NotDue)
    );
    let timed_out = apply(&g, Event::Tick, t0() + minutes(60)).unwrap();
    assert_eq!(timed_out.state, GrantState::TimedOut);
    assert_eq!(timed_out.next_deadline(), None);
    assert!(timed_out.outbox.contains(&Effect::Notify {
        note: Note::TimedOut
    }));
    assert!(timed_out.outbox.contains(&Effect::UpdateApprovalMessage));
}

#[test]
fn a_failed_bind_reports_first_and_cleans_up_last() {
    let approved = in_state(GrantState::Approved);
    let failed = apply(
        &approved,
        Event::BindFailed {
            reason: "forbidden".into(),
        },
        t0(),
    )
    .unwrap();
    assert_eq!(failed.state, GrantState::Failed);
    assert_eq!(failed.failure, Some(Failure::from("forbidden")));
    assert_eq!(failed.outbox[0], Effect::UpdateApprovalMessage);
    assert!(
        failed
            .outbox
            .contains(&Effect::Notify { note: Note::Failed })
    );
    assert_eq!(failed.outbox.last(), Some(&Effect::Unbind));
}

#[test]
fn the_reminder_comes_once_before_expiry_and_expiry_unbinds_first() {
    let g = active();
    let remind_at = g.remind_at.unwrap();
    let expires_at = g.expires_at.unwrap();
    assert_eq!(g.next_deadline(), Some(remind_at));
    assert_eq!(
        apply(&g, Event::Tick, remind_at - minutes(1)),
        Err(Rejection::NotDue)
    );

    let reminded = apply(&g, Event::Tick, remind_at).unwrap();
    assert_eq!(reminded.state, GrantState::Active);
    assert_eq!(
        reminded.outbox,
        vec![Effect::Notify {
            note: Note::Reminder
        }]
    );
    assert_eq!(reminded.next_deadline(), Some(expires_at));
    let reminded = quiet(reminded);
    assert_eq!(
        apply(&reminded, Event::Tick, remind_at + minutes(1)),
        Err(Rejection::NotDue)
    );

    let expired = apply(&reminded, Event::Tick, expires_at).unwrap();
    assert_eq!(expired.state, GrantState::Expired);
    assert_eq!(expired.ended_at, Some(expires_at));
    assert_eq!(expired.outbox[0], Effect::Unbind);
    assert!(expired.outbox.contains(&Effect::Notify {
        note: Note::Expired
    }));
}

#[test]
fn a_grant_too_short_for_a_reminder_gets_none() {
    let mut policy = policy();
    policy.requests.reminder_before = Duration::from_secs(3 * 3600);
    let approved = quiet(
        Grant::test()
            .requested()
            .apply(&approve("UBOB"), t0(), &policy)
            .unwrap(),
    );
    let active = approved
        .apply(&bound(), t0() + minutes(5), &policy)
        .unwrap();
    assert_eq!(active.remind_at, None);
    assert_eq!(active.next_deadline(), active.expires_at);
}

#[test]
fn the_requester_or_an_approver_may_revoke_anyone_else_may_not() {
    let g = active();
    assert_eq!(
        apply(&g, revoke("UMALLORY"), t0()),
        Err(Rejection::NotAllowedToRevoke)
    );
    let by_self = apply(&g, revoke("UALICE"), t0()).unwrap();
    assert_eq!(by_self.state, GrantState::Revoked);
    assert_eq!(by_self.outbox[0], Effect::Unbind);
    assert!(
        !by_self
            .outbox
            .iter()
            .any(|e| matches!(e, Effect::Notify { .. }))
    );
    let by_approver = apply(&g, revoke("UBOB"), t0()).unwrap();
    assert_eq!(by_approver.ended_by.as_ref().unwrap().by, "UBOB");
    assert!(by_approver.outbox.contains(&Effect::Notify {
        note: Note::Revoked
    }));
}

#[test]
fn an_approved_grant_can_be_revoked_before_it_is_bound() {
    let approved = apply(&quiet(Grant::test().requested()), approve("UBOB"), t0()).unwrap();
    assert_eq!(approved.outbox, vec![Effect::Bind]);
    let revoked = apply(&approved, revoke("UCAROL"), t0()).unwrap();
    assert_eq!(revoked.state, GrantState::Revoked);
    assert!(
        !revoked.outbox.contains(&Effect::Bind),
        "the pending bind is dropped"
    );
    assert_eq!(revoked.outbox[0], Effect::Unbind, "in case it had started");
}
