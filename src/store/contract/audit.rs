//! The audit log: appended with each grant change in the same write, one chain across every
//! writer and replica, read back in pages and by time, and its cursors.

use std::sync::Arc;
use std::time::Duration;

use super::{Fixture, grant, on_every_backend, policy};
use crate::domain::audit::{AuditEntry, AuditEvent, AuditKind, verify};
use crate::domain::testing::{approve, t0};
use crate::store::Store;

async fn kinds(store: &dyn Store) -> Vec<(u64, AuditKind, Option<String>)> {
    store
        .entries_after(0, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let entry: AuditEntry = serde_json::from_value(e.json).unwrap();
            (entry.seq, entry.event.kind, entry.event.grant)
        })
        .collect()
}

/// How many entries the chain holds; panics where it does not verify.
async fn verified(store: &dyn Store) -> u64 {
    let entries = store.entries_after(0, usize::MAX).await.unwrap();
    let head = store.head().await.unwrap();
    verify(entries, head.as_ref()).unwrap().entries
}

async fn a_grant_change_and_its_audit_events_are_written_together_and_survive_reopening(
    f: Fixture,
) {
    let store = f.replica().await;
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    let approved = g.apply(&approve("UBOB"), t0(), &policy()).unwrap();
    store.replace(g.version, &approved).await.unwrap();
    let store = f.reopen(store).await;
    assert_eq!(
        kinds(&*store).await,
        [
            (1, AuditKind::Requested, Some("g1".into())),
            (2, AuditKind::Approval, Some("g1".into())),
        ]
    );
    assert_eq!(verified(&*store).await, 2);
    assert!(store.get("g1").await.unwrap().unwrap().journal.is_empty());
}

async fn a_change_that_loses_the_race_appends_nothing(f: Fixture) {
    let store = f.replica().await;
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    let by_bob = g.apply(&approve("UBOB"), t0(), &policy()).unwrap();
    let by_carol = g.apply(&approve("UCAROL"), t0(), &policy()).unwrap();
    store.replace(g.version, &by_bob).await.unwrap();
    assert!(store.replace(g.version, &by_carol).await.is_err());
    assert_eq!(
        kinds(&*store).await.len(),
        2,
        "only bob's approval is recorded"
    );
    assert!(store.insert(&g).await.is_err());
    assert_eq!(
        kinds(&*store).await.len(),
        2,
        "a refused insert records nothing"
    );
}

async fn events_of_a_version_already_stored_are_not_appended_again(f: Fixture) {
    let store = f.replica().await;
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    // Derived from the in-memory grant, whose journal still holds the request.
    let approved = g.apply(&approve("UBOB"), t0(), &policy()).unwrap();
    assert_eq!(approved.journal.len(), 2);
    store.replace(g.version, &approved).await.unwrap();
    assert_eq!(kinds(&*store).await.len(), 2);
}

/// Three replicas, each with many writers at once, grant changes and standalone appends mixed:
/// one chain, no gaps, every entry once.
async fn concurrent_writers_on_every_replica_build_one_chain_without_gaps(f: Fixture) {
    let mut tasks = Vec::new();
    for replica in 0..3 {
        let store: Arc<dyn Store> = f.replica().await;
        for n in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .insert(&grant(&format!("r{replica}g{n}")))
                    .await
                    .unwrap();
                let repair = AuditEvent::standalone(AuditKind::DriftRepaired, "x".into(), t0());
                store.append(vec![repair]).await.unwrap();
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = f.replica().await;
    assert_eq!(verified(&*store).await, 120);
    let requested = kinds(&*store).await;
    let mut grants: Vec<_> = requested.iter().filter_map(|(_, _, g)| g.clone()).collect();
    grants.sort();
    grants.dedup();
    assert_eq!(grants.len(), 60, "each grant's request once");
}

async fn events_of_no_grant_are_appended_to_the_same_chain(f: Fixture) {
    let store = f.replica().await;
    store.insert(&grant("g1")).await.unwrap();
    let repair = AuditEvent::standalone(AuditKind::DriftRepaired, "deleted x".into(), t0());
    let appended = store.append(vec![repair]).await.unwrap();
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].seq, 2);
    assert_eq!(appended[0].event.detail.as_deref(), Some("deleted x"));
    assert_eq!(verified(&*store).await, 2);
    assert!(store.append(vec![]).await.unwrap().is_empty());
}

async fn entries_since_and_after_read_back_in_order_and_cursors_persist(f: Fixture) {
    let store = f.replica().await;
    for (n, minutes) in [(1, 0), (2, 30), (3, 90)] {
        let mut g = grant(&format!("g{n}"));
        g.journal[0].at = t0() + chrono::Duration::minutes(minutes);
        store.insert(&g).await.unwrap();
    }
    let since = store
        .entries_since(t0() + chrono::Duration::minutes(30))
        .await
        .unwrap();
    let seqs: Vec<u64> = since.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(store.cursor("webhook").await.unwrap(), 0);
    store.set_cursor("webhook", 2).await.unwrap();
    store.set_cursor("webhook", 3).await.unwrap();

    let store = f.reopen(store).await;
    assert_eq!(store.cursor("webhook").await.unwrap(), 3);
    assert_eq!(store.cursor("other").await.unwrap(), 0);
    let page: Vec<u64> = store
        .entries_after(1, 1)
        .await
        .unwrap()
        .iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(page, [2]);
    assert_eq!(store.entries_after(2, 10).await.unwrap().len(), 1);
    assert_eq!(store.head().await.unwrap().unwrap().seq, 3);
}

async fn an_empty_log_has_no_head(f: Fixture) {
    let store = f.replica().await;
    assert_eq!(store.head().await.unwrap(), None);
    assert!(store.entries_after(0, 10).await.unwrap().is_empty());
    assert_eq!(store.durable_seq(), 0);
}

/// A sink waiting on one replica wakes for an entry another replica appends.
async fn a_waiting_sink_wakes_when_any_replica_appends(f: Fixture) {
    let sink_side = f.replica().await;
    let writer = f.replica().await;
    let waiter = {
        let store = sink_side.clone();
        tokio::spawn(async move { store.wait_for_entry_after(0).await })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    writer.insert(&grant("g1")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woke")
        .unwrap();
    assert_eq!(sink_side.durable_seq(), 1);
}

on_every_backend!(
    a_grant_change_and_its_audit_events_are_written_together_and_survive_reopening,
    a_change_that_loses_the_race_appends_nothing,
    events_of_a_version_already_stored_are_not_appended_again,
    concurrent_writers_on_every_replica_build_one_chain_without_gaps,
    events_of_no_grant_are_appended_to_the_same_chain,
    entries_since_and_after_read_back_in_order_and_cursors_persist,
    an_empty_log_has_no_head,
    a_waiting_sink_wakes_when_any_replica_appends,
);
