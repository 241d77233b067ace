//! The sled audit log's own safeguards (what every backend does is in `store::contract`).

use super::*;
use crate::domain::audit::AuditKind;
use crate::domain::testing::t0;
use crate::store::GrantStore;
use crate::store::contract::grant;
use crate::store::sled::tests::fresh_store;

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
