//! The extension part of the state machine: asking for more time, and its approval.

use std::time::Duration;

use super::tests::{active, apply, bound, extend, quiet, with_extension_pending};
use super::*;
use crate::domain::testing::{
    approve, approve_extension, deny_extension, example_policy as policy, minutes, revoke, t0,
};

#[test]
fn an_extension_needs_the_requester_room_under_the_max_and_no_other_pending() {
    let g = active();
    assert_eq!(
        apply(&g, extend("UBOB", 30), t0()),
        Err(Rejection::NotTheRequester)
    );
    assert_eq!(
        apply(&g, extend("UALICE", 121), t0()),
        Err(Rejection::ExtensionTooLong {
            max_secs: 4 * 3600,
            left_secs: 2 * 3600
        })
    );
    let pending = apply(&g, extend("UALICE", 120), t0()).unwrap();
    assert_eq!(pending.pending_extension().unwrap().by_secs, 7200);
    assert_eq!(
        pending.outbox,
        vec![
            Effect::PostExtensionMessage,
            Effect::Audit {
                step: Step::ExtensionRequested
            },
            Effect::ThreadReply {
                step: Step::ExtensionRequested
            },
        ]
    );
    assert_eq!(
        apply(&pending, extend("UALICE", 1), t0()),
        Err(Rejection::ExtensionPending)
    );
}

#[test]
fn an_approved_extension_moves_expiry_and_the_reminder() {
    let g = with_extension_pending();
    let old_expiry = g.expires_at.unwrap();
    assert_eq!(
        apply(&g, approve_extension("UALICE"), t0()),
        Err(Rejection::SelfApproval)
    );
    let at = t0() + minutes(40);
    let extended = apply(&g, approve_extension("UCAROL"), at).unwrap();
    assert_eq!(extended.state, GrantState::Active);
    assert_eq!(extended.expires_at, Some(old_expiry + minutes(60)));
    assert_eq!(extended.duration_secs, 3 * 3600);
    assert_eq!(extended.remind_at, Some(old_expiry + minutes(45)));
    assert_eq!(
        extended.extension.as_ref().unwrap().state,
        ExtensionState::Approved
    );
    assert_eq!(extended.outbox[0], Effect::UpdateBindingExpiry);
    assert!(extended.outbox.contains(&Effect::Notify {
        note: Note::Extended
    }));
    assert_eq!(
        apply(&quiet(extended), approve_extension("UBOB"), at),
        Err(Rejection::NoExtensionPending)
    );
}

#[test]
fn an_extension_is_rechecked_against_the_max_when_approved() {
    let g = with_extension_pending();
    let mut policy = policy();
    policy.roles.get_mut("edit").unwrap().max_duration = Duration::from_secs(2 * 3600);
    assert_eq!(
        g.apply(&approve_extension("UBOB"), t0(), &policy),
        Err(Rejection::ExtensionTooLong {
            max_secs: 7200,
            left_secs: 0
        })
    );
}

#[test]
fn a_denied_extension_leaves_the_expiry_alone() {
    let g = with_extension_pending();
    let denied = apply(&g, deny_extension("UBOB"), t0()).unwrap();
    assert_eq!(denied.expires_at, g.expires_at);
    assert_eq!(
        denied.extension.as_ref().unwrap().state,
        ExtensionState::Denied
    );
    assert!(denied.outbox.contains(&Effect::Notify {
        note: Note::ExtensionDenied
    }));
    assert!(
        apply(&quiet(denied), extend("UALICE", 30), t0()).is_ok(),
        "may ask again"
    );
}

#[test]
fn a_pending_extension_lapses_when_the_grant_ends() {
    let g = with_extension_pending();
    let expired = apply(&g, Event::Tick, g.expires_at.unwrap()).unwrap();
    assert_eq!(
        expired.extension.as_ref().unwrap().state,
        ExtensionState::Denied
    );
    assert!(expired.outbox.contains(&Effect::UpdateExtensionMessage));
}

#[test]
fn extension_rules_come_from_the_role() {
    let mut policy = policy();
    policy.roles.get_mut("edit").unwrap().extensions.allowed = false;
    assert_eq!(
        active().apply(&extend("UALICE", 30), t0(), &policy),
        Err(Rejection::ExtensionsNotAllowed)
    );
    let admin = policy.roles.get_mut("admin").unwrap();
    admin.extensions.approvals = Some(1);
    admin.max_duration = Duration::from_secs(2 * 3600);
    let approved = Grant::test()
        .role("admin")
        .requested()
        .apply(&approve("USRE1"), t0(), &policy)
        .and_then(|g| g.apply(&approve("USRE2"), t0(), &policy))
        .and_then(|g| g.apply(&bound(), t0(), &policy))
        .unwrap();
    let asked = approved
        .apply(
            &Event::RequestExtension {
                by: "UALICE".into(),
                secs: 60,
            },
            t0(),
            &policy,
        )
        .unwrap();
    assert_eq!(
        asked.pending_extension().unwrap().required_approvals,
        1,
        "one approval is enough"
    );
}

#[test]
fn ending_drops_an_expiry_update_that_could_stand_in_front_of_the_revocation() {
    let g = with_extension_pending();
    let extended = apply(&g, approve_extension("UBOB"), t0()).unwrap();
    assert_eq!(extended.outbox[0], Effect::UpdateBindingExpiry);
    let revoked = apply(&extended, revoke("UALICE"), t0()).unwrap();
    assert!(!revoked.outbox.contains(&Effect::UpdateBindingExpiry));
    assert!(revoked.outbox.contains(&Effect::Unbind));
}

#[test]
fn nothing_extends_a_grant_whose_time_has_run_out() {
    let g = with_extension_pending();
    let at = g.expires_at.unwrap();
    for event in [
        approve_extension("UBOB"),
        deny_extension("UBOB"),
        extend("UALICE", 10),
    ] {
        assert_eq!(
            apply(&g, event, at),
            Err(Rejection::WrongState {
                state: GrantState::Expired
            })
        );
    }
    assert_eq!(
        apply(&g, Event::Tick, at).unwrap().state,
        GrantState::Expired
    );
}

#[test]
fn an_extension_of_nothing_is_refused() {
    assert!(matches!(
        apply(&active(), extend("UALICE", 0), t0()),
        Err(Rejection::ExtensionTooLong { .. })
    ));
}
