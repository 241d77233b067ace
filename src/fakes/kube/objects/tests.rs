//! The fake's objects over real HTTP, through kube's client, against what the apiserver answers.

use std::time::Duration;

use axum::http::Request;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::{ListParams, PostParams};

use super::*;
use crate::fakes::kube::KubeFault;

fn object(resource: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef::of(resource, namespace, name).unwrap()
}

/// GETs `path`, asking for the metadata alone when `metadata_only`; the answer's JSON.
async fn get(fake: &FakeKube, path: &str, metadata_only: bool) -> Result<Value, kube::Error> {
    let mut request = Request::get(path);
    if metadata_only {
        request = request.header(header::ACCEPT, PARTIAL_OBJECT_METADATA);
    }
    send(fake, request.body(Vec::new()).unwrap()).await
}

async fn delete(fake: &FakeKube, path: &str) -> Result<Value, kube::Error> {
    send(fake, Request::delete(path).body(Vec::new()).unwrap()).await
}

async fn send(fake: &FakeKube, request: Request<Vec<u8>>) -> Result<Value, kube::Error> {
    let text = fake.client().request_text(request).await?;
    Ok(serde_json::from_str(&text).unwrap())
}

/// The apiserver's Status of a failed call: (code, reason, message, details' name, group, kind).
fn failure(answer: Result<Value, kube::Error>) -> (u16, String, String, [String; 3]) {
    let Err(kube::Error::Api(status)) = answer else {
        panic!("expected an API error, got {answer:?}");
    };
    let details = status
        .details
        .clone()
        .unwrap_or_else(|| panic!("no details: {status:?}"));
    let named = [details.name, details.group, details.kind];
    (
        status.code,
        status.reason.clone(),
        status.message.clone(),
        named,
    )
}

#[tokio::test]
async fn an_object_put_in_place_is_read_in_full_or_as_its_metadata_alone() {
    let fake = FakeKube::start(&["payments"]).await;
    let secret = object("secrets", Some("payments"), "db-password");
    let body = json!({ "type": "Opaque", "data": { "password": "aHVudGVyMg==" } });
    fake.put_object_with(&secret, body);

    let full = get(&fake, &secret.path(), false).await.unwrap();
    assert_eq!(
        (&full["apiVersion"], &full["kind"]),
        (&json!("v1"), &json!("Secret"))
    );
    assert_eq!(full["data"]["password"], "aHVudGVyMg==");
    let metadata = &full["metadata"];
    assert_eq!(
        (&metadata["name"], &metadata["namespace"]),
        (&json!("db-password"), &json!("payments"))
    );
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(
            metadata[field].as_str().is_some_and(|v| !v.is_empty()),
            "no {field}"
        );
    }

    let partial = get(&fake, &secret.path(), true).await.unwrap();
    assert_eq!(
        partial,
        json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata })
    );
    let asked: Vec<bool> = fake
        .calls_of("GET")
        .iter()
        .map(|c| c.metadata_only)
        .collect();
    assert_eq!(asked, [false, true]);
    assert!(fake.object_exists(&secret));
}

#[tokio::test]
async fn a_missing_object_is_not_found_as_the_apiserver_says_it() {
    let fake = FakeKube::start(&["payments"]).await;
    let deployment = object("deployments", Some("payments"), "exfil");
    let (code, reason, message, named) = failure(get(&fake, &deployment.path(), true).await);
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert_eq!(message, "deployments.apps \"exfil\" not found");
    assert_eq!(named, ["exfil", "apps", "deployments"].map(String::from));

    // The core group goes unnamed.
    let pod = object("pods", Some("payments"), "api-7f9c");
    let (code, _, message, named) = failure(delete(&fake, &pod.path()).await);
    assert_eq!(
        (code, message.as_str()),
        (404, "pods \"api-7f9c\" not found")
    );
    assert_eq!(named, ["api-7f9c", "", "pods"].map(String::from));
    assert!(!fake.object_exists(&pod));
}

