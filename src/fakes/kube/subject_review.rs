//! `SubjectAccessReview`: may this user, or these groups, do this? Validated and answered as the
//! apiserver does, by RBAC over the Roles, ClusterRoles and bindings the fake holds.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::FakeKube;
use super::rbac::{self, Decision, Objects, Request};
use super::status::{bad_body, status};

pub(super) const PATH: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
const AUTHORIZATION: &str = "authorization.k8s.io";
/// kube-apiserver allows this group everything before RBAC is asked, and gives no reason.
const PRIVILEGED_GROUP: &str = "system:masters";

/// `POST …/subjectaccessreviews`: the review echoed with its `status`, 201 Created.
pub(super) async fn subject_access_review(State(fake): State<FakeKube>, body: Bytes) -> Response {
    let fault = match fake.enter_unrecorded(Method::POST, PATH).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let mut review: Value = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(e) => return bad_body(e),
    };
    let causes = invalid_spec(&review["spec"]);
    let Some(request) = Request::from_review_spec(&review["spec"]).filter(|_| causes.is_empty())
    else {
        return invalid(causes);
    };
    let decision = fake.decide(&review, &request);
    review["apiVersion"] = json!(format!("{AUTHORIZATION}/v1"));
    review["kind"] = json!("SubjectAccessReview");
    review["metadata"] = json!({ "creationTimestamp": null });
    review["status"] = json!({ "allowed": decision.allowed });
    if !decision.reason.is_empty() {
        review["status"]["reason"] = json!(decision.reason);
    }
    FakeKube::after_write(fault, (StatusCode::CREATED, Json(review)).into_response())
}

impl FakeKube {
    /// Records the review and decides it over the objects as they are now.
    fn decide(&self, review: &Value, request: &Request) -> Decision {
        let mut inner = self.lock();
        inner.subject_reviews.push(review.clone());
        if request
            .requester
            .groups
            .iter()
            .any(|g| g == PRIVILEGED_GROUP)
        {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let objects = Objects {
            roles: &inner.roles,
            cluster_roles: &inner.cluster_roles,
            bindings: &inner.bindings,
        };
        rbac::authorize(&objects, request)
    }
}

/// `ValidateSubjectAccessReviewSpec`'s causes, as (field, message).
fn invalid_spec(spec: &Value) -> Vec<(String, String)> {
    let resource = spec["resourceAttributes"].is_object();
    let non_resource = &spec["nonResourceAttributes"];
    let mut causes = Vec::new();
    if resource && non_resource.is_object() {
        // Go prints the internal struct with `%#v`.
        let shown = format!(
            "authorization.NonResourceAttributes{{Path:{:?}, Verb:{:?}}}",
            non_resource["path"].as_str().unwrap_or_default(),
            non_resource["verb"].as_str().unwrap_or_default(),
        );
        causes.push((
            "spec.nonResourceAttributes".into(),
            format!(
                "Invalid value: {shown}: cannot be specified in combination with resourceAttributes"
            ),
        ));
    }
    if !resource && !non_resource.is_object() {
        causes.push((
            "spec.resourceAttributes".into(),
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
        ));
    }
    let user = spec["user"].as_str().unwrap_or_default();
    let no_groups = spec["groups"].as_array().is_none_or(Vec::is_empty);
    if user.is_empty() && no_groups {
        causes.push((
            "spec.user".into(),
            "Invalid value: \"\": at least one of user or group must be specified".into(),
        ));
    }
    causes
}

/// 422 Invalid as `apierrors.NewInvalid` words it: one cause plain, several bracketed.
fn invalid(causes: Vec<(String, String)>) -> Response {
    let mut text: Vec<String> = causes
        .iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect();
    let text = match text.len() {
        1 => text.remove(0),
        _ => format!("[{}]", text.join(", ")),
    };
    let causes: Vec<Value> = causes
        .into_iter()
        .map(|(field, message)| json!({ "reason": "FieldValueInvalid", "message": message, "field": field }))
        .collect();
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &format!("SubjectAccessReview.{AUTHORIZATION} \"\" is invalid: {text}"),
        json!({ "group": AUTHORIZATION, "kind": "SubjectAccessReview", "causes": causes }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_is_checked_as_validate_subject_access_review_spec_does() {
        let both = json!({
            "user": "alice",
            "resourceAttributes": { "verb": "get", "resource": "pods" },
            "nonResourceAttributes": { "path": "/healthz", "verb": "get" },
        });
        assert_eq!(
            invalid_spec(&both),
            [(
                "spec.nonResourceAttributes".to_string(),
                "Invalid value: authorization.NonResourceAttributes{Path:\"/healthz\", Verb:\"get\"}: cannot be specified in combination with resourceAttributes".to_string()
            )]
        );
        let groups_only = json!({ "groups": ["ops"], "nonResourceAttributes": { "path": "/healthz", "verb": "get" } });
        assert!(invalid_spec(&groups_only).is_empty());
        let nobody =
            json!({ "groups": [], "nonResourceAttributes": { "path": "/healthz", "verb": "get" } });
        assert_eq!(invalid_spec(&nobody)[0].0, "spec.user");
    }
}
