//! `store migrate`: a sled store with grants, activity, an audit log and a cursor, copied into
//! a real PostgreSQL, reads back the same; a database that is not empty is refused.

use std::sync::Arc;

use super::*;
use crate::domain::activity::tests::request;
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::testing::{approve, t0};
use crate::store::contract::{grant, policy};
use crate::store::postgres::local::LocalPostgres;
use crate::store::{ActivityStore, GrantRequests, GrantStore};

/// A sled store as a running bot leaves it.
async fn lived_in(dir: &std::path::Path) -> SledStore {
    let store = SledStore::open(dir).unwrap();
    for id in ["g1", "g2", "g3"] {
        store.insert(&grant(id)).await.unwrap();
    }
    let g1 = grant("g1");
    let approved = g1.apply(&approve("UBOB"), t0(), &policy()).unwrap();
    store.replace(g1.version, &approved).await.unwrap();
    let repair = AuditEvent::standalone(AuditKind::DriftRepaired, "deleted x".into(), t0());
    store.append(vec![repair]).await.unwrap();
    let about = AuditEvent::about(&grant("g1"), AuditKind::SessionActivity, None, t0());
    let batch = vec![GrantRequests {
        grant: "g1".into(),
        about,
        requests: vec![request("a-1", "get", "pods", Some("payments"))],
    }];
    store.record_activity(batch, &|_| "x".into()).await.unwrap();
    store.set_cursor("webhook", 2).await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_is_copied_and_the_chain_head_is_the_same() {
    let Some(server) = LocalPostgres::for_tests().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sled = lived_in(dir.path()).await;
    let postgres = PostgresStore::connect(&server.new_database().await.unwrap())
        .await
        .unwrap();

    let migrated = migrate(&sled, &postgres).await.unwrap();
    assert_eq!(migrated.grants, 3);
    assert_eq!(migrated.activity, 1);
    assert_eq!(
        migrated.audit_entries, 5,
        "3 requests, an approval, a repair"
    );
    assert_eq!(migrated.cursors, 1);
    assert_eq!(migrated.head, sled.head().await.unwrap());

    for id in ["g1", "g2", "g3"] {
        assert_eq!(postgres.get(id).await.unwrap(), sled.get(id).await.unwrap());
    }
    assert_eq!(
        postgres.activity("g1").await.unwrap(),
        sled.activity("g1").await.unwrap()
    );
    assert_eq!(postgres.unsummarised_activity().await.unwrap().len(), 1);
    assert_eq!(postgres.cursor("webhook").await.unwrap(), 2);
    assert_eq!(
        postgres.entries_after(0, 100).await.unwrap(),
        sled.entries_after(0, 100).await.unwrap()
    );
    let walked = crate::audit::walk_chain(&postgres).await.unwrap().unwrap();
    assert_eq!(walked.entries, 5);
    assert_eq!(
        postgres.next_deadline().await.unwrap(),
        sled.next_deadline().await.unwrap()
    );

    // The copy goes on where the source stopped: the next entry chains onto the same head.
    let postgres: Arc<dyn crate::store::Store> = Arc::new(postgres);
    postgres.insert(&grant("g4")).await.unwrap();
    let walked = crate::audit::walk_chain(&*postgres).await.unwrap().unwrap();
    assert_eq!(walked.entries, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_not_empty_is_refused_and_left_as_it_was() {
    let Some(server) = LocalPostgres::for_tests().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sled = lived_in(dir.path()).await;
    let postgres = PostgresStore::connect(&server.new_database().await.unwrap())
        .await
        .unwrap();
    postgres.insert(&grant("other")).await.unwrap();
    let refused = migrate(&sled, &postgres).await.unwrap_err();
    assert!(refused.to_string().contains("not empty"), "{refused}");
    assert!(postgres.get("g1").await.unwrap().is_none());
    assert_eq!(postgres.head().await.unwrap().unwrap().seq, 1);
}
