//! `prod-access sweep`, the real binary against the fake apiserver: it deletes exactly the
//! prod-access bindings whose expiry has passed, on every configured cluster, and needs neither
//! chat secrets nor the store.

use crate::support;

use std::process::Command;

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::json;
use support::child_bot::write_kubeconfig;
use support::*;

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A configuration with its clusters (the one in `kubeconfig`); nothing else of it is used.
fn config_yaml(store: &std::path::Path) -> String {
    slack_basics("127.0.0.1:0", store, "http://127.0.0.1:9/api")
        + &format!(
            "kubernetes:\n  subject_prefix: \"oidc:\"\npolicy:\n  approvers: [{BOB}]\n  roles:\n    edit: {{ cluster_role: edit, namespaces: [payments], max_duration: 1h }}\n"
        )
}

fn cluster_binding(name: &str, grant: &str, expires_at: &str) -> serde_json::Value {
    let mut binding = managed_binding(name, grant, expires_at);
    binding["kind"] = json!("ClusterRoleBinding");
    binding["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    binding
}

/// A folder with a configuration naming `kube` as its one cluster (its store is never made).
fn sweeper_dir(kube: &FakeKube) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = config_yaml(&dir.path().join("store"));
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    write_kubeconfig(dir.path(), kube);
    dir
}

/// `prod-access sweep` on `dir`'s configuration, without chat secrets or in-cluster settings.
fn run_sweep(dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args(["sweep", "--config"])
        .arg(dir.join("config.yaml"))
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("SLACK_SIGNING_SECRET")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap()
}

/// A successful sweep of `kube`; its stdout.
fn sweep(kube: &FakeKube) -> String {
    let swept = run_sweep(sweeper_dir(kube).path());
    assert!(swept.status.success());
    String::from_utf8_lossy(&swept.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_exactly_the_overdue_bindings_without_the_bot_or_its_store() {
    init();
    let kube = FakeKube::start(&["payments", "orders"]).await;
    let past = at(Duration::minutes(-2));
    kube.insert_binding(
        "payments",
        "prod-access-old",
        managed_binding("prod-access-old", "old", &past),
    );
    let future = at(Duration::minutes(30));
    kube.insert_binding(
        "payments",
        "prod-access-live",
        managed_binding("prod-access-live", "live", &future),
    );
    kube.insert_binding(
        "",
        "prod-access-oldcluster",
        cluster_binding("prod-access-oldcluster", "oldcluster", &past),
    );
    // Someone else's binding, expired by its annotation but not labelled as prod-access's.
    let mut foreign = managed_binding("team-binding", "x", &past);
    foreign["metadata"]["labels"] = json!({ "app.kubernetes.io/managed-by": "helm" });
    kube.insert_binding("payments", "team-binding", foreign);

    let dir = sweeper_dir(&kube);
    let store = dir.path().join("store");
    let swept = run_sweep(dir.path());
    let said = String::from_utf8_lossy(&swept.stdout);
    assert!(
        swept.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&swept.stderr)
    );
    assert!(
        said.contains("deleted RoleBinding payments/prod-access-old (grant old"),
        "{said}"
    );
    assert!(
        said.contains("deleted ClusterRoleBinding prod-access-oldcluster"),
        "{said}"
    );
    assert!(
        said.contains("swept: 2 deleted, 0 already gone, 0 failed"),
        "{said}"
    );

    assert!(kube.grant_binding("payments", "old").is_none());
    assert!(kube.cluster_binding("prod-access-oldcluster").is_none());
    assert!(
        kube.grant_binding("payments", "live").is_some(),
        "a live grant keeps its access"
    );
    assert_eq!(kube.binding_count(), 2, "the live one and the foreign one");
    assert!(!store.exists(), "the sweeper never opens the store");

    // Run again: nothing is left to do.
    let again = run_sweep(dir.path());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("swept: 0 deleted"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_cannot_be_listed_fails_the_sweep_so_the_cronjob_shows_it() {
    init();
    let kube = FakeKube::start(&["payments"]).await;
    kube.set_failing(true);
    let swept = run_sweep(sweeper_dir(&kube).path());
    assert!(!swept.status.success());
    let said = String::from_utf8_lossy(&swept.stdout);
    assert!(said.contains("cannot list the bindings"), "{said}");
}

/// The bot is down when a grant falls due; the sweeper removes its binding meanwhile (by the
/// annotation, which the harness's clock put in the past). When the bot is back it ends the
/// grant and records that the binding was already gone, and when it should have gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_sweeper_removed_while_the_bot_was_down_is_in_the_audit_log() {
    let mut h = Harness::start().await;
    let grant = h
        .request(ALICE, "edit payments 2h fixing stuck queue")
        .await;
    h.click(BOB, "approve", &grant).await;
    h.kube
        .wait_until("the grant is bound", |k| {
            k.grant_binding("payments", &grant).is_some()
        })
        .await;
    h.stop().await;
    h.clock.advance(Duration::hours(2) + Duration::minutes(5));
    let said = sweep(&h.kube);
    assert!(said.contains("swept: 1 deleted"), "{said}");

    h.restart().await;
    // The audit post comes after the removal and its record.
    while !h
        .next_audit()
        .await
        .text()
        .contains("expired and was removed")
    {}
    // Then the cluster is asked whether alice's access really ended.
    assert_says(&h.next_audit().await, "verified: no longer allowed");
    h.stop().await;
    let entries = audit_entries(h.store_path()).await;
    let kinds = audit_kinds(&entries);
    assert_eq!(
        kinds,
        [
            "requested",
            "approval",
            "granted",
            "expired",
            "found_removed",
            "revocation_verified"
        ]
    );
    let found = &entries[4];
    assert_eq!(found.event.grant.as_deref(), Some(grant.as_str()));
    assert_eq!(
        found.event.detail.as_deref(),
        Some(
            "its bindings were already gone when prod-access came to remove them, 5m after the \
             expiry: the sweeper removes expired bindings while prod-access is away"
        )
    );
}

const SWEEPER: &str = "system:serviceaccount:prod-access:prod-access-sweeper";

/// deploy/base/sweeper.yaml, one value per document.
fn sweeper_manifests() -> Vec<serde_json::Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/base/sweeper.yaml");
    serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn of_kind<'a>(documents: &'a [serde_json::Value], kind: &str) -> &'a serde_json::Value {
    documents.iter().find(|d| d["kind"] == kind).unwrap()
}

