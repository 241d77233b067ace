//! Short-lived credentials: a ServiceAccount per grant, a token that lasts exactly as long as
//! the grant, delivered as a kubeconfig file by DM, and dead the moment the grant ends.

use crate::support;

use chrono::Duration;
use serde_json::{Value, json};
use support::*;

async fn shared_kubeconfig(h: &Harness) -> (String, String, Value) {
    for _ in 0..500 {
        if let Some((name, channel, bytes)) = h.slack.shared_files().into_iter().next() {
            let text = String::from_utf8(bytes).unwrap();
            let yaml: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            return (name, channel, yaml);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no file was shared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_role_gets_a_token_that_lives_exactly_as_long_as_the_grant() {
    let h = Harness::start().await;
    let grant = h.approved_grant("view payments 1h INC-30 read logs").await;
    let account = format!("prod-access-{grant}");

    let sa = h
        .kube
        .service_account("prod-access", &account)
        .expect("a ServiceAccount");
    assert_eq!(
        sa["metadata"]["labels"]["prod-access/grant"],
        grant.as_str()
    );
    let binding = h.kube.binding("payments", &account).unwrap();
    let subjects = binding["subjects"].as_array().unwrap();
    assert!(
        subjects.contains(&json!({ "apiGroup": "", "kind": "ServiceAccount", "name": account, "namespace": "prod-access" })),
        "{subjects:?}"
    );

    let (filename, channel, kubeconfig) = shared_kubeconfig(&h).await;
    assert_eq!(filename, format!("{account}.kubeconfig"));
    assert_eq!(channel, format!("D{ALICE}"), "by DM, to the requester only");
    let tokens = h.kube.tokens();
    assert_eq!(tokens.len(), 1);
    let (_, token_account, seconds, token) = &tokens[0];
    assert_eq!(token_account, &account);
    assert_eq!(*seconds, 3600, "exactly the grant's time");
    assert_eq!(kubeconfig["users"][0]["user"]["token"], token.as_str());
    assert_eq!(
        kubeconfig["clusters"][0]["cluster"]["server"],
        "https://api.prod.example.com:6443"
    );
    assert_eq!(
        kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"],
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
    );
    assert_eq!(
        kubeconfig["contexts"][0]["context"]["namespace"],
        "payments"
    );
    assert_eq!(
        kubeconfig["current-context"],
        kubeconfig["contexts"][0]["name"]
    );

    // The token appears nowhere but in the file.
    for method in [
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "files.completeUploadExternal",
    ] {
        for call in h.slack.calls(method) {
            assert!(
                !call.params.to_string().contains(token.as_str()),
                "token leaked into {method}"
            );
        }
    }

    h.clock.advance(Duration::hours(1));
    assert_says(&h.next_audit().await, "expired and was removed");
    assert!(
        h.kube.service_account("prod-access", &account).is_none(),
        "the token died with it"
    );
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_deletes_the_service_account_at_once() {
    let h = Harness::start().await;
    let grant = h.approved_grant("view payments 2h INC-31").await;
    shared_kubeconfig(&h).await;
    let (_, revoked) = h.slash(BOB, &format!("revoke {grant}")).await;
    assert!(
        revoked["text"].as_str().unwrap().contains("Revoking"),
        "{revoked}"
    );
    assert_says(&h.next_audit().await, "revoked the access");
    assert!(h.kube.grant_account(&grant).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_without_kubeconfig_create_no_service_account() {
    let h = Harness::start().await;
    let grant = h.approved_grant("edit payments 1h INC-32").await;
    assert!(h.kube.grant_account(&grant).is_none());
    assert!(h.kube.tokens().is_empty());
    assert!(h.slack.shared_files().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_on_another_cluster_gets_that_clusters_server_ca_and_token() {
    let h = Harness::start_multi_cluster_with_kubeconfigs().await;
    let us = h.second_kube.clone().unwrap();
    let grant = h.approved_grant("token payments 1h INC-50").await;

    let (_, _, kubeconfig) = shared_kubeconfig(&h).await;
    let cluster = &kubeconfig["clusters"][0];
    assert_eq!(cluster["name"], "us-prod");
    assert_eq!(
        cluster["cluster"]["server"], "https://api.us.example.com:6443",
        "not the default cluster's server"
    );
    assert_eq!(cluster["cluster"]["certificate-authority-data"], "VVMtQ0EK");
    let tokens = us.tokens();
    assert_eq!(tokens.len(), 1, "the token comes from the grant's cluster");
    assert_eq!(
        kubeconfig["users"][0]["user"]["token"],
        tokens[0].3.as_str()
    );
    assert!(h.kube.tokens().is_empty());
    assert!(us.grant_account(&grant).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_that_cannot_be_made_is_told_to_the_requester_and_audited() {
    let mut h = Harness::start().await;
    h.kube.on_path(
        "/api/v1/namespaces/prod-access/serviceaccounts/",
        prod_access::fakes::kube::KubeFault::Forbidden,
        std::time::Duration::ZERO,
    );
    let grant = h.approved_grant("view payments 1h INC-51").await;

    assert_says(&h.next_dm(ALICE).await, "Your access to *view*");
    let told = h.next_dm(ALICE).await;
    assert_says(&told, "your kubeconfig file could not be made");
    assert_says(&told, "forbidden");
    assert!(h.slack.shared_files().is_empty());
    // The access itself stands: the requester can use their own credentials.
    assert!(h.kube.grant_binding("payments", &grant).is_some());
    h.settle().await;
    let log = h.stopped_audit_log().await;
    let failed = log
        .iter()
        .find(|e| e.event.kind.as_str() == "kubeconfig_failed")
        .unwrap_or_else(|| panic!("no kubeconfig_failed entry in {log:#?}"));
    assert_eq!(failed.event.grant.as_deref(), Some(grant.as_str()));
    let detail = failed.event.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("forbidden"), "{detail}");
}
