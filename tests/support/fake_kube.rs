//! A fake Kubernetes API server on 127.0.0.1 for namespaced RoleBindings, with the apiserver's
//! JSON: `resourceVersion`, `Status` errors with 404/409/422 semantics, label selectors, and
//! the validation a real apiserver applies. It can be switched to fail or to answer slowly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

const GROUP: &str = "rbac.authorization.k8s.io";
const BASE: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings";

#[derive(Debug, Clone)]
pub struct KubeCall {
    pub method: String,
    pub path: String,
}

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KubeFault {
    #[default]
    None,
    /// 500 InternalError before doing anything.
    FailBefore,
    /// Does the write, then answers 500: the client cannot know it worked.
    FailAfter,
}

#[derive(Default)]
struct Inner {
    namespaces: BTreeSet<String>,
    bindings: BTreeMap<(String, String), Value>,
    calls: Vec<KubeCall>,
    fault: KubeFault,
    /// HTTP methods answered 403 Forbidden, as for a service account lacking the verb.
    forbidden: BTreeSet<String>,
    /// Permissions SelfSubjectAccessReview answers `allowed: false` for: (verb, resource, name).
    denied: BTreeSet<(String, String, String)>,
    /// Access reviews asked, apart from `calls` (they change nothing).
    reviews: Vec<Value>,
    latency: Duration,
}

#[derive(Clone)]
pub struct FakeKube {
    url: String,
    inner: Arc<Mutex<Inner>>,
    resource_version: Arc<AtomicU64>,
}

