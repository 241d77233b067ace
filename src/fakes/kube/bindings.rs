//! RoleBindings (namespaced) and ClusterRoleBindings (cluster-wide): create, get, list with a
//! label selector, replace, merge-patch and delete, with the apiserver's semantics.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use super::objects::answer_read;
use super::status::{bad_body, invalid, name_of, namespace_not_found, not_found, status, validate};
use super::{FakeKube, GROUP};

/// Where a binding lives: a namespace, or the cluster (stored under the empty namespace).
#[derive(Clone)]
pub(super) enum Place {
    Namespace(String),
    Cluster,
}

impl Place {
    fn key(&self) -> String {
        match self {
            Place::Namespace(ns) => ns.clone(),
            Place::Cluster => String::new(),
        }
    }

    fn resource(&self) -> &'static str {
        match self {
            Place::Namespace(_) => "rolebindings",
            Place::Cluster => "clusterrolebindings",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Place::Namespace(_) => "RoleBinding",
            Place::Cluster => "ClusterRoleBinding",
        }
    }

    fn path(&self, name: Option<&str>) -> String {
        let collection = match self {
            Place::Namespace(ns) => format!("/apis/{GROUP}/v1/namespaces/{ns}/rolebindings"),
            Place::Cluster => format!("/apis/{GROUP}/v1/clusterrolebindings"),
        };
        match name {
            Some(name) => format!("{collection}/{name}"),
            None => collection,
        }
    }
}

async fn create(fake: FakeKube, place: Place, body: Bytes) -> Response {
    let fault = match fake.enter(Method::POST, place.path(None)).await {
        Ok(fault) => fault,
        Err(r) => return r,
    };
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(object) => object,
        Err(e) => return bad_body(e),
    };
    let name = name_of(&object);
    let causes = validate(&object);
    if !causes.is_empty() {
        return invalid(place.kind(), &name, causes);
    }
    let mut inner = fake.lock();
    if let Place::Namespace(namespace) = &place
        && !inner.namespaces.contains(namespace)
    {
        return namespace_not_found(namespace);
    }
    let key = (place.key(), name.clone());
    if inner.bindings.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("{}.{GROUP} \"{name}\" already exists", place.resource()),
            json!({ "name": name, "group": GROUP, "kind": place.resource() }),
        );
    }
    object["apiVersion"] = json!(format!("{GROUP}/v1"));
    object["kind"] = json!(place.kind());
    let metadata = &mut object["metadata"];
    match &place {
        Place::Namespace(namespace) => metadata["namespace"] = json!(namespace),
        Place::Cluster => {
            if let Some(m) = metadata.as_object_mut() {
                m.remove("namespace");
            }
        }
    }
    metadata["resourceVersion"] = json!(fake.next_version());
    metadata["uid"] = json!(uuid::Uuid::new_v4().to_string());
    metadata["creationTimestamp"] = json!("2026-11-23T09:00:00Z");
    inner
        .created_at
        .insert(key.clone(), std::time::SystemTime::now());
    inner.bindings.insert(key, object.clone());
    drop(inner);
    FakeKube::after_write(fault, (StatusCode::CREATED, Json(object)).into_response())
}

async fn read(fake: FakeKube, place: Place, name: String, headers: HeaderMap) -> Response {
    let metadata_only = match fake.enter_read(place.path(Some(&name)), &headers).await {
        Ok(metadata_only) => metadata_only,
        Err(r) => return r,
    };
    match fake.binding(&place.key(), &name) {
        Some(object) => answer_read(metadata_only, object),
        None => not_found(place.resource(), &name),
    }
}

async fn replace(fake: FakeKube, place: Place, name: String, body: Bytes) -> Response {
    let fault = match fake.enter(Method::PUT, place.path(Some(&name))).await {
        Ok(fault) => fault,
        Err(r) => return r,
    };
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(object) => object,
        Err(e) => return bad_body(e),
    };
    let Some(current) = fake.binding(&place.key(), &name) else {
        return not_found(place.resource(), &name);
    };
    let mut causes = validate(&object);
    if object["roleRef"] != current["roleRef"] {
        causes.push((
            "roleRef".into(),
            "Invalid value: cannot change roleRef".into(),
        ));
    }
    if !causes.is_empty() {
        return invalid(place.kind(), &name, causes);
    }
    let sent_version = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if !sent_version.is_empty() && sent_version != current["metadata"]["resourceVersion"] {
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {}.{GROUP} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                place.resource()
            ),
            json!({ "name": name, "group": GROUP, "kind": place.resource() }),
        );
    }
    object["metadata"]["resourceVersion"] = json!(fake.next_version());
    fake.insert_binding(&place.key(), &name, object.clone());
    FakeKube::after_write(fault, Json(object).into_response())
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
    fake: FakeKube,
    place: Place,
    name: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match fake.enter(Method::PATCH, place.path(Some(&name))).await {
        Ok(fault) => fault,
        Err(r) => return r,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
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
    let Some(mut object) = fake.binding(&place.key(), &name) else {
        return not_found(place.resource(), &name);
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
        return invalid(place.kind(), &name, causes);
    }
    object["metadata"]["resourceVersion"] = json!(fake.next_version());
    fake.insert_binding(&place.key(), &name, object.clone());
    FakeKube::after_write(fault, Json(object).into_response())
}

