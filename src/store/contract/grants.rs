//! Grants: stored and read back, compare-and-swap on the version, and the indexes (deadlines,
//! open, pending effects) kept with every change.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Fixture, grant, on_every_backend};
use crate::domain::grant::{Grant, GrantState};
use crate::domain::testing::t0;
use crate::store::{ChangedElsewhere, Store, StoreError};

fn active(id: &str, expires_at: DateTime<Utc>) -> Grant {
    Grant {
        state: GrantState::Active,
        expires_at: Some(expires_at),
        outbox: vec![],
        ..grant(id)
    }
}

/// What the store gives back: the grant without its journal, which went into the audit log.
fn as_stored(g: &Grant) -> Grant {
    Grant {
        journal: vec![],
        ..g.clone()
    }
}

fn ids(grants: Vec<Grant>) -> Vec<String> {
    grants.into_iter().map(|g| g.id).collect()
}

fn next_version(g: &Grant) -> Grant {
    Grant {
        version: g.version + 1,
        ..g.clone()
    }
}

async fn a_grant_round_trips_and_survives_reopening(f: Fixture) {
    let store = f.replica().await;
    store.insert(&grant("g1")).await.unwrap();
    let store = f.reopen(store).await;
    assert_eq!(
        store.get("g1").await.unwrap(),
        Some(as_stored(&grant("g1")))
    );
    assert_eq!(store.get("nope").await.unwrap(), None);
}

async fn inserting_twice_is_refused(f: Fixture) {
    let store = f.replica().await;
    store.insert(&grant("g1")).await.unwrap();
    assert!(matches!(
        store.insert(&grant("g1")).await,
        Err(StoreError::AlreadyExists(_))
    ));
}