#[tokio::test]
async fn a_delete_removes_the_object_answers_it_and_is_recorded() {
    let fake = FakeKube::start(&["payments"]).await;
    let cron = object("cronjobs", Some("payments"), "exfil");
    fake.put_object(&cron);
    let deleted = delete(&fake, &cron.path()).await.unwrap();
    assert_eq!(
        (&deleted["apiVersion"], &deleted["kind"]),
        (&json!("batch/v1"), &json!("CronJob"))
    );
    assert_eq!(deleted["metadata"]["name"], "exfil");
    assert!(!fake.object_exists(&cron));
    assert_eq!(failure(delete(&fake, &cron.path()).await).0, 404);
    let paths: Vec<String> = fake
        .calls_of("DELETE")
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(paths, [cron.path(), cron.path()]);
}

#[tokio::test]
async fn cluster_wide_objects_are_read_and_deleted_at_their_own_paths() {
    let fake = FakeKube::start(&["payments"]).await;
    let webhook = object("mutatingwebhookconfigurations", None, "inject");
    let csr = object("certificatesigningrequests", None, "alice-admin");
    let volume = ObjectRef {
        group: String::new(),
        version: "v1".into(),
        resource: "persistentvolumes".into(),
        namespace: None,
        name: "pv-1".into(),
        uid: None,
    };
    for it in [&webhook, &csr, &volume] {
        fake.put_object(it);
        let read = get(&fake, &it.path(), false).await.unwrap();
        assert_eq!(read["metadata"]["name"], json!(it.name));
        assert!(read["metadata"].get("namespace").is_none());
        delete(&fake, &it.path()).await.unwrap();
        assert!(!fake.object_exists(it), "{} is still there", it.path());
    }
    let (code, _, message, named) = failure(get(&fake, &webhook.path(), false).await);
    assert_eq!(code, 404);
    let group = "admissionregistration.k8s.io";
    assert_eq!(
        message,
        format!("mutatingwebhookconfigurations.{group} \"inject\" not found")
    );
    assert_eq!(
        named,
        ["inject", group, "mutatingwebhookconfigurations"].map(String::from)
    );
}

#[tokio::test]
async fn accounts_bindings_and_roles_are_kept_where_their_own_routes_and_rbac_see_them() {
    let fake = FakeKube::start(&["payments"]).await;
    let account = object("serviceaccounts", Some("prod-access"), "leftover");
    let binding = object("rolebindings", Some("payments"), "backdoor");
    let cluster_binding = object("clusterrolebindings", None, "backdoor");
    let role = object("roles", Some("payments"), "everything");
    let cluster_role = object("clusterroles", None, "everything");
    for it in [&account, &binding, &cluster_binding, &role, &cluster_role] {
        fake.put_object(it);
        let partial = get(&fake, &it.path(), true).await.unwrap();
        assert_eq!(partial["kind"], "PartialObjectMetadata", "{}", it.path());
        assert_eq!(partial["metadata"]["name"], json!(it.name));
    }
    assert_eq!(
        fake.service_account("prod-access", "leftover").unwrap()["kind"],
        "ServiceAccount"
    );
    assert_eq!(
        fake.binding("payments", "backdoor").unwrap()["roleRef"]["name"],
        "view"
    );
    assert!(fake.cluster_binding("backdoor").is_some());
    let everywhere: Api<RoleBinding> = Api::all(fake.client());
    let listed = everywhere.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1, "the binding put in place is listed");
    assert_eq!(
        get(&fake, &role.path(), false).await.unwrap()["rules"],
        json!([])
    );

    for it in [&account, &binding, &cluster_binding, &role, &cluster_role] {
        delete(&fake, &it.path()).await.unwrap();
        assert!(!fake.object_exists(it), "{} is still there", it.path());
    }
    assert!(fake.service_account("prod-access", "leftover").is_none());
    assert_eq!(fake.binding_count(), 0);
    let view = object("clusterroles", None, "view");
    assert_eq!(
        get(&fake, &view.path(), false).await.unwrap()["kind"],
        "ClusterRole"
    );
}

#[tokio::test]
async fn the_routes_of_bindings_and_service_accounts_still_answer_their_own_calls() {
    let fake = FakeKube::start(&["payments"]).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(fake.client(), "payments");
    let mut account = ServiceAccount::default();
    account.metadata.name = Some("deployer".into());
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    assert!(fake.object_exists(&object("serviceaccounts", Some("payments"), "deployer")));
    let list = "/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings";
    assert_eq!(
        get(&fake, list, false).await.unwrap()["kind"],
        "RoleBindingList"
    );
    let everywhere = "/apis/rbac.authorization.k8s.io/v1/rolebindings";
    assert_eq!(
        get(&fake, everywhere, false).await.unwrap()["kind"],
        "RoleBindingList"
    );
}

