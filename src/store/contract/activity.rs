//! Session activity: added up batch by batch (also from several replicas at once), its notable
//! requests in the audit log in the same write, replies and the final summary recorded.

use std::sync::Arc;

use super::{Fixture, grant, on_every_backend};
use crate::domain::activity::tests::{named, request};
use crate::domain::activity::{
    Cleanup, CleanupStep, EndReport, Handled, KubeRequest, Leftover, ReportedLeftover, Tally,
};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::testing::t0;
use crate::store::{GrantRequests, Store};
use chrono::{DateTime, Utc};

fn batch(grant_id: &str, requests: Vec<KubeRequest>) -> Vec<GrantRequests> {
    let about = AuditEvent::about(&grant(grant_id), AuditKind::SessionActivity, None, t0());
    vec![GrantRequests {
        grant: grant_id.into(),
        about,
        requests,
    }]
}

fn gets(prefix: &str, n: usize) -> Vec<KubeRequest> {
    (0..n)
        .map(|i| request(&format!("{prefix}-{i}"), "get", "pods", Some("payments")))
        .collect()
}

async fn record(store: &dyn Store, batch: Vec<GrantRequests>) -> Vec<String> {
    let words = |_: &crate::domain::activity::NotableAction| "did something notable".to_string();
    let unposted = store.record_activity(batch, &words).await.unwrap();
    unposted.into_iter().map(|(grant, _)| grant).collect()
}

async fn session_activity_entries(store: &dyn Store) -> usize {
    let entries = store.entries_after(0, usize::MAX).await.unwrap();
    entries
        .iter()
        .filter(|e| e.json["kind"] == "session_activity")
        .count()
}

async fn activity_adds_up_and_its_notable_requests_are_audited_in_the_same_write(f: Fixture) {
    let store = f.replica().await;
    assert_eq!(record(&*store, batch("g1", gets("a", 3))).await, ["g1"]);
    let exec = named(
        request("x-1", "create", "pods/exec", Some("payments")),
        "api-1",
    );
    assert_eq!(record(&*store, batch("g1", vec![exec])).await, ["g1"]);
    let store = f.reopen(store).await;
    let activity = store.activity("g1").await.unwrap().unwrap();
    assert_eq!(activity.total.requests, 4);
    assert_eq!(session_activity_entries(&*store).await, 1, "the exec, once");
    let unsummarised = store.unsummarised_activity().await.unwrap();
    assert_eq!(unsummarised.len(), 1);
    assert_eq!(unsummarised[0].grant, "g1");
}