/// Evaluates `expression` for a DELETE by `username` of `old_object`.
fn holds(expression: &str, username: &str, old_object: &serde_json::Value) -> bool {
    let program = cel::Program::compile(expression).unwrap();
    let mut context = cel::Context::default();
    let request = json!({ "operation": "DELETE", "userInfo": { "username": username } });
    context.add_variable("request", request).unwrap();
    context
        .add_variable("oldObject", old_object.clone())
        .unwrap();
    context
        .add_variable("object", serde_json::Value::Null)
        .unwrap();
    program.execute(&context) == Ok(cel::Value::Bool(true))
}

#[test]
fn the_sweeper_may_list_and_delete_bindings_and_delete_only_prod_access_ones() {
    let documents = sweeper_manifests();
    let role = of_kind(&documents, "ClusterRole");
    assert_eq!(
        role["rules"],
        json!([{
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings", "clusterrolebindings"],
            "verbs": ["list", "delete"],
        }]),
        "nothing but listing and deleting bindings"
    );
    let job = &of_kind(&documents, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(job["serviceAccountName"], "prod-access-sweeper");
    assert_eq!(job["containers"][0]["args"][0], "sweep");

    let policy = of_kind(&documents, "ValidatingAdmissionPolicy");
    let binding = of_kind(&documents, "ValidatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"], "Fail");
    let selects = spec["matchConditions"][0]["expression"].as_str().unwrap();
    let rule = spec["validations"][0]["expression"].as_str().unwrap();

    let ours = managed_binding("prod-access-abc", "abc", "2026-11-23T08:00:00Z");
    let mut helms = ours.clone();
    helms["metadata"]["labels"] = json!({ "app.kubernetes.io/managed-by": "helm" });
    let mut unlabelled = ours.clone();
    unlabelled["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    assert!(holds(selects, SWEEPER, &ours));
    assert!(!holds(
        selects,
        "system:serviceaccount:prod-access:prod-access",
        &ours
    ));
    assert!(holds(rule, SWEEPER, &ours));
    assert!(!holds(rule, SWEEPER, &helms), "someone else's binding");
    assert!(!holds(rule, SWEEPER, &unlabelled));
}
