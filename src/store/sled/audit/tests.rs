//! The sled audit log: appended with each grant change, chained, verified and read in pages.

use super::*;
use crate::domain::audit::{AuditKind, verify};
use crate::domain::testing::{approve, t0};
use crate::store::GrantStore;
use crate::store::sled::tests::{fresh_store, grant, policy};

async fn kinds(store: &SledStore) -> Vec<(u64, AuditKind, Option<String>)> {
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

async fn verified(store: &SledStore) -> u64 {
    let entries = store.entries_after(0, usize::MAX).await.unwrap();
    let head = store.head().await.unwrap();
    verify(entries, head.as_ref()).unwrap().entries
}

#[tokio::test]
async fn a_grant_change_and_its_audit_events_are_written_together_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        let g = grant("g1");
        store.insert(&g).await.unwrap();
        let approved = g.apply(&approve("UBOB"), t0(), &policy()).unwrap();
        store.replace(g.version, &approved).await.unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        kinds(&store).await,
        [
            (1, AuditKind::Requested, Some("g1".into())),
            (2, AuditKind::Approval, Some("g1".into())),
        ]
    );
    assert_eq!(verified(&store).await, 2);
    assert!(store.get("g1").await.unwrap().unwrap().journal.is_empty());
}

#[tokio::test]
async fn a_change_that_loses_the_race_appends_nothing() {
    let (_dir, store) = fresh_store();
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    let by_bob = g.apply(&approve("UBOB"), t0(), &policy()).unwrap();
    let by_carol = g.apply(&approve("UCAROL"), t0(), &policy()).unwrap();
    store.replace(g.version, &by_bob).await.unwrap();
    assert!(store.replace(g.version, &by_carol).await.is_err());
    assert_eq!(
        kinds(&store).await.len(),
        2,
        "only bob's approval is recorded"
    );
    assert!(store.insert(&g).await.is_err());
    assert_eq!(
        kinds(&store).await.len(),
        2,
        "a refused insert records nothing"
    );
}

#[tokio::test]
async fn events_of_a_version_already_stored_are_not_appended_again() {
    let (_dir, store) = fresh_store();
    let g = grant("g1");
    store.insert(&g).await.unwrap();
    // Derived from the in-memory grant, whose journal still holds the request.
    let approved = g.apply(&approve("UBOB"), t0(), &policy()).unwrap();
    assert_eq!(approved.journal.len(), 2);
    store.replace(g.version, &approved).await.unwrap();
    assert_eq!(kinds(&store).await.len(), 2);
}

#[tokio::test]
async fn concurrent_writers_build_one_chain_without_gaps() {
    let (_dir, store) = fresh_store();
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for n in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.insert(&grant(&format!("g{n}"))).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(verified(&store).await, 40);
}

#[tokio::test]
async fn events_of_no_grant_are_appended_to_the_same_chain() {
    let (_dir, store) = fresh_store();
    store.insert(&grant("g1")).await.unwrap();
    let repair = AuditEvent::standalone(AuditKind::DriftRepaired, "deleted x".into(), t0());
    let appended = store.append(vec![repair]).await.unwrap();
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].seq, 2);
    assert_eq!(appended[0].event.detail.as_deref(), Some("deleted x"));
    assert_eq!(verified(&store).await, 2);
    assert!(store.append(vec![]).await.unwrap().is_empty());
}

#[tokio::test]
async fn entries_since_reads_back_from_the_end_and_cursors_persist() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
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
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.cursor("webhook").await.unwrap(), 2);
    assert_eq!(store.entries_after(2, 10).await.unwrap().len(), 1);
    assert_eq!(store.head().await.unwrap().unwrap().seq, 3);
}

#[tokio::test]
async fn a_waiting_sink_wakes_when_an_entry_is_appended() {
    let (_dir, store) = fresh_store();
    let store = std::sync::Arc::new(store);
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.wait_for_entry_after(0).await })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    store.insert(&grant("g1")).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("woke")
        .unwrap();
}

#[tokio::test]
async fn a_lost_head_stops_appends_instead_of_overwriting_history() {
    let (_dir, store) = fresh_store();
    store.insert(&grant("g1")).await.unwrap();
    store.audit.meta.remove(HEAD).unwrap();
    let refused = store.insert(&grant("g2")).await;
    assert!(
        matches!(&refused, Err(StoreError::Backend(e)) if e.contains("audit entry 1 already exists")),
        "{:?}",
        refused.err()
    );
    assert!(
        store.get("g2").await.unwrap().is_none(),
        "nothing half-done"
    );
    let walked = crate::audit::walk_chain(&store).await.unwrap();
    assert_eq!(
        walked,
        Err(crate::domain::audit::ChainBreak::HeadMissing { last: 1 })
    );
}

/// A path that stores an entry before its `detail` is worded fails every test that takes it:
/// the words could never be added, the hash chain covers them.
#[cfg(debug_assertions)]
#[tokio::test]
#[should_panic(expected = "a break_glass entry is stored without its detail")]
async fn a_grant_change_whose_entry_waits_for_its_words_is_not_stored() {
    let (_dir, store) = fresh_store();
    let mut g = grant("g1");
    let unworded = AuditEvent::about(&g, AuditKind::BreakGlass, Some("UALICE"), t0());
    assert!(unworded.unworded());
    g.journal.push(unworded);
    store.insert(&g).await.unwrap();
}

#[cfg(debug_assertions)]
#[tokio::test]
#[should_panic(expected = "a drift_repaired entry is stored without its detail")]
async fn a_repair_without_its_words_is_not_stored() {
    let (_dir, store) = fresh_store();
    let mut repair = AuditEvent::standalone(AuditKind::DriftRepaired, String::new(), t0());
    repair.detail = None;
    store.append(vec![repair]).await.unwrap();
}
