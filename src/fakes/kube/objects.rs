//! Objects of any resource, named as the API's paths name them: put in place as if someone had
//! created them, read in full or as their metadata alone (PartialObjectMetadata), and deleted.
//! ServiceAccounts, Roles, ClusterRoles and bindings are kept in the maps their own routes and
//! the RBAC evaluator read, so every route and every review sees the same object; the rest (pods,
//! Secrets, Deployments, CronJobs, webhook configurations, CSRs…) by API path.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use axum::http::StatusCode;

use super::status::{not_found_in, status};
use super::{FakeKube, GROUP, Inner};
use crate::domain::activity::ObjectRef;

/// The media type kube's `get_metadata` asks for, and the apiserver labels that answer with.
pub(super) const PARTIAL_OBJECT_METADATA: &str =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/// The kind of each resource a grant's end can leave in place; others are guessed from the
/// plural, which is all a test needs of them.
const KINDS: &[(&str, &str)] = &[
    ("serviceaccounts", "ServiceAccount"),
    ("secrets", "Secret"),
    ("pods", "Pod"),
    ("replicationcontrollers", "ReplicationController"),
    ("rolebindings", "RoleBinding"),
    ("clusterrolebindings", "ClusterRoleBinding"),
    ("roles", "Role"),
    ("clusterroles", "ClusterRole"),
    ("deployments", "Deployment"),
    ("daemonsets", "DaemonSet"),
    ("statefulsets", "StatefulSet"),
    ("replicasets", "ReplicaSet"),
    ("jobs", "Job"),
    ("cronjobs", "CronJob"),
    (
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
    ),
    (
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
    ),
    ("certificatesigningrequests", "CertificateSigningRequest"),
];

fn kind_of(resource: &str) -> String {
    if let Some((_, kind)) = KINDS.iter().find(|(r, _)| *r == resource) {
        return kind.to_string();
    }
    let singular = match resource.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => resource.strip_suffix('s').unwrap_or(resource).to_string(),
    };
    let mut letters = singular.chars();
    letters
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + letters.as_str())
        .unwrap_or_default()
}

/// Where the fake keeps an object.
enum Slot {
    /// `accounts`, by (namespace, name).
    Account((String, String)),
    /// `bindings`, by (namespace, name); a ClusterRoleBinding under the empty namespace.
    Binding((String, String)),
    /// `roles`, by (namespace, name).
    Role((String, String)),
    /// `cluster_roles`, by name.
    ClusterRole(String),
    /// `objects`, by API path.
    Other(String),
}

fn slot(object: &ObjectRef) -> Slot {
    let name = object.name.clone();
    match (
        object.group.as_str(),
        object.resource.as_str(),
        object.namespace.clone(),
    ) {
        ("", "serviceaccounts", Some(ns)) => Slot::Account((ns, name)),
        (GROUP, "rolebindings", Some(ns)) => Slot::Binding((ns, name)),
        (GROUP, "clusterrolebindings", None) => Slot::Binding((String::new(), name)),
        (GROUP, "roles", Some(ns)) => Slot::Role((ns, name)),
        (GROUP, "clusterroles", None) => Slot::ClusterRole(name),
        _ => Slot::Other(object.path()),
    }
}

impl Inner {
    fn object(&self, at: &Slot) -> Option<&Value> {
        match at {
            Slot::Account(key) => self.accounts.get(key),
            Slot::Binding(key) => self.bindings.get(key),
            Slot::Role(key) => self.roles.get(key),
            Slot::ClusterRole(name) => self.cluster_roles.get(name),
            Slot::Other(path) => self.objects.get(path),
        }
    }

    fn remove_object(&mut self, at: &Slot) -> Option<Value> {
        match at {
            Slot::Account(key) => self.accounts.remove(key),
            Slot::Binding(key) => self.bindings.remove(key),
            Slot::Role(key) => self.roles.remove(key),
            Slot::ClusterRole(name) => self.cluster_roles.remove(name),
            Slot::Other(path) => self.objects.remove(path),
        }
    }

    fn insert_object(&mut self, at: Slot, object: Value) {
        match at {
            Slot::Account(key) => self.accounts.insert(key, object),
            Slot::Binding(key) => self.bindings.insert(key, object),
            Slot::Role(key) => self.roles.insert(key, object),
            Slot::ClusterRole(name) => self.cluster_roles.insert(name, object),
            Slot::Other(path) => self.objects.insert(path, object),
        };
    }
}

impl FakeKube {
    /// Puts the object in place as if someone had created it (replacing one of that name).
    pub fn put_object(&self, object: &ObjectRef) {
        self.put_object_with(object, json!({}));
    }

