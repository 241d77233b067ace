//! Reconciling: which bindings in the cluster are drift, and what repairs them.

use super::*;
use crate::domain::testing::{example_policy as policy, revoke, t0};

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

/// Grant `id` for edit in payments, bound at t0 for 2h, then (for a test about the state
/// alone) set to `state`.
fn grant(id: &str, state: GrantState) -> Grant {
    let asked = Grant::test().id(id).reason("r");
    match state {
        GrantState::Requested => asked.requested(),
        GrantState::Active => asked.active_until(t0() + hours(2)),
        other => Grant {
            state: other,
            ..asked.active_until(t0() + hours(2))
        },
    }
}

fn observed(id: Option<&str>, expires_in: i64) -> ObservedBinding {
    ObservedBinding {
        namespace: Some("payments".into()),
        name: format!("prod-access-{}", id.unwrap_or("x")),
        grant_id: id.map(String::from),
        expires_at: Some(t0() + hours(expires_in)),
    }
}

fn store(grants: &[Grant]) -> HashMap<String, Grant> {
    grants.iter().map(|g| (g.id.clone(), g.clone())).collect()
}

fn drift_of(repairs: &[Repair]) -> Vec<Drift> {
    repairs
        .iter()
        .filter_map(|r| match r {
            Repair::Delete { drift, .. } => Some(*drift),
            Repair::Rebind { .. } => None,
        })
        .collect()
}

#[test]
fn an_active_grant_with_its_binding_needs_nothing() {
    let g = grant("g1", GrantState::Active);
    assert_eq!(
        reconcile(&[observed(Some("g1"), 2)], &store(&[g]), t0() + hours(1)),
        vec![]
    );
}

#[test]
fn an_expired_annotation_is_enough_even_without_a_store() {
    let repairs = reconcile(&[observed(Some("g1"), 1)], &HashMap::new(), t0() + hours(1));
    assert_eq!(drift_of(&repairs), vec![Drift::Expired]);
}

#[test]
fn a_live_grants_expiry_is_left_to_the_scheduler_for_a_grace_period() {
    let g = grant("g1", GrantState::Active);
    let binding = [observed(Some("g1"), 1)];
    let at_expiry = t0() + hours(1);
    assert_eq!(
        reconcile(&binding, &store(std::slice::from_ref(&g)), at_expiry),
        vec![]
    );
    let overdue = reconcile(&binding, &store(&[g]), at_expiry + EXPIRY_GRACE);
    assert_eq!(
        drift_of(&overdue),
        vec![Drift::Expired],
        "the annotation wins once overdue"
    );
}

#[test]
fn unknown_or_ended_grants_lose_their_bindings() {
    let ended = grant("g2", GrantState::Revoked);
    let repairs = reconcile(
        &[
            observed(Some("g1"), 2),
            observed(Some("g2"), 2),
            observed(None, 2),
        ],
        &store(&[ended]),
        t0(),
    );
    assert_eq!(
        drift_of(&repairs),
        vec![
            Drift::UnknownGrant,
            Drift::GrantEnded(GrantState::Revoked),
            Drift::UnknownGrant
        ]
    );
}

#[test]
fn a_binding_being_created_is_left_alone() {
    let g = grant("g1", GrantState::Requested);
    assert_eq!(
        reconcile(&[observed(Some("g1"), 2)], &store(&[g]), t0()),
        vec![]
    );
}

#[test]
fn a_stray_binding_claiming_an_active_grant_is_removed() {
    let g = grant("g1", GrantState::Active);
    let mut stray = observed(Some("g1"), 2);
    stray.namespace = Some("kube-system".into());
    let repairs = reconcile(&[stray, observed(Some("g1"), 2)], &store(&[g]), t0());
    assert_eq!(drift_of(&repairs), vec![Drift::NotTheGrantsBinding]);
}

#[test]
fn an_active_grant_whose_binding_vanished_is_rebound_until_it_expires() {
    let g = grant("g1", GrantState::Active);
    let before = reconcile(&[], &store(std::slice::from_ref(&g)), t0() + hours(1));
    assert_eq!(
        before,
        vec![Repair::Rebind {
            grant_id: "g1".into()
        }]
    );
    assert_eq!(
        reconcile(&[], &store(&[g]), t0() + hours(2)),
        vec![],
        "not after expiry"
    );
}

#[test]
fn an_ended_grant_removing_its_own_binding_is_left_to_finish() {
    let ended = grant("g1", GrantState::Active)
        .apply(&revoke("UALICE"), t0(), &policy())
        .unwrap();
    assert!(ended.outbox.contains(&crate::domain::grant::Effect::Unbind));
    let binding = [observed(Some("g1"), 2)];
    assert_eq!(
        reconcile(&binding, &store(std::slice::from_ref(&ended)), t0()),
        vec![]
    );
    let overdue = reconcile(&binding, &store(&[ended]), t0() + EXPIRY_GRACE);
    assert_eq!(
        drift_of(&overdue),
        vec![Drift::GrantEnded(GrantState::Revoked)]
    );
}

