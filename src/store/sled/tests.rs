//! The sled store: grants round-trip, survive reopening, and keep their indexes with compare-and-swap.

use std::time::Duration;

use super::*;
use crate::domain::grant::GrantState;
use crate::domain::policy::Policy;
use crate::domain::testing::{policy_from, t0};

pub(in crate::store) fn policy() -> Policy {
    policy_from(
        "approvers: [UBOB, UCAROL]\nrequests: {review_timeout: 3h}\nroles: {edit: {cluster_role: edit, namespaces: [payments], max_duration: 4h}}",
    )
}

/// A new store in a directory of its own, which lasts as long as the returned guard.
pub(in crate::store) fn fresh_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

/// alice's request for edit on payments for 1h, at t0.
pub(in crate::store) fn grant(id: &str) -> Grant {
    Grant::test()
        .policy(policy())
        .id(id)
        .reason("r")
        .duration(Duration::from_secs(3600))
        .requested()
}

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

#[tokio::test]
async fn a_grant_round_trips_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.insert(&grant("g1")).await.unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store.get("g1").await.unwrap(),
        Some(as_stored(&grant("g1")))
    );
    assert_eq!(store.get("nope").await.unwrap(), None);
}

#[tokio::test]
async fn inserting_twice_is_refused() {
    let (_dir, store) = fresh_store();
    store.insert(&grant("g1")).await.unwrap();
    assert!(matches!(
        store.insert(&grant("g1")).await,
        Err(StoreError::AlreadyExists(_))
    ));
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_changes_nothing() {
    let (_dir, store) = fresh_store();
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

#[tokio::test]
async fn replacing_a_missing_grant_is_not_found() {
    let (_dir, store) = fresh_store();
    assert!(matches!(
        store.replace(1, &next_version(&grant("g1"))).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn due_and_next_deadline_follow_every_grants_next_deadline_in_time_order() {
    let (_dir, store) = fresh_store();
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

#[tokio::test]
async fn open_grants_are_those_not_finished() {
    let (_dir, store) = fresh_store();
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    store.insert(&active("g2", t0())).await.unwrap();
    let mut open = ids(store.open_grants().await.unwrap());
    open.sort();
    assert_eq!(open, vec!["g1", "g2"]);
    let denied = Grant {
        state: GrantState::Denied,
        ..next_version(&g)
    };
    store.replace(g.version, &denied).await.unwrap();
    let open = ids(store.open_grants().await.unwrap());
    assert_eq!(open, vec!["g2"]);
}

#[tokio::test]
async fn grants_with_effects_are_listed_until_the_outbox_is_empty() {
    let (_dir, store) = fresh_store();
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    store.insert(&active("quiet", t0())).await.unwrap();
    let pending = ids(store.with_pending_effects().await.unwrap());
    assert_eq!(pending, vec!["g1"]);
    let done = g.complete_effect(0).complete_effect(0);
    store.replace(g.version, &done).await.unwrap();
    assert!(store.with_pending_effects().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deadline_between_milliseconds_is_not_due_early() {
    let (_dir, store) = fresh_store();
    let deadline = t0() + chrono::Duration::microseconds(1500);
    store.insert(&active("g1", deadline)).await.unwrap();
    assert!(
        store
            .due(t0() + chrono::Duration::milliseconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.due(deadline).await.unwrap().len(),
        0,
        "the key is rounded to 2ms"
    );
    assert_eq!(
        store
            .due(t0() + chrono::Duration::milliseconds(2))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_store_in_use_is_refused_with_what_to_do_about_it() {
    let dir = tempfile::tempdir().unwrap();
    let _running = SledStore::open(dir.path()).unwrap();
    let Err(StoreError::Backend(message)) = SledStore::open(dir.path()) else {
        panic!("a second open of a store in use must fail");
    };
    assert!(
        message.contains("another prod-access process has it open"),
        "{message}"
    );
}