    /// As `put_object`, with the rest of the object (a Secret's `data`, a pod's `spec`…) taken
    /// from `body`. A binding without a `roleRef` gets `view`'s and no subjects, a role no
    /// rules, so the RBAC evaluator and the bot's listings can read them.
    pub fn put_object_with(&self, object: &ObjectRef, body: Value) {
        let mut stored = if body.is_object() { body } else { json!({}) };
        stored["apiVersion"] = json!(match object.group.as_str() {
            "" => object.version.clone(),
            group => format!("{group}/{}", object.version),
        });
        stored["kind"] = json!(kind_of(&object.resource));
        let metadata = &mut stored["metadata"];
        metadata["name"] = json!(object.name);
        if let Some(namespace) = &object.namespace {
            metadata["namespace"] = json!(namespace);
        }
        metadata["uid"] = json!(uuid::Uuid::new_v4().to_string());
        metadata["resourceVersion"] = json!(self.next_version());
        metadata["creationTimestamp"] =
            json!(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true));
        let at = slot(object);
        match at {
            Slot::Binding(_) if stored["roleRef"].is_null() => {
                stored["roleRef"] =
                    json!({ "apiGroup": GROUP, "kind": "ClusterRole", "name": "view" });
                stored["subjects"] = json!([]);
            }
            Slot::Role(_) | Slot::ClusterRole(_) if stored["rules"].is_null() => {
                stored["rules"] = json!([]);
            }
            _ => {}
        }
        self.lock().insert_object(at, stored);
    }

    /// The DeleteOptions of every delete of an object the fake keeps apart (not a binding's or
    /// a ServiceAccount's), by path: how each asked for it to be done.
    pub fn deletions(&self) -> Vec<(String, Value)> {
        self.lock().deletions.clone()
    }

    /// Whether the object is there now, wherever the fake keeps it.
    pub fn object_exists(&self, object: &ObjectRef) -> bool {
        self.lock().object(&slot(object)).is_some()
    }
}

/// Whether an Accept header asks for PartialObjectMetadata (meta.k8s.io/v1) as JSON, in any of
/// the media types it lists.
pub(super) fn asks_for_metadata(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| {
            let mut parts = media.split(';').map(str::trim);
            let json = parts.next() == Some("application/json");
            let params: Vec<&str> = parts.collect();
            json && ["as=PartialObjectMetadata", "g=meta.k8s.io", "v=v1"]
                .iter()
                .all(|wanted| params.contains(wanted))
        })
}

/// The object as a GET answers it: in full, or its metadata alone when that was asked for.
pub(super) fn answer_read(metadata_only: bool, object: Value) -> Response {
    if !metadata_only {
        return Json(object).into_response();
    }
    let partial = json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"],
    });
    let mut response = Json(partial).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PARTIAL_OBJECT_METADATA),
    );
    response
}

/// The path parameters of a route naming one object: no `group` (nor `version`) in the core
/// group's `/api/v1`, no `namespace` for a cluster-wide object.
#[derive(serde::Deserialize)]
struct Named {
    group: Option<String>,
    version: Option<String>,
    namespace: Option<String>,
    resource: String,
    name: String,
}

impl Named {
    fn object(self) -> ObjectRef {
        ObjectRef {
            group: self.group.unwrap_or_default(),
            version: self.version.unwrap_or_else(|| "v1".to_string()),
            resource: self.resource,
            namespace: self.namespace,
            name: self.name,
            uid: None,
        }
    }
}

fn not_found(object: &ObjectRef) -> Response {
    not_found_in(&object.group, &object.resource, &object.name)
}

async fn read(State(fake): State<FakeKube>, Path(at): Path<Named>, headers: HeaderMap) -> Response {
    let object = at.object();
    let metadata_only = match fake.enter_read(object.path(), &headers).await {
        Ok(metadata_only) => metadata_only,
        Err(r) => return r,
    };
    let found = fake.lock().object(&slot(&object)).cloned();
    match found {
        Some(stored) => answer_read(metadata_only, stored),
        None => not_found(&object),
    }
}

/// Removes the object at once and answers it, as the apiserver does an object without
/// finalizers; a pod it would keep, terminating, for a grace period no test here waits out.
async fn delete(
    State(fake): State<FakeKube>,
    Path(at): Path<Named>,
    body: axum::body::Bytes,
) -> Response {
    let object = at.object();
    let fault = match fake.enter(Method::DELETE, object.path()).await {
        Ok(fault) => fault,
        Err(r) => return r,
    };
    // DeleteOptions: a UID precondition must name the object that is there now.
    let options: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(expected) = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
    {
        let stored = fake.lock().object(&slot(&object)).cloned();
        let actual = stored.as_ref().and_then(|o| o["metadata"]["uid"].as_str());
        if let Some(actual) = actual.filter(|actual| *actual != expected) {
            let message = format!(
                "Precondition failed: UID in precondition: {expected}, UID in object meta: {actual}"
            );
            let details = json!({ "name": object.name, "kind": object.resource });
            return status(StatusCode::CONFLICT, "Conflict", &message, details);
        }
    }
    fake.lock().deletions.push((object.path(), options));
    let removed = fake.lock().remove_object(&slot(&object));
    match removed {
        Some(stored) => FakeKube::after_write(fault, Json(stored).into_response()),
        None => not_found(&object),
    }
}

/// GET and DELETE of one object of any resource. The routes for ServiceAccounts and bindings are
/// more specific, and the router tries them first.
pub(super) fn routes(router: Router<FakeKube>) -> Router<FakeKube> {
    let one = || -> MethodRouter<FakeKube> { get(read).delete(delete) };
    router
        .route("/api/v1/namespaces/{namespace}/{resource}/{name}", one())
        .route("/api/v1/{resource}/{name}", one())
        .route(
            "/apis/{group}/{version}/namespaces/{namespace}/{resource}/{name}",
            one(),
        )
        .route("/apis/{group}/{version}/{resource}/{name}", one())
}

#[cfg(test)]
mod tests;