/// Batches about one grant taken by several replicas at once: none is lost.
async fn batches_about_one_grant_on_several_replicas_are_all_counted(f: Fixture) {
    let mut tasks = Vec::new();
    for replica in 0..3 {
        let store: Arc<dyn Store> = f.replica().await;
        for n in 0..10 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let requests = gets(&format!("r{replica}b{n}"), 2);
                let mut both = batch("g1", requests.clone());
                both.extend(batch("g2", requests));
                record(&*store, both).await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = f.replica().await;
    for grant in ["g1", "g2"] {
        let activity = store.activity(grant).await.unwrap().unwrap();
        assert_eq!(activity.total.requests, 60, "{grant}");
    }
}

async fn a_batch_that_adds_nothing_stores_nothing(f: Fixture) {
    let store = f.replica().await;
    let mut received = request("a-1", "get", "pods", Some("payments"));
    received.stage = crate::domain::activity::Stage::RequestReceived;
    assert!(
        record(&*store, batch("g1", vec![received]))
            .await
            .is_empty()
    );
    assert_eq!(store.activity("g1").await.unwrap(), None);
    assert!(store.unsummarised_activity().await.unwrap().is_empty());
    assert!(
        store
            .record_activity(vec![], &|_| String::new())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn replies_and_the_summary_are_recorded_and_a_summarised_grant_leaves_the_list(f: Fixture) {
    let store = f.replica().await;
    record(&*store, batch("g1", gets("a", 2))).await;
    let posted: Tally = store.activity("g1").await.unwrap().unwrap().unposted;
    let at = t0() + chrono::Duration::minutes(5);
    store.activity_replied("g1", &posted, at).await.unwrap();
    let replied = store.activity("g1").await.unwrap().unwrap();
    assert!(replied.unposted.is_empty());
    assert_eq!(replied.last_reply_at, Some(at));

    let mut summary = AuditEvent::about(&grant("g1"), AuditKind::SessionActivity, None, at);
    summary.detail = Some("2 requests".into());
    let mut leftovers = AuditEvent::about(&grant("g1"), AuditKind::Leftovers, None, at);
    leftovers.detail = Some("high risk: create serviceaccounts/token".into());
    let report = report_of_one_leftover("audit-1");
    store
        .activity_summarised("g1", at, report.clone(), vec![summary, leftovers])
        .await
        .unwrap();
    assert!(store.activity("g1").await.unwrap().unwrap().summarised);
    assert!(store.unsummarised_activity().await.unwrap().is_empty());
    assert_eq!(session_activity_entries(&*store).await, 1, "the summary");
    let entries = store.entries_after(0, usize::MAX).await.unwrap();
    let last = &entries.last().unwrap().json;
    assert_eq!(last["kind"], "leftovers", "in the same write, in order");
    // A second run (another replica's, after a handover) records nothing twice.
    let mut again = AuditEvent::about(&grant("g1"), AuditKind::Leftovers, None, at);
    again.detail = Some("high risk: create serviceaccounts/token".into());
    store
        .activity_summarised("g1", at, EndReport::default(), vec![again])
        .await
        .unwrap();
    let after = store.entries_after(0, usize::MAX).await.unwrap();
    assert_eq!(after.len(), entries.len());
    let kept = store.activity("g1").await.unwrap().unwrap().end_report;
    assert_eq!(kept, Some(report), "the first report stands");

    let missing = store.activity_replied("nope", &posted, at).await;
    assert!(matches!(
        missing,
        Err(crate::store::StoreError::NotFound(_))
    ));
}

fn report_of_one_leftover(audit_id: &str) -> EndReport {
    let made = request(audit_id, "create", "serviceaccounts", Some("payments"));
    let leftover = Leftover::of(&named(made, "ci-bot")).expect("a ServiceAccount is a leftover");
    EndReport {
        streams: Vec::new(),
        leftovers: vec![ReportedLeftover {
            leftover,
            exists: Some(true),
            deletable: true,
            uid: Some("uid-1".into()),
            handled: None,
        }],
    }
}

async fn step(store: &dyn Store, step: CleanupStep, entry: Option<&AuditEvent>) -> bool {
    store
        .activity_cleaned_up("g1", "l0", &step, entry)
        .await
        .unwrap()
}

/// g1's activity summarised at `at`, its report holding one leftover (`l0`); and bob's Delete
/// of it, as claimed.
async fn summarised_with_one_leftover(store: &dyn Store) -> (DateTime<Utc>, Handled) {
    record(store, batch("g1", gets("a", 1))).await;
    let at = t0() + chrono::Duration::minutes(5);
    store
        .activity_summarised("g1", at, report_of_one_leftover("audit-1"), Vec::new())
        .await
        .unwrap();
    let handled = Handled {
        by: "U_APPROVER".into(),
        at,
        how: Cleanup::Deleted,
        pending: true,
    };
    (at, handled)
}

async fn a_cleanup_is_claimed_then_recorded_once_with_its_audit_entry(f: Fixture) {
    let store = f.replica().await;
    let (at, handled) = summarised_with_one_leftover(&*store).await;
    let mut entry = AuditEvent::about(&grant("g1"), AuditKind::LeftoverDeleted, None, at);
    entry.detail = Some("deleted ServiceAccount payments/ci-bot".into());
    let before = store.entries_after(0, usize::MAX).await.unwrap().len();
    // Claimed before the cluster is asked: in the store, not yet in the log.
    assert!(step(&*store, CleanupStep::Claim(handled.clone()), None).await);
    assert_eq!(
        store.entries_after(0, usize::MAX).await.unwrap().len(),
        before
    );
    // Another approver's claim meets it: refused, nothing written.
    let other = Handled {
        how: Cleanup::Reviewed,
        pending: false,
        ..handled.clone()
    };
    assert!(!step(&*store, CleanupStep::Claim(other.clone()), Some(&entry)).await);
    // Done: final, and in the log once.
    assert!(step(&*store, CleanupStep::Finish(Cleanup::Deleted), Some(&entry)).await);
    assert!(!step(&*store, CleanupStep::Finish(Cleanup::Deleted), Some(&entry)).await);
    let kept = store
        .activity("g1")
        .await
        .unwrap()
        .unwrap()
        .end_report
        .unwrap();
    let done = Handled {
        pending: false,
        ..handled
    };
    assert_eq!(kept.leftovers[0].handled, Some(done));
    let entries = store.entries_after(0, usize::MAX).await.unwrap();
    assert_eq!(entries.len(), before + 1);
    assert_eq!(entries.last().unwrap().json["kind"], "leftover_deleted");
    assert!(
        !step(&*store, CleanupStep::Claim(other), Some(&entry)).await,
        "handled"
    );
}

async fn a_released_claim_leaves_the_item_open_again(f: Fixture) {
    let store = f.replica().await;
    let (_, handled) = summarised_with_one_leftover(&*store).await;
    let claim = CleanupStep::Claim(handled);
    assert!(
        store
            .activity_cleaned_up("g1", "l0", &claim, None)
            .await
            .unwrap()
    );
    let release = CleanupStep::Release(Cleanup::Deleted);
    assert!(
        store
            .activity_cleaned_up("g1", "l0", &release, None)
            .await
            .unwrap()
    );
    let kept = store
        .activity("g1")
        .await
        .unwrap()
        .unwrap()
        .end_report
        .unwrap();
    assert_eq!(kept.leftovers[0].handled, None);
    assert_eq!(kept.open_items(), 1);
}

on_every_backend!(
    a_cleanup_is_claimed_then_recorded_once_with_its_audit_entry,
    a_released_claim_leaves_the_item_open_again,
    activity_adds_up_and_its_notable_requests_are_audited_in_the_same_write,
    batches_about_one_grant_on_several_replicas_are_all_counted,
    a_batch_that_adds_nothing_stores_nothing,
    replies_and_the_summary_are_recorded_and_a_summarised_grant_leaves_the_list,
);