impl FakeKube {
    pub async fn start(namespaces: &[&str]) -> FakeKube {
        let inner = Arc::new(Mutex::new(Inner {
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            ..Inner::default()
        }));
        let fake = FakeKube {
            url: String::new(),
            inner,
            resource_version: Arc::new(AtomicU64::new(1000)),
        };
        let router = Router::new()
            .route(
                "/apis/rbac.authorization.k8s.io/v1/rolebindings",
                get(list_all),
            )
            .route(BASE, get(list).post(create))
            .route(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                axum::routing::post(access_review),
            )
            .route(
                &format!("{BASE}/{{name}}"),
                get(read).put(replace).patch(merge_patch).delete(delete),
            )
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeKube {
            url: format!("http://{addr}"),
            ..fake
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kube client talking plain HTTP to this fake.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// While on, every request gets 500 InternalError.
    pub fn set_failing(&self, failing: bool) {
        self.set_fault(if failing {
            KubeFault::FailBefore
        } else {
            KubeFault::None
        });
    }

    /// SelfSubjectAccessReview answers `allowed: false` for this verb on this resource (and, for
    /// `bind`, this ClusterRole name; empty for any).
    pub fn deny_permission(&self, verb: &str, resource: &str, name: &str) {
        self.lock()
            .denied
            .insert((verb.into(), resource.into(), name.into()));
    }

    pub fn allow_everything(&self) {
        self.lock().denied.clear();
    }

    pub fn access_reviews(&self) -> Vec<Value> {
        self.lock().reviews.clone()
    }

    /// Answers every request with this HTTP method 403, like RBAC without the verb.
    pub fn forbid(&self, method: &str) {
        self.lock().forbidden.insert(method.to_string());
    }

    pub fn set_fault(&self, fault: KubeFault) {
        self.lock().fault = fault;
    }

    /// The answer a write gets under `FailAfter`, once it is done.
    fn after_write(&self, response: Response) -> Response {
        if self.lock().fault == KubeFault::FailAfter {
            return internal_error();
        }
        response
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub fn binding(&self, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .bindings
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    pub fn binding_count(&self) -> usize {
        self.lock().bindings.len()
    }

    /// Deletes an object as if someone else had (no call is recorded).
    pub fn lock_remove(&self, namespace: &str, name: &str) {
        self.lock()
            .bindings
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Puts an object in place as if someone else had created it.
    pub fn insert_binding(&self, namespace: &str, name: &str, mut object: Value) {
        // Every stored object has what the apiserver gives it.
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        }
        object["metadata"]["resourceVersion"] = json!(self.next_version());
        self.lock()
            .bindings
            .insert((namespace.to_string(), name.to_string()), object);
    }

    pub fn calls(&self) -> Vec<KubeCall> {
        self.lock().calls.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<KubeCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits until `test` holds for the fake's bindings; panics after 10 seconds.
    pub async fn wait_until(&self, what: &str, test: impl Fn(&FakeKube) -> bool) {
        for _ in 0..1000 {
            if test(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}; calls: {:?}", self.calls());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Records the call and applies the fault switch and latency.
    async fn enter(&self, method: Method, path: String) -> Result<(), Response> {
        let (fault, latency, forbidden) = {
            let mut inner = self.lock();
            let forbidden = inner.forbidden.contains(method.as_str());
            inner.calls.push(KubeCall {
                method: method.to_string(),
                path,
            });
            (inner.fault, inner.latency, forbidden)
        };
        if forbidden {
            return Err(status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!(
                    "rolebindings.{GROUP} is forbidden: User \"system:serviceaccount:prod-access:prod-access\" cannot {} resource \"rolebindings\" in API group \"{GROUP}\"",
                    method.as_str().to_lowercase()
                ),
                json!({ "group": GROUP, "kind": "rolebindings" }),
            ));
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if fault == KubeFault::FailBefore {
            return Err(internal_error());
        }
        Ok(())
    }

    fn next_version(&self) -> String {
        self.resource_version
            .fetch_add(1, Ordering::SeqCst)
            .to_string()
    }
}

fn internal_error() -> Response {
    status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "Internal error occurred: injected fault",
        json!({}),
    )
}

fn status(code: StatusCode, reason: &str, message: &str, details: Value) -> Response {
    (
        code,
        Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details, "code": code.as_u16(),
        })),
    )
        .into_response()
}

fn not_found(name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("rolebindings.{GROUP} \"{name}\" not found"),
        json!({ "name": name, "group": GROUP, "kind": "rolebindings" }),
    )
}

fn invalid(name: &str, causes: Vec<(String, String)>) -> Response {
    let text = causes
        .iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect::<Vec<_>>()
        .join(", ");
    let causes: Vec<Value> = causes
        .into_iter()
        .map(|(field, message)| json!({ "reason": "FieldValueInvalid", "message": message, "field": field }))
        .collect();
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("RoleBinding.{GROUP} \"{name}\" is invalid: {text}"),
        json!({ "name": name, "group": GROUP, "kind": "RoleBinding", "causes": causes }),
    )
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

/// The checks a real apiserver makes on a RoleBinding.
fn validate(object: &Value) -> Vec<(String, String)> {
    let mut causes = Vec::new();
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    if !is_dns_subdomain(name) {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"),
        ));
    }
    if let Some(labels) = object["metadata"]["labels"].as_object() {
        for (key, value) in labels {
            if !is_label_key(key) {
                causes.push(("metadata.labels".into(), format!("Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.'")));
            }
            let value = value.as_str().unwrap_or("");
            if !value.is_empty() && !is_label_name(value) {
                causes.push(("metadata.labels".into(), format!("Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
            }
        }
    }
    let role_ref = &object["roleRef"];
    if role_ref["apiGroup"].as_str() != Some(GROUP) {
        causes.push((
            "roleRef.apiGroup".into(),
            format!(
                "Unsupported value: {}: supported values: \"{GROUP}\"",
                role_ref["apiGroup"]
            ),
        ));
    }
    if !matches!(role_ref["kind"].as_str(), Some("Role" | "ClusterRole")) {
        causes.push((
            "roleRef.kind".into(),
            "Unsupported value: supported values: \"Role\", \"ClusterRole\"".into(),
        ));
    }
    if role_ref["name"].as_str().unwrap_or("").is_empty() {
        causes.push(("roleRef.name".into(), "Required value".into()));
    }
    for (i, subject) in object["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = subject["kind"].as_str().unwrap_or("");
        match kind {
            "User" | "Group" if subject["apiGroup"].as_str() != Some(GROUP) => causes.push((
                format!("subjects[{i}].apiGroup"),
                format!(
                    "Unsupported value: {}: supported values: \"{GROUP}\"",
                    subject["apiGroup"]
                ),
            )),
            "User" | "Group" | "ServiceAccount" => {}
            other => causes.push((
                format!("subjects[{i}].kind"),
                format!("Unsupported value: \"{other}\""),
            )),
        }
        if subject["name"].as_str().unwrap_or("").is_empty() {
            causes.push((format!("subjects[{i}].name"), "Required value".into()));
        }
    }
    causes
}

fn bad_body(e: serde_json::Error) -> Response {
    status(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("the body is not a RoleBinding: {e}"),
        json!({}),
    )
}

async fn create(
    State(fake): State<FakeKube>,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("/apis/{GROUP}/v1/namespaces/{namespace}/rolebindings");
    if let Err(r) = fake.enter(Method::POST, path).await {
        return r;
    }
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(object) => object,
        Err(e) => return bad_body(e),
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let causes = validate(&object);
    if !causes.is_empty() {
        return invalid(&name, causes);
    }
    let mut inner = fake.lock();
    if !inner.namespaces.contains(&namespace) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("namespaces \"{namespace}\" not found"),
            json!({ "name": namespace, "kind": "namespaces" }),
        );
    }
    let key = (namespace.clone(), name.clone());
    if inner.bindings.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("rolebindings.{GROUP} \"{name}\" already exists"),
            json!({ "name": name, "group": GROUP, "kind": "rolebindings" }),
        );
    }
    object["apiVersion"] = json!(format!("{GROUP}/v1"));
    object["kind"] = json!("RoleBinding");
    let metadata = &mut object["metadata"];
    metadata["namespace"] = json!(namespace);
    metadata["resourceVersion"] = json!(fake.next_version());
    metadata["uid"] = json!(uuid::Uuid::new_v4().to_string());
    metadata["creationTimestamp"] = json!("2026-11-23T09:00:00Z");
    inner.bindings.insert(key, object.clone());
    drop(inner);
    fake.after_write((StatusCode::CREATED, Json(object)).into_response())
}