async fn a_stale_version_is_a_conflict_and_changes_nothing(f: Fixture) {
    let store = f.replica().await;
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    let first = next_version(&g);
    store.replace(g.version, &first).await.unwrap();
    let mut racing = next_version(&g);
    racing.reason = "lost race".into();
    assert!(matches!(
        store.replace(g.version, &racing).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.get("g1").await.unwrap(), Some(as_stored(&first)));
}

/// Replicas racing to change one grant from the same version: exactly one wins.
async fn of_replicas_racing_on_one_version_exactly_one_wins(f: Fixture) {
    let g = grant("g1");
    f.replica().await.insert(&g).await.unwrap();
    let mut racers = Vec::new();
    for n in 0..8 {
        let store: Arc<dyn Store> = f.replica().await;
        let mut next = next_version(&g);
        next.reason = format!("replica {n}");
        racers.push(tokio::spawn(async move {
            store.replace(g.version, &next).await
        }));
    }
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
}

async fn replacing_a_missing_grant_is_not_found(f: Fixture) {
    let store = f.replica().await;
    assert!(matches!(
        store.replace(1, &next_version(&grant("g1"))).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn due_and_next_deadline_follow_every_grants_next_deadline_in_time_order(f: Fixture) {
    let store = f.replica().await;
    let later = active("late", t0() + chrono::Duration::hours(2));
    let sooner = active("soon", t0() + chrono::Duration::hours(1));
    store.insert(&later).await.unwrap();
    store.insert(&sooner).await.unwrap();
    store.insert(&grant("pending")).await.unwrap(); // review deadline t0 + 3h

    assert_eq!(store.next_deadline().await.unwrap(), sooner.expires_at);
    assert!(store.due(t0()).await.unwrap().is_empty());
    let due = ids(store.due(t0() + chrono::Duration::hours(2)).await.unwrap());
    assert_eq!(due, vec!["soon", "late"]);
    let all = ids(store.due(t0() + chrono::Duration::hours(3)).await.unwrap());
    assert_eq!(all, vec!["soon", "late", "pending"]);

    let expired = Grant {
        state: GrantState::Expired,
        ..next_version(&sooner)
    };
    store.replace(sooner.version, &expired).await.unwrap();
    assert_eq!(store.next_deadline().await.unwrap(), later.expires_at);
}

/// Grants due at the same moment come in the order of their ids, byte by byte.
async fn grants_due_together_come_in_id_order(f: Fixture) {
    let store = f.replica().await;
    let at = t0() + chrono::Duration::hours(1);
    for id in ["b", "B", "a", "_"] {
        store.insert(&active(id, at)).await.unwrap();
    }
    assert_eq!(ids(store.due(at).await.unwrap()), ["B", "_", "a", "b"]);
    assert_eq!(
        ids(store.open_grants().await.unwrap()),
        ["B", "_", "a", "b"]
    );
}

async fn open_grants_are_those_not_finished(f: Fixture) {
    let store = f.replica().await;
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    store.insert(&active("g2", t0())).await.unwrap();
    assert_eq!(ids(store.open_grants().await.unwrap()), ["g1", "g2"]);
    let denied = Grant {
        state: GrantState::Denied,
        ..next_version(&g)
    };
    store.replace(g.version, &denied).await.unwrap();
    assert_eq!(ids(store.open_grants().await.unwrap()), ["g2"]);
}

async fn grants_with_effects_are_listed_until_the_outbox_is_empty(f: Fixture) {
    let store = f.replica().await;
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    store.insert(&active("quiet", t0())).await.unwrap();
    assert_eq!(ids(store.with_pending_effects().await.unwrap()), ["g1"]);
    let done = g.complete_effect(0).complete_effect(0);
    store.replace(g.version, &done).await.unwrap();
    assert!(store.with_pending_effects().await.unwrap().is_empty());
}

async fn a_deadline_between_milliseconds_is_not_due_early(f: Fixture) {
    let store = f.replica().await;
    let deadline = t0() + chrono::Duration::microseconds(1500);
    store.insert(&active("g1", deadline)).await.unwrap();
    let due = |at| {
        let store = store.clone();
        async move { store.due(at).await.unwrap().len() }
    };
    assert_eq!(due(t0() + chrono::Duration::milliseconds(1)).await, 0);
    assert_eq!(due(deadline).await, 0, "the deadline is rounded up to 2ms");
    assert_eq!(due(t0() + chrono::Duration::milliseconds(2)).await, 1);
}

/// A replica hears of the grants another one changes, and not of its own changes; a backend one
/// process owns has no one else to hear.
async fn a_replica_hears_of_changes_made_by_another(f: Fixture) {
    let (writer, listener) = (f.replica().await, f.replica().await);
    let Some(mut heard) = listener.changes_elsewhere() else {
        assert!(
            matches!(f, Fixture::Sled { .. }),
            "only sled has no replicas"
        );
        return;
    };
    let mut own = writer.changes_elsewhere().unwrap();
    let g = grant("g1");
    writer.insert(&g).await.unwrap();
    writer.replace(g.version, &next_version(&g)).await.unwrap();
    for new in [true, false] {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), heard.recv());
        let change = next.await.expect("heard in time").unwrap();
        let id = "g1".into();
        assert_eq!(change, ChangedElsewhere::Grant { id, new });
    }
    listener.insert(&grant("g2")).await.unwrap();
    let theirs = tokio::time::timeout(std::time::Duration::from_secs(10), own.recv());
    assert_eq!(
        theirs.await.expect("heard in time").unwrap(),
        ChangedElsewhere::Grant {
            id: "g2".into(),
            new: true
        },
        "the writer hears the other replica's change, not its own two"
    );
}

/// More grants than one of PostgreSQL's seeding transactions takes.
async fn grants_stored_at_once_are_each_there_with_their_journal_in_the_chain(f: Fixture) {
    let grants: Vec<Grant> = (0..1501).map(|n| grant(&format!("g{n:04}"))).collect();
    f.insert_all(&grants).await;
    let store = f.replica().await;
    for g in [&grants[0], &grants[999], &grants[1000], &grants[1500]] {
        assert_eq!(store.get(&g.id).await.unwrap(), Some(as_stored(g)));
    }
    assert_eq!(store.open_grants().await.unwrap().len(), grants.len());
    let entries = store.entries_after(0, usize::MAX).await.unwrap();
    let journal: usize = grants.iter().map(|g| g.journal.len()).sum();
    assert!(journal >= grants.len(), "each request is journaled");
    assert_eq!(entries.len(), journal);
    let head = store.head().await.unwrap();
    crate::domain::audit::verify(entries, head.as_ref()).unwrap();
}

/// A claim on a grant's outbox keeps other replicas out until given up or lapsed. A store one
/// process owns has no other replica: it grants every claim.
async fn an_outbox_claim_keeps_other_replicas_out_until_given_up_or_lapsed(f: Fixture) {
    let (a, b) = (f.replica().await, f.replica().await);
    let shared = matches!(f, Fixture::Postgres { .. });
    let lease = std::time::Duration::from_secs(60);
    assert!(a.claim_outbox("g1", lease).await.unwrap());
    assert_eq!(
        b.claim_outbox("g1", lease).await.unwrap(),
        !shared,
        "a holds it"
    );
    assert!(
        b.claim_outbox("g2", lease).await.unwrap(),
        "another grant's is free"
    );
    assert!(
        a.claim_outbox("g1", lease).await.unwrap(),
        "a renews its own"
    );
    a.release_outbox("g1").await.unwrap();
    let no_time = std::time::Duration::ZERO;
    assert!(
        b.claim_outbox("g1", no_time).await.unwrap(),
        "given up: b takes it"
    );
    assert!(
        a.claim_outbox("g1", lease).await.unwrap(),
        "lapsed: a takes it back"
    );
    b.release_outbox("g1").await.unwrap();
    assert_eq!(
        b.claim_outbox("g1", lease).await.unwrap(),
        !shared,
        "b cannot give up a's claim"
    );
}

on_every_backend!(
    an_outbox_claim_keeps_other_replicas_out_until_given_up_or_lapsed,
    grants_stored_at_once_are_each_there_with_their_journal_in_the_chain,
    a_replica_hears_of_changes_made_by_another,
    a_grant_round_trips_and_survives_reopening,
    inserting_twice_is_refused,
    a_stale_version_is_a_conflict_and_changes_nothing,
    of_replicas_racing_on_one_version_exactly_one_wins,
    replacing_a_missing_grant_is_not_found,
    due_and_next_deadline_follow_every_grants_next_deadline_in_time_order,
    grants_due_together_come_in_id_order,
    open_grants_are_those_not_finished,
    grants_with_effects_are_listed_until_the_outbox_is_empty,
    a_deadline_between_milliseconds_is_not_due_early,
);
