//! The audit log: every step of a grant is recorded, hash-chained, before it is posted; the
//! `audit verify` command finds any entry edited, removed or reordered in the store, and
//! `audit export` writes what was asked for.

use crate::support;

use std::path::Path;

use chrono::Duration;
use serde_json::Value;
use support::*;

/// `prod-access audit verify` fails, and says `broken`.
fn verify_says_broken(h: &Harness, broken: &str) {
    let (ok, out, err) = audit_command(h.store_path(), &["verify"]);
    assert!(!ok, "{out}");
    assert!(err.contains(broken), "{err}");
}

/// alice asks for edit on payments for 2h (INC-77), bob approves, the access expires.
async fn a_whole_grant() -> (Harness, String) {
    let mut h = Harness::start().await;
    let grant = h
        .requested_grant("edit payments 2h INC-77 stuck queue")
        .await;
    h.clock.advance(Duration::minutes(5));
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_audit().await, "Access granted");
    h.clock.advance(Duration::hours(2));
    assert_says(&h.next_audit().await, "expired and was removed");
    assert_says(&h.next_audit().await, "verified: no longer allowed");
    h.settle().await;
    h.stop().await;
    (h, grant)
}

/// Rewrites the stored entry `seq` (the bot is stopped).
fn tamper(store: &Path, seq: u64, change: impl FnOnce(&mut Value)) {
    let db = open_raw_store(store);
    let audit = db.open_tree("audit").unwrap();
    let mut entry: Value =
        serde_json::from_slice(&audit.get(seq.to_be_bytes()).unwrap().unwrap()).unwrap();
    change(&mut entry);
    audit
        .insert(seq.to_be_bytes(), serde_json::to_vec(&entry).unwrap())
        .unwrap();
    db.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_a_grant_is_in_the_audit_log_with_who_when_what_and_why() {
    let (h, grant) = a_whole_grant().await;
    let log = audit_entries(h.store_path()).await;
    assert_eq!(
        audit_kinds(&log),
        [
            "requested",
            "approval",
            "granted",
            "expired",
            "revocation_verified"
        ]
    );
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    let requested = &log[0].event;
    assert_eq!(requested.at, t0());
    let alice = requested.actor.as_ref().unwrap();
    assert_eq!(
        (alice.user.as_str(), alice.email.as_deref()),
        (ALICE, Some("alice@example.com"))
    );
    assert_eq!(requested.grant.as_deref(), Some(grant.as_str()));
    assert_eq!(requested.role.as_deref(), Some("edit"));
    assert_eq!(requested.cluster_role.as_deref(), Some("edit"));
    assert_eq!(requested.cluster.as_deref(), Some("default"));
    assert_eq!(requested.reason.as_deref(), Some("INC-77 stuck queue"));
    assert_eq!(requested.incident.as_deref(), Some("INC-77"));
    assert_eq!(requested.channel.as_deref(), Some(DEV_CHANNEL));
    assert_eq!(
        serde_json::to_value(&requested.scope).unwrap(),
        serde_json::json!({ "kind": "namespaces", "names": ["payments"] })
    );

    let approval = &log[1].event;
    assert_eq!(approval.at, t0() + Duration::minutes(5));
    let bob = approval.actor.as_ref().unwrap();
    assert_eq!(
        (bob.user.as_str(), bob.email.as_deref()),
        (BOB, Some("bob@example.com"))
    );
    assert_eq!(approval.approvers, [BOB]);

    let granted = &log[2].event;
    assert_eq!(granted.actor, None, "prod-access made the binding");
    assert_eq!(granted.expires_at, Some(t0() + Duration::minutes(125)));
    let expired = &log[3].event;
    assert_eq!(expired.actor, None);
    assert_eq!(expired.at, t0() + Duration::minutes(125));

    let verified = &log[4].event;
    assert_eq!(verified.actor, None);
    let detail = verified.detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with("verified: no longer allowed ("),
        "{detail}"
    );

    let (ok, out, err) = audit_command(h.store_path(), &["verify"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("audit log intact: 5 entries"), "{out}");
    assert!(out.contains(&log[4].hash), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_an_edited_entry() {
    let (h, _) = a_whole_grant().await;
    tamper(h.store_path(), 2, |e| {
        e["actor"]["user"] = "U0MALLORY".into()
    });
    verify_says_broken(
        &h,
        "audit log BROKEN at entry 2: entry 2 was changed after it was written",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_a_removed_entry_and_entries_cut_from_the_end() {
    let (h, _) = a_whole_grant().await;
    {
        let db = open_raw_store(h.store_path());
        let audit = db.open_tree("audit").unwrap();
        audit.remove(2u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    verify_says_broken(&h, "BROKEN at entry 2: entry 2 is missing");

    let (h, _) = a_whole_grant().await;
    {
        let db = open_raw_store(h.store_path());
        let audit = db.open_tree("audit").unwrap();
        audit.remove(4u64.to_be_bytes()).unwrap();
        audit.remove(3u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    verify_says_broken(&h, "BROKEN at entry 3: entries 3 to 4 are missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_reordered_entries_even_when_renumbered() {
    let (h, _) = a_whole_grant().await;
    let read = |seq: u64| {
        let db = open_raw_store(h.store_path());
        let audit = db.open_tree("audit").unwrap();
        let value: Value =
            serde_json::from_slice(&audit.get(seq.to_be_bytes()).unwrap().unwrap()).unwrap();
        value
    };
    let (second, third) = (read(2), read(3));
    tamper(h.store_path(), 2, |e| *e = third.clone());
    tamper(h.store_path(), 3, |e| *e = second.clone());
    verify_says_broken(
        &h,
        "BROKEN at entry 2: entry 2 is missing or out of order: found entry 3 in its place",
    );
    // The same swap with the numbers changed to fit: the hashes give it away.
    tamper(h.store_path(), 2, |e| e["seq"] = 2.into());
    tamper(h.store_path(), 3, |e| e["seq"] = 3.into());
    verify_says_broken(&h, "BROKEN at entry 2: entry 2 was changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_chosen_entries_as_stored_json_lines() {
    let (mut h, first) = a_whole_grant().await;
    h.restart().await;
    h.clock.advance(Duration::hours(1));
    let second = h.request(CAROL, "view payments 1h reading logs").await;
    h.next_audit().await;
    h.settle().await;
    let log = h.stopped_audit_log().await;
    assert_eq!(
        log.len(),
        6,
        "the log survives a restart and goes on: {:?}",
        audit_kinds(&log)
    );

    let (ok, out, err) = audit_command(h.store_path(), &["export"]);
    assert!(ok, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[5]["grant"], second.as_str());
    assert_eq!(lines[5]["prev_hash"], lines[4]["hash"]);
    assert_eq!(lines[0]["hash"], log[0].hash.as_str());

    let grant_lines = |args: &[&str]| {
        let (ok, out, err) = audit_command(h.store_path(), args);
        assert!(ok, "{err}");
        out.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(grant_lines(&["export", "--grant", &first]), [1, 2, 3, 4, 5]);
    assert_eq!(grant_lines(&["export", "--grant", &second]), [6]);
    assert_eq!(
        grant_lines(&[
            "export",
            "--since",
            "2026-11-23T09:05:00Z",
            "--until",
            "2026-11-23T11:05:00Z"
        ]),
        [2, 3]
    );
    assert_eq!(
        grant_lines(&["export", "--since", "2026-11-24"]),
        Vec::<u64>::new()
    );
    let (ok, _, err) = audit_command(h.store_path(), &["export", "--since", "soon"]);
    assert!(!ok);
    assert!(err.contains("`soon` is not a time"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_in_the_log_even_when_slack_could_not_take_its_post() {
    let mut h = Harness::start().await;
    h.slack.remove_channel(AUDIT);
    let grant = h.request(ALICE, "edit payments 1h deploy").await;
    h.settle().await;
    assert!(
        h.slack.channel_texts(AUDIT).is_empty(),
        "the audit channel took nothing"
    );
    let log = h.stopped_audit_log().await;
    assert_eq!(audit_kinds(&log), ["requested"]);
    assert_eq!(log[0].event.grant.as_deref(), Some(grant.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_by_the_reconciler_is_recorded_before_it_is_reported() {
    let mut h = Harness::start().await;
    h.kube.insert_binding(
        "payments",
        "prod-access-lostgrant",
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {
                "name": "prod-access-lostgrant", "namespace": "payments", "resourceVersion": "1",
                "labels": { "app.kubernetes.io/managed-by": "prod-access", "prod-access/grant": "lostgrant" },
                "annotations": { "prod-access/expires-at": "2026-11-23T08:00:00Z" }
            },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:mallory@example.com" }]
        }),
    );
    h.clock.advance(Duration::seconds(61));
    assert_says(&h.next_audit().await, "outlived its expiry and was deleted");
    let log = h.stopped_audit_log().await;
    assert_eq!(audit_kinds(&log), ["drift_repaired"]);
    let repair = &log[0].event;
    assert_eq!(repair.grant.as_deref(), Some("lostgrant"));
    assert_eq!(
        repair.detail.as_deref(),
        Some("deleted RoleBinding payments/prod-access-lostgrant: expired")
    );
    assert_eq!(repair.actor, None);
}