async fn read(
    State(fake): State<FakeKube>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let path = format!("/apis/{GROUP}/v1/namespaces/{namespace}/rolebindings/{name}");
    if let Err(r) = fake.enter(Method::GET, path).await {
        return r;
    }
    match fake.binding(&namespace, &name) {
        Some(object) => Json(object).into_response(),
        None => not_found(&name),
    }
}

async fn replace(
    State(fake): State<FakeKube>,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let path = format!("/apis/{GROUP}/v1/namespaces/{namespace}/rolebindings/{name}");
    if let Err(r) = fake.enter(Method::PUT, path).await {
        return r;
    }
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(object) => object,
        Err(e) => return bad_body(e),
    };
    let Some(current) = fake.binding(&namespace, &name) else {
        return not_found(&name);
    };
    let mut causes = validate(&object);
    if object["roleRef"] != current["roleRef"] {
        causes.push((
            "roleRef".into(),
            "Invalid value: cannot change roleRef".into(),
        ));
    }
    if !causes.is_empty() {
        return invalid(&name, causes);
    }
    let sent_version = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if !sent_version.is_empty() && sent_version != current["metadata"]["resourceVersion"] {
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on rolebindings.{GROUP} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            json!({ "name": name, "group": GROUP, "kind": "rolebindings" }),
        );
    }
    object["metadata"]["resourceVersion"] = json!(fake.next_version());
    fake.insert_binding(&namespace, &name, object.clone());
    Json(object).into_response()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

async fn merge_patch(
    State(fake): State<FakeKube>,
    Path((namespace, name)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/apis/{GROUP}/v1/namespaces/{namespace}/rolebindings/{name}");
    if let Err(r) = fake.enter(Method::PATCH, path).await {
        return r;
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/merge-patch+json" {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
            json!({}),
        );
    }
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(patch) => patch,
        Err(e) => return bad_body(e),
    };
    let Some(mut object) = fake.binding(&namespace, &name) else {
        return not_found(&name);
    };
    let role_ref = object["roleRef"].clone();
    merge(&mut object, &patch);
    let mut causes = validate(&object);
    if object["roleRef"] != role_ref {
        causes.push((
            "roleRef".into(),
            "Invalid value: cannot change roleRef".into(),
        ));
    }
    if !causes.is_empty() {
        return invalid(&name, causes);
    }
    object["metadata"]["resourceVersion"] = json!(fake.next_version());
    fake.insert_binding(&namespace, &name, object.clone());
    fake.after_write(Json(object).into_response())
}