async fn delete(fake: FakeKube, place: Place, name: String) -> Response {
    let fault = match fake.enter(Method::DELETE, place.path(Some(&name))).await {
        Ok(fault) => fault,
        Err(r) => return r,
    };
    let removed = fake.lock().bindings.remove(&(place.key(), name.clone()));
    match removed {
        Some(object) => FakeKube::after_write(
            fault,
            Json(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": { "name": name, "group": GROUP, "kind": place.resource(), "uid": object["metadata"]["uid"] },
            }))
            .into_response(),
        ),
        None => not_found(place.resource(), &name),
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

/// Lists bindings whose stored namespace passes `keep`, filtered by the label selector.
async fn list(
    fake: FakeKube,
    path: String,
    kind: &str,
    keep: impl Fn(&str) -> bool,
    query: BTreeMap<String, String>,
) -> Response {
    if let Err(r) = fake.enter(Method::GET, path).await {
        return r;
    }
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let items: Vec<Value> = fake
        .lock()
        .bindings
        .iter()
        .filter(|((ns, _), object)| keep(ns) && matches_selector(object, &selector))
        .map(|(_, object)| object.clone())
        .collect();
    Json(json!({
        "kind": format!("{kind}List"), "apiVersion": format!("{GROUP}/v1"),
        "metadata": { "resourceVersion": fake.next_version() },
        "items": items,
    }))
    .into_response()
}

type Q = Query<BTreeMap<String, String>>;

// The routes: thin adapters from axum's extractors to the functions above.

pub(super) async fn create_in_namespace(
    State(f): State<FakeKube>,
    Path(ns): Path<String>,
    body: Bytes,
) -> Response {
    create(f, Place::Namespace(ns), body).await
}

pub(super) async fn create_cluster_wide(State(f): State<FakeKube>, body: Bytes) -> Response {
    create(f, Place::Cluster, body).await
}

/// The path parameters of a route that names one binding: `{namespace}` (none for a
/// ClusterRoleBinding) and `{name}`.
#[derive(serde::Deserialize)]
pub(super) struct Named {
    namespace: Option<String>,
    name: String,
}

impl Named {
    fn place_and_name(self) -> (Place, String) {
        let place = match self.namespace {
            Some(ns) => Place::Namespace(ns),
            None => Place::Cluster,
        };
        (place, self.name)
    }
}

/// Get, replace, merge-patch and delete of the one binding a route names, wherever it lives.
pub(super) fn named_routes() -> MethodRouter<FakeKube> {
    get(read_named)
        .put(replace_named)
        .patch(patch_named)
        .delete(delete_named)
}

async fn read_named(
    State(f): State<FakeKube>,
    Path(at): Path<Named>,
    headers: HeaderMap,
) -> Response {
    let (place, name) = at.place_and_name();
    read(f, place, name, headers).await
}

async fn replace_named(State(f): State<FakeKube>, Path(at): Path<Named>, body: Bytes) -> Response {
    let (place, name) = at.place_and_name();
    replace(f, place, name, body).await
}

async fn patch_named(
    State(f): State<FakeKube>,
    Path(at): Path<Named>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (place, name) = at.place_and_name();
    merge_patch(f, place, name, headers, body).await
}

async fn delete_named(State(f): State<FakeKube>, Path(at): Path<Named>) -> Response {
    let (place, name) = at.place_and_name();
    delete(f, place, name).await
}

pub(super) async fn list_in_namespace(
    State(f): State<FakeKube>,
    Path(ns): Path<String>,
    Query(q): Q,
) -> Response {
    let path = Place::Namespace(ns.clone()).path(None);
    list(f, path, "RoleBinding", |k| k == ns, q).await
}

/// `GET /apis/rbac.authorization.k8s.io/v1/rolebindings`: every namespace.
pub(super) async fn list_all_namespaces(State(f): State<FakeKube>, Query(q): Q) -> Response {
    let path = format!("/apis/{GROUP}/v1/rolebindings");
    list(f, path, "RoleBinding", |k| !k.is_empty(), q).await
}

pub(super) async fn list_cluster_wide(State(f): State<FakeKube>, Query(q): Q) -> Response {
    list(
        f,
        Place::Cluster.path(None),
        "ClusterRoleBinding",
        str::is_empty,
        q,
    )
    .await
}
