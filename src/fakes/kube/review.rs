//! `SelfSubjectAccessReview`: answers from the fake's denial list, as RBAC would.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::status::{bad_body, internal_error, status};
use super::{FakeKube, KubeFault};

/// `POST …/selfsubjectaccessreviews`: answers from the denial list, as RBAC would.
pub(super) async fn access_review(State(fake): State<FakeKube>, body: Bytes) -> Response {
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
