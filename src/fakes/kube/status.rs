//! The apiserver's `Status` bodies and the validation a real apiserver applies to RBAC bindings.

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::GROUP;

pub(super) fn internal_error() -> Response {
    status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "Internal error occurred: injected fault",
        json!({}),
    )
}

pub(super) fn service_unavailable() -> Response {
    status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
        json!({}),
    )
}

pub(super) fn status(code: StatusCode, reason: &str, message: &str, details: Value) -> Response {
    (
        code,
        Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "details": details, "code": code.as_u16(),
        })),
    )
        .into_response()
}

/// Who the fake says the bot is when RBAC refuses it.
const BOT: &str = "system:serviceaccount:prod-access:prod-access";

/// What a call's path addresses: `/api/v1/namespaces/ns/serviceaccounts/x/token` is the
/// `serviceaccounts/token` resource of the core group, in `ns`, named `x`.
struct Addressed<'a> {
    group: &'a str,
    /// The resource, without its subresource.
    resource: &'a str,
    subresource: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

fn addressed(path: &str) -> Addressed<'_> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => ("", &[][..]),
    };
    // `namespaces/ns` alone is the Namespace itself, a cluster-wide object.
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        _ => (None, rest),
    };
    Addressed {
        group,
        resource: rest.first().copied().unwrap_or_default(),
        name: rest.get(1).copied(),
        subresource: rest.get(2).copied(),
        namespace,
    }
}

/// What RBAC answers a call the bot lacks the verb for: the verb, resource, API group and
/// namespace that the call's method and path stand for, as the apiserver words it.
pub(super) fn forbidden(method: &Method, path: &str) -> Response {
    let call = addressed(path);
    let verb = match (method.as_str(), call.name.is_some()) {
        ("GET", true) => "get".to_string(),
        ("GET", false) => "list".to_string(),
        ("POST", _) => "create".to_string(),
        ("PUT", _) => "update".to_string(),
        ("PATCH", _) => "patch".to_string(),
        ("DELETE", true) => "delete".to_string(),
        ("DELETE", false) => "deletecollection".to_string(),
        (other, _) => other.to_lowercase(),
    };
    let (group, resource) = (call.group, call.resource);
    let qualified = match group {
        "" => resource.to_string(),
        group => format!("{resource}.{group}"),
    };
    let subject = match call.name {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let full_resource = match call.subresource {
        Some(subresource) => format!("{resource}/{subresource}"),
        None => resource.to_string(),
    };
    let scope = match call.namespace {
        Some(namespace) => format!("in the namespace \"{namespace}\""),
        None => "at the cluster scope".to_string(),
    };
    let mut details = json!({ "kind": resource });
    if let Some(name) = call.name {
        details["name"] = json!(name);
    }
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "{subject} is forbidden: User \"{BOT}\" cannot {verb} resource \"{full_resource}\" in API group \"{group}\" {scope}"
        ),
        details,
    )
}

pub(super) fn not_found(resource: &str, name: &str) -> Response {
    not_found_in(GROUP, resource, name)
}

/// What the apiserver says of an object that is not there. The core group goes unnamed, in the
/// message as in the details (where an empty group is left out).
pub(super) fn not_found_in(group: &str, resource: &str, name: &str) -> Response {
    let (qualified, details) = match group {
        "" => (
            resource.to_string(),
            json!({ "name": name, "kind": resource }),
        ),
        group => (
            format!("{resource}.{group}"),
            json!({ "name": name, "group": group, "kind": resource }),
        ),
    };
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{qualified} \"{name}\" not found"),
        details,
    )
}

pub(super) fn invalid(kind: &str, name: &str, causes: Vec<(String, String)>) -> Response {
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
        &format!("{kind}.{GROUP} \"{name}\" is invalid: {text}"),
        json!({ "name": name, "group": GROUP, "kind": kind, "causes": causes }),
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

pub(super) fn is_dns_subdomain(s: &str) -> bool {
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

/// The name an object's metadata gives it; empty when it gives none.
pub(super) fn name_of(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The cause the apiserver gives for an object name that is not a lowercase RFC 1123
/// subdomain, as (field, message).
pub(super) fn invalid_name(name: &str) -> Option<(String, String)> {
    (!is_dns_subdomain(name)).then(|| {
        (
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"),
        )
    })
}

/// The checks a real apiserver makes on a RoleBinding.
pub(super) fn validate(object: &Value) -> Vec<(String, String)> {
    let mut causes: Vec<(String, String)> = invalid_name(&name_of(object)).into_iter().collect();
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

pub(super) fn bad_body(e: serde_json::Error) -> Response {
    status(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("the body is not a RoleBinding: {e}"),
        json!({}),
    )
}

/// What the apiserver says when an object is created in a namespace that does not exist.
pub(super) fn namespace_not_found(namespace: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("namespaces \"{namespace}\" not found"),
        json!({ "name": namespace, "kind": "namespaces" }),
    )
}