#[tokio::test]
async fn forbidden_verbs_and_faults_apply_to_objects_as_to_every_call() {
    let fake = FakeKube::start(&["payments"]).await;
    let pod = object("pods", Some("payments"), "api-7f9c");
    let deployment = object("deployments", Some("payments"), "api");
    fake.put_object(&pod);
    fake.put_object(&deployment);

    fake.on_path("/apis/apps/", KubeFault::Unavailable, Duration::ZERO);
    assert_eq!(
        failure_code(get(&fake, &deployment.path(), true).await),
        503
    );
    assert!(get(&fake, &pod.path(), true).await.is_ok());

    fake.set_fault(KubeFault::FailAfter);
    assert_eq!(failure_code(delete(&fake, &pod.path()).await), 500);
    assert!(
        !fake.object_exists(&pod),
        "the delete was done before the 500"
    );
    fake.set_fault(KubeFault::None);

    let secret = object("secrets", Some("payments"), "db-password");
    fake.put_object(&secret);
    fake.forbid("GET");
    fake.forbid("DELETE");
    assert_eq!(failure_code(get(&fake, &secret.path(), true).await), 403);
    assert_eq!(failure_code(delete(&fake, &secret.path()).await), 403);
    assert!(fake.object_exists(&secret));
}

#[tokio::test]
async fn a_forbidden_call_is_refused_in_the_words_rbac_uses_for_what_it_asked() {
    let fake = FakeKube::start(&["payments"]).await;
    fake.forbid("GET");
    fake.forbid("DELETE");
    fake.forbid("POST");
    let bot = "User \"system:serviceaccount:prod-access:prod-access\"";
    let secret = object("secrets", Some("payments"), "db-password");
    let (code, reason, message, named) = failure(get(&fake, &secret.path(), true).await);
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        format!(
            "secrets \"db-password\" is forbidden: {bot} cannot get resource \"secrets\" in API group \"\" in the namespace \"payments\""
        )
    );
    assert_eq!(named, ["db-password", "", "secrets"].map(String::from));

    let binding = object("clusterrolebindings", None, "backdoor");
    let (_, _, message, named) = failure(delete(&fake, &binding.path()).await);
    assert_eq!(
        message,
        format!(
            "clusterrolebindings.{GROUP} \"backdoor\" is forbidden: {bot} cannot delete resource \"clusterrolebindings\" in API group \"{GROUP}\" at the cluster scope"
        )
    );
    assert_eq!(
        named,
        ["backdoor", GROUP, "clusterrolebindings"].map(String::from)
    );

    let token = "/api/v1/namespaces/payments/serviceaccounts/deployer/token";
    let request = Request::post(token).body(b"{}".to_vec()).unwrap();
    let (_, _, message, _) = failure(send(&fake, request).await);
    assert!(
        message.ends_with("cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace \"payments\""),
        "{message}"
    );
    let everywhere = "/apis/rbac.authorization.k8s.io/v1/rolebindings";
    let (_, _, message, _) = failure(get(&fake, everywhere, false).await);
    assert!(
        message.starts_with(&format!(
            "rolebindings.{GROUP} is forbidden: {bot} cannot list"
        )),
        "{message}"
    );
}

fn failure_code(answer: Result<Value, kube::Error>) -> u16 {
    match answer {
        Err(kube::Error::Api(status)) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn only_partial_object_metadata_of_meta_v1_as_json_asks_for_the_metadata_alone() {
    let asks = |accept: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        asks_for_metadata(&headers)
    };
    assert!(asks(PARTIAL_OBJECT_METADATA));
    assert!(asks(
        "application/json; v=v1; g=meta.k8s.io; as=PartialObjectMetadata, application/json"
    ));
    assert!(!asks("application/json"));
    assert!(!asks(
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    ));
    assert!(!asks(
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1"
    ));
    assert!(!asks_for_metadata(&HeaderMap::new()));
    assert_eq!(kind_of("cronjobs"), "CronJob");
    assert_eq!(kind_of("networkpolicies"), "Networkpolicy");
}
