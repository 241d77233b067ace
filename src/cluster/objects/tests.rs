//! `exists` and `delete_object` against the fake apiserver, over real HTTP.

use serde_json::json;

use super::*;
use crate::cluster::{Cluster, KubeCluster};
use crate::fakes::kube::{FakeKube, KubeFault};

fn object(resource: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef::of(resource, namespace, name).unwrap()
}

async fn started() -> (FakeKube, KubeCluster) {
    let fake = FakeKube::start(&["payments"]).await;
    let cluster = KubeCluster::new(fake.client());
    (fake, cluster)
}

#[tokio::test]
async fn exists_answers_whether_the_object_is_there() {
    let (fake, cluster) = started().await;
    let pod = object("pods", Some("payments"), "api-7f9c");
    let webhook = object("validatingwebhookconfigurations", None, "allow-all");
    assert!(!cluster.exists(&pod).await.unwrap());
    fake.put_object(&pod);
    fake.put_object(&webhook);
    assert!(cluster.exists(&pod).await.unwrap());
    assert!(cluster.exists(&webhook).await.unwrap());
    let elsewhere = object("pods", Some("checkout"), "api-7f9c");
    assert!(!cluster.exists(&elsewhere).await.unwrap());
}

#[tokio::test]
async fn exists_asks_for_the_metadata_alone_so_a_secrets_data_never_comes_back() {
    let (fake, cluster) = started().await;
    let secret = object("secrets", Some("payments"), "db-password");
    let body = json!({ "type": "Opaque", "data": { "password": "aHVudGVyMg==" } });
    fake.put_object_with(&secret, body);
    assert!(cluster.exists(&secret).await.unwrap());
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].method.as_str(), &calls[0].path),
        ("GET", &secret.path())
    );
    assert!(calls[0].metadata_only, "the GET asked for the whole Secret");

    // What that request gets back: the metadata, and nothing of the Secret beyond it.
    let answered = api_for(&fake.client(), &secret)
        .get_metadata(&secret.name)
        .await
        .unwrap();
    let kind = answered.types.map(|t| t.kind);
    assert_eq!(kind.as_deref(), Some("PartialObjectMetadata"));
    assert_eq!(answered.metadata.name.as_deref(), Some("db-password"));
}

#[tokio::test]
async fn delete_object_deletes_it_once_and_then_finds_it_gone() {
    let (fake, cluster) = started().await;
    let cron = object("cronjobs", Some("payments"), "exfil");
    fake.put_object(&cron);
    assert!(cluster.delete_object(&cron).await.unwrap());
    assert!(!fake.object_exists(&cron));
    assert!(!cluster.exists(&cron).await.unwrap());
    assert!(!cluster.delete_object(&cron).await.unwrap());
    let deletes: Vec<String> = fake
        .calls_of("DELETE")
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(deletes, [cron.path(), cron.path()]);
}

/// The fake answers a deleted binding with a `Status` and anything else with the object: both
/// are a deletion.
#[tokio::test]
async fn bindings_accounts_and_cluster_roles_are_deleted_wherever_the_fake_keeps_them() {
    let (fake, cluster) = started().await;
    let leftovers = [
        object("rolebindings", Some("payments"), "backdoor"),
        object("clusterrolebindings", None, "backdoor"),
        object("serviceaccounts", Some("payments"), "deployer"),
        object("clusterroles", None, "everything"),
        object("mutatingwebhookconfigurations", None, "inject"),
    ];
    for it in &leftovers {
        fake.put_object(it);
        assert!(cluster.exists(it).await.unwrap(), "{}", it.path());
        assert!(cluster.delete_object(it).await.unwrap(), "{}", it.path());
        assert!(!fake.object_exists(it), "{} is still there", it.path());
        assert!(!cluster.exists(it).await.unwrap(), "{}", it.path());
    }
}

#[tokio::test]
async fn a_forbidden_call_is_refused_and_deletes_nothing() {
    let (fake, cluster) = started().await;
    let pod = object("pods", Some("payments"), "api-7f9c");
    fake.put_object(&pod);
    fake.forbid("GET");
    fake.forbid("DELETE");
    let asked = cluster.exists(&pod).await;
    assert!(matches!(asked, Err(ClusterError::Refused(_))), "{asked:?}");
    let deleted = cluster.delete_object(&pod).await;
    assert!(
        matches!(deleted, Err(ClusterError::Refused(_))),
        "{deleted:?}"
    );
    assert!(fake.object_exists(&pod));
}

#[tokio::test]
async fn an_apiserver_in_trouble_is_unavailable_not_an_answer() {
    let (fake, cluster) = started().await;
    let pod = object("pods", Some("payments"), "api-7f9c");
    fake.put_object(&pod);
    fake.set_fault(KubeFault::Unavailable);
    let asked = cluster.exists(&pod).await;
    assert!(
        matches!(asked, Err(ClusterError::Unavailable(_))),
        "{asked:?}"
    );
    fake.set_fault(KubeFault::FailBefore);
    let deleted = cluster.delete_object(&pod).await;
    assert!(
        matches!(deleted, Err(ClusterError::Unavailable(_))),
        "{deleted:?}"
    );
    assert!(fake.object_exists(&pod));
}

#[tokio::test]
async fn an_object_without_a_name_is_refused_before_any_call() {
    let (fake, cluster) = started().await;
    let nameless = object("pods", Some("payments"), "");
    let asked = cluster.exists(&nameless).await;
    assert!(matches!(asked, Err(ClusterError::Refused(_))), "{asked:?}");
    let deleted = cluster.delete_object(&nameless).await;
    assert!(
        matches!(deleted, Err(ClusterError::Refused(_))),
        "{deleted:?}"
    );
    assert!(fake.calls().is_empty());
}