#[test]
fn a_multi_namespace_grant_is_rebound_when_any_of_its_bindings_is_missing() {
    let mut g = grant("g1", GrantState::Active);
    g.scope = crate::domain::grant::Scope::Namespaces {
        names: vec!["orders".into(), "payments".into()],
    };
    let in_payments = observed(Some("g1"), 2);
    let repairs = reconcile(
        std::slice::from_ref(&in_payments),
        &store(std::slice::from_ref(&g)),
        t0(),
    );
    assert_eq!(
        repairs,
        vec![Repair::Rebind {
            grant_id: "g1".into()
        }]
    );
    let in_orders = ObservedBinding {
        namespace: Some("orders".into()),
        ..in_payments.clone()
    };
    assert_eq!(
        reconcile(&[in_payments, in_orders], &store(&[g]), t0()),
        vec![]
    );
}

#[test]
fn a_cluster_wide_grant_owns_a_cluster_role_binding() {
    let mut g = grant("g1", GrantState::Active);
    g.scope = crate::domain::grant::Scope::Cluster;
    let cluster_binding = ObservedBinding {
        namespace: None,
        ..observed(Some("g1"), 2)
    };
    assert_eq!(
        reconcile(&[cluster_binding], &store(std::slice::from_ref(&g)), t0()),
        vec![]
    );
    let namespaced = observed(Some("g1"), 2);
    let repairs = reconcile(&[namespaced], &store(&[g]), t0());
    assert_eq!(drift_of(&repairs), vec![Drift::NotTheGrantsBinding]);
}

#[test]
fn the_sweeper_takes_exactly_the_bindings_whose_expiry_has_passed() {
    let (past, due_now, live) = (
        observed(Some("a"), -1),
        observed(Some("b"), 0),
        observed(Some("c"), 1),
    );
    let unreadable = ObservedBinding {
        expires_at: None,
        ..observed(None, 0)
    };
    let all = [past.clone(), due_now.clone(), live, unreadable];
    assert_eq!(overdue(&all, t0()), [&past, &due_now]);
}

/// The grant of `grant`, ticked to Expired `late` after its expiry (t0 + 2h).
fn expired_late(late: chrono::Duration) -> Grant {
    let active = grant("g1", GrantState::Active);
    let due = active.expires_at.unwrap() + late;
    active.apply(&Event::Tick, due, &policy()).unwrap()
}

#[test]
fn bindings_found_gone_after_a_late_expiry_are_what_the_sweeper_removed() {
    let late = expired_late(chrono::Duration::minutes(5));
    assert_eq!(late.expiry_handled_late_by(), Some(300));
    assert_eq!(found_removed(&late, true), Some(Event::FoundRemoved));
    let at_the_grace = expired_late(EXPIRY_GRACE);
    assert_eq!(
        found_removed(&at_the_grace, true),
        Some(Event::FoundRemoved)
    );
}

#[test]
fn bindings_found_gone_after_an_expiry_on_time_were_the_bots_own_earlier_attempt() {
    let on_time = expired_late(chrono::Duration::seconds(1));
    assert_eq!(found_removed(&on_time, true), None);
    let just_short = expired_late(EXPIRY_GRACE - chrono::Duration::seconds(1));
    assert_eq!(found_removed(&just_short, true), None);
}

#[test]
fn bindings_still_there_or_a_grant_that_did_not_expire_record_nothing() {
    let late = expired_late(chrono::Duration::hours(1));
    assert_eq!(found_removed(&late, false), None);
    let revoked = grant("g1", GrantState::Active)
        .apply(&revoke("UALICE"), t0() + hours(1), &policy())
        .unwrap();
    assert_eq!(revoked.state, GrantState::Revoked);
    assert_eq!(found_removed(&revoked, true), None);
}

#[test]
fn a_found_removal_is_recorded_on_the_ended_grant_and_refused_on_a_live_one() {
    let late = expired_late(chrono::Duration::minutes(5));
    let recorded = late
        .apply(&Event::FoundRemoved, t0() + hours(3), &policy())
        .unwrap();
    let entry = recorded.journal.last().unwrap();
    assert_eq!(entry.kind, crate::domain::audit::AuditKind::FoundRemoved);
    assert_eq!(
        entry.particulars,
        Some(crate::domain::audit_detail::Particulars::FoundRemoved { late_by_secs: 300 })
    );
    assert_eq!(recorded.outbox, late.outbox, "nothing more to do");
    let active = grant("g1", GrantState::Active);
    assert!(active.apply(&Event::FoundRemoved, t0(), &policy()).is_err());
}
