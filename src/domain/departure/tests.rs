//! Departures: which platform changes end a requester's access, and why.

use super::Departure;
use crate::domain::audit::AuditKind;
use crate::domain::audit_detail::Particulars;
use crate::domain::grant::{Effect, Event, ExtensionState, Grant, GrantState, Note, Step};
use crate::domain::lifecycle::tests::{active, apply, in_state, quiet, with_extension_pending};
use crate::domain::testing::{minutes, t0};

fn gone(why: Departure) -> Event {
    Event::RequesterGone { why }
}

#[test]
fn slack_flags_say_who_has_left() {
    assert_eq!(Departure::of_slack_user(false, false, false), None);
    assert_eq!(
        Departure::of_slack_user(true, false, false),
        Some(Departure::Deactivated)
    );
    assert_eq!(
        Departure::of_slack_user(false, true, false),
        Some(Departure::BecameGuest)
    );
    assert_eq!(
        Departure::of_slack_user(false, false, true),
        Some(Departure::BecameGuest)
    );
    assert_eq!(
        Departure::of_slack_user(true, true, false),
        Some(Departure::Deactivated),
        "deactivated is what matters most"
    );
}

#[test]
fn a_deactivated_requester_loses_live_access_binding_first_and_the_log_says_why() {
    let at = t0() + minutes(20);
    let ended = apply(&quiet(active()), gone(Departure::Deactivated), at).unwrap();
    assert_eq!(ended.state, GrantState::Revoked);
    assert_eq!(ended.ended_because, Some(Departure::Deactivated));
    assert_eq!(ended.ended_at, Some(at));
    assert_eq!(ended.ended_by, None, "nobody revoked it: prod-access did");
    assert_eq!(
        ended.outbox,
        vec![
            Effect::Unbind,
            Effect::UpdateApprovalMessage,
            Effect::Audit {
                step: Step::RequesterGone
            },
            Effect::ThreadReply {
                step: Step::RequesterGone
            },
            Effect::VerifyRevocation,
        ],
        "no direct message to an account that cannot read it; the end verified last"
    );
    let entry = ended.journal.last().unwrap();
    assert_eq!(entry.kind, AuditKind::RequesterGone);
    assert_eq!(entry.actor, None);
    assert_eq!(
        entry.particulars,
        Some(Particulars::Departure {
            why: Departure::Deactivated
        })
    );
    assert_eq!(ended.state_deadline(), None, "no expiry left to wait for");
}

#[test]
fn a_requester_turned_guest_is_told_and_an_approved_grant_is_not_bound() {
    let mut approved = in_state(GrantState::Approved);
    approved.outbox.push(Effect::Bind);
    let ended = apply(&approved, gone(Departure::BecameGuest), t0()).unwrap();
    assert_eq!(ended.state, GrantState::Revoked);
    assert!(!ended.outbox.contains(&Effect::Bind), "{:?}", ended.outbox);
    assert_eq!(ended.outbox.first(), Some(&Effect::Unbind));
    assert!(ended.outbox.contains(&Effect::Notify {
        note: Note::RequesterGone
    }));
}

#[test]
fn an_open_request_of_someone_who_left_is_withdrawn() {
    let ended = apply(
        &quiet(Grant::test().requested()),
        gone(Departure::RemovedFromTeam),
        t0(),
    )
    .unwrap();
    assert_eq!(ended.state, GrantState::Cancelled);
    assert!(!ended.outbox.contains(&Effect::Unbind), "nothing was bound");
    assert_eq!(
        ended.journal.last().unwrap().particulars,
        Some(Particulars::Departure {
            why: Departure::RemovedFromTeam
        })
    );
}

#[test]
fn a_pending_extension_lapses_with_the_access() {
    let ended = apply(
        &quiet(with_extension_pending()),
        gone(Departure::Unknown),
        t0() + minutes(30),
    )
    .unwrap();
    assert_eq!(ended.extension.unwrap().state, ExtensionState::Denied);
    assert!(ended.outbox.contains(&Effect::UpdateExtensionMessage));
}

#[test]
fn a_grant_that_already_ended_stays_as_it_ended() {
    for state in [GrantState::Expired, GrantState::Revoked, GrantState::Denied] {
        let ended = in_state(state);
        assert!(apply(&ended, gone(Departure::Deactivated), t0()).is_err());
    }
}

#[test]
fn the_periodic_lookup_ends_access_of_the_deactivated_and_of_guests() {
    use crate::domain::identity::Standing;
    assert_eq!(
        Departure::of_standing(Standing::Deactivated),
        Some(Departure::Deactivated)
    );
    assert_eq!(
        Departure::of_standing(Standing::Guest),
        Some(Departure::BecameGuest)
    );
    assert_eq!(Departure::of_standing(Standing::Member), None);
    assert_eq!(Departure::of_standing(Standing::Bot), None);
}

#[test]
fn a_guest_keeps_a_role_that_allows_guests() {
    let mut policy = crate::domain::testing::example_policy();
    policy.roles.get_mut("edit").unwrap().allow_guests = true;
    let grant = quiet(active());
    assert!(!Departure::BecameGuest.ends_access_to(&grant.role, &policy));
    assert!(Departure::Deactivated.ends_access_to(&grant.role, &policy));
    assert_eq!(
        grant.apply(&gone(Departure::BecameGuest), t0(), &policy),
        Err(crate::domain::grant::Rejection::NotDue)
    );
    let ended = grant
        .apply(&gone(Departure::Deactivated), t0(), &policy)
        .unwrap();
    assert_eq!(ended.state, GrantState::Revoked);
}
