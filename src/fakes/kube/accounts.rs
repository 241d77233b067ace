//! Core ServiceAccounts and their `token` subresource (the TokenRequest API).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::FakeKube;
use super::objects::answer_read;
use super::status::{bad_body, invalid_name, name_of, namespace_not_found, not_found_in, status};

fn account_path(namespace: &str, name: Option<&str>) -> String {
    let collection = format!("/api/v1/namespaces/{namespace}/serviceaccounts");
    match name {
        Some(name) => format!("{collection}/{name}"),
        None => collection,
    }
}

fn account_not_found(name: &str) -> Response {
    not_found_in("", "serviceaccounts", name)
}

fn invalid(kind: &str, name: &str, field: &str, message: &str) -> Response {
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("{kind} \"{name}\" is invalid: {field}: {message}"),
        json!({ "name": name, "kind": kind, "causes": [{ "reason": "FieldValueInvalid", "message": message, "field": field }] }),
    )
}

pub(super) async fn create(
    State(fake): State<FakeKube>,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = fake
        .enter(Method::POST, account_path(&namespace, None))
        .await
    {
        return r;
    }
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(object) => object,
        Err(e) => return bad_body(e),
    };
    let name = name_of(&object);
    if let Some((field, message)) = invalid_name(&name) {
        return invalid("ServiceAccount", &name, &field, &message);
    }
    let mut inner = fake.lock();
    if !inner.namespaces.contains(&namespace) {
        return namespace_not_found(&namespace);
    }
    let key = (namespace.clone(), name.clone());
    if inner.accounts.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("serviceaccounts \"{name}\" already exists"),
            json!({ "name": name, "kind": "serviceaccounts" }),
        );
    }
    object["apiVersion"] = json!("v1");
    object["kind"] = json!("ServiceAccount");
    object["metadata"]["namespace"] = json!(namespace);
    object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    object["metadata"]["resourceVersion"] = json!(fake.next_version());
    inner.accounts.insert(key, object.clone());
    (StatusCode::CREATED, Json(object)).into_response()
}

pub(super) async fn read(
    State(fake): State<FakeKube>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = account_path(&namespace, Some(&name));
    let metadata_only = match fake.enter_read(path, &headers).await {
        Ok(metadata_only) => metadata_only,
        Err(r) => return r,
    };
    match fake.service_account(&namespace, &name) {
        Some(object) => answer_read(metadata_only, object),
        None => account_not_found(&name),
    }
}

pub(super) async fn delete(
    State(fake): State<FakeKube>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    if let Err(r) = fake
        .enter(Method::DELETE, account_path(&namespace, Some(&name)))
        .await
    {
        return r;
    }
    match fake.lock().accounts.remove(&(namespace, name.clone())) {
        Some(object) => Json(object).into_response(),
        None => account_not_found(&name),
    }
}

/// `POST …/serviceaccounts/{name}/token`, with the API server's 10-minute minimum.
pub(super) async fn token(
    State(fake): State<FakeKube>,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let path = format!("{}/token", account_path(&namespace, Some(&name)));
    if let Err(r) = fake.enter(Method::POST, path).await {
        return r;
    }
    let mut request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return bad_body(e),
    };
    if fake.service_account(&namespace, &name).is_none() {
        return account_not_found(&name);
    }
    let seconds = request["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(3600);
    if seconds < 600 {
        return invalid(
            "TokenRequest",
            "",
            "spec.expirationSeconds",
            &format!("Invalid value: {seconds}: may not specify a duration less than 10 minutes"),
        );
    }
    let token = format!("eyFAKE.{}", uuid::Uuid::new_v4().simple());
    fake.lock()
        .tokens
        .push((namespace, name, seconds, token.clone()));
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["status"] = json!({ "token": token, "expirationTimestamp": "2026-11-23T12:00:00Z" });
    (StatusCode::CREATED, Json(request)).into_response()
}