async fn delete(
    State(fake): State<FakeKube>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let path = format!("/apis/{GROUP}/v1/namespaces/{namespace}/rolebindings/{name}");
    if let Err(r) = fake.enter(Method::DELETE, path).await {
        return r;
    }
    let removed = fake.lock().bindings.remove(&(namespace, name.clone()));
    match removed {
        Some(object) => fake.after_write(
            Json(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": { "name": name, "group": GROUP, "kind": "rolebindings", "uid": object["metadata"]["uid"] },
            }))
            .into_response(),
        ),
        None => not_found(&name),
    }
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((key, value)) = term.split_once("!=") {
            labels[key].as_str() != Some(value)
        } else if let Some((key, value)) = term.split_once('=') {
            labels[key.trim_end_matches('=')].as_str() == Some(value)
        } else if let Some(key) = term.strip_prefix('!') {
            labels.get(key).is_none()
        } else {
            labels.get(term).is_some()
        }
    })
}

/// `POST …/selfsubjectaccessreviews`: answers from the denial list, as RBAC would.
async fn access_review(State(fake): State<FakeKube>, body: Bytes) -> Response {
    let mut review: Value = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(e) => return bad_body(e),
    };
    let attributes = &review["spec"]["resourceAttributes"];
    if attributes.is_null() && review["spec"]["nonResourceAttributes"].is_null() {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            json!({ "group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview" }),
        );
    }
    if fake.lock().fault == KubeFault::FailBefore {
        return internal_error();
    }
    let text = |k: &str| attributes[k].as_str().unwrap_or("").to_string();
    let (verb, resource, name) = (text("verb"), text("resource"), text("name"));
    let allowed = {
        let mut inner = fake.lock();
        inner.reviews.push(review.clone());
        !inner
            .denied
            .iter()
            .any(|(v, r, n)| v == &verb && r == &resource && (n.is_empty() || n == &name))
    };
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["metadata"] = json!({ "creationTimestamp": null });
    review["status"] = if allowed {
        json!({ "allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"prod-access-bot\"" })
    } else {
        json!({ "allowed": false })
    };
    (StatusCode::CREATED, Json(review)).into_response()
}

/// `GET /apis/rbac.authorization.k8s.io/v1/rolebindings`: every namespace.
async fn list_all(
    State(fake): State<FakeKube>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let path = format!("/apis/{GROUP}/v1/rolebindings");
    if let Err(r) = fake.enter(Method::GET, path).await {
        return r;
    }
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let items: Vec<Value> = fake
        .lock()
        .bindings
        .values()
        .filter(|object| matches_selector(object, &selector))
        .cloned()
        .collect();
    Json(json!({
        "kind": "RoleBindingList", "apiVersion": format!("{GROUP}/v1"),
        "metadata": { "resourceVersion": fake.next_version() },
        "items": items,
    }))
    .into_response()
}

async fn list(
    State(fake): State<FakeKube>,
    Path(namespace): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let path = format!("/apis/{GROUP}/v1/namespaces/{namespace}/rolebindings");
    if let Err(r) = fake.enter(Method::GET, path).await {
        return r;
    }
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let items: Vec<Value> = fake
        .lock()
        .bindings
        .iter()
        .filter(|((ns, _), object)| ns == &namespace && matches_selector(object, &selector))
        .map(|(_, object)| object.clone())
        .collect();
    Json(json!({
        "kind": "RoleBindingList", "apiVersion": format!("{GROUP}/v1"),
        "metadata": { "resourceVersion": fake.next_version() },
        "items": items,
    }))
    .into_response()
}
