//! `POST /k8s/audit`: the apiserver's audit webhook backend sends `audit.k8s.io/v1` `EventList`
//! batches of every request in the cluster. Each event whose user acts with an active grant is
//! kept as that grant's session activity; all others are dropped after one lookup. The batch is
//! answered only once its activity is durable, so the apiserver sends a failed batch again.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tower_http::limit::RequestBodyLimitLayer;
use tracing::{error, warn};

use crate::app::App;
use crate::domain::activity::{KubeRequest, Stage};

/// The apiserver caps a batch at 10 MiB when `--audit-webhook-truncate-enabled` is set;
/// anything larger is refused with 413.
pub const MAX_AUDIT_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The bearer token the apiserver's webhook kubeconfig presents.
#[derive(Clone)]
struct WebhookToken(Arc<String>);

pub fn router(token: String) -> Router<Arc<App>> {
    Router::new()
        .route("/k8s/audit", post(receive))
        .layer(Extension(WebhookToken(Arc::new(token))))
        .layer(DefaultBodyLimit::max(MAX_AUDIT_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_AUDIT_BODY_BYTES))
}

#[derive(Deserialize)]
struct Target {
    /// Which configured cluster's apiserver sends: needed when there are several.
    cluster: Option<String>,
}

#[derive(Deserialize)]
struct EventList<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "apiVersion", borrow)]
    api_version: Cow<'a, str>,
    #[serde(default, borrow)]
    items: Vec<AuditEvent<'a>>,
}

/// The fields of `audit.k8s.io/v1` `Event` that activity uses; the rest are skipped unread.
#[derive(Deserialize)]
struct AuditEvent<'a> {
    #[serde(rename = "auditID", borrow)]
    audit_id: Cow<'a, str>,
    #[serde(borrow)]
    stage: Cow<'a, str>,
    #[serde(rename = "requestURI", borrow)]
    request_uri: Cow<'a, str>,
    #[serde(borrow)]
    verb: Cow<'a, str>,
    #[serde(borrow)]
    user: UserInfo<'a>,
    #[serde(rename = "impersonatedUser", default, borrow)]
    impersonated_user: Option<UserInfo<'a>>,
    #[serde(rename = "objectRef", default, borrow)]
    object_ref: Option<ObjectReference<'a>>,
    #[serde(rename = "responseStatus", default)]
    response_status: Option<ResponseStatus>,
    #[serde(rename = "requestReceivedTimestamp", default)]
    request_received: Option<DateTime<Utc>>,
    #[serde(rename = "stageTimestamp", default)]
    stage_timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct UserInfo<'a> {
    #[serde(default, borrow)]
    username: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ObjectReference<'a> {
    #[serde(default, borrow)]
    resource: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    namespace: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    subresource: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ResponseStatus {
    #[serde(default)]
    code: Option<u16>,
}

fn owned(value: &Option<Cow<'_, str>>) -> Option<String> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

type Answer = (StatusCode, String);

fn refuse(status: StatusCode, why: impl Into<String>) -> Answer {
    (status, why.into() + "\n")
}

async fn receive(
    State(app): State<Arc<App>>,
    Extension(WebhookToken(token)): Extension<WebhookToken>,
    Query(target): Query<Target>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    if !authorised(&headers, &token) {
        warn!("audit webhook call without the right bearer token refused");
        return refuse(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
    }
    let cluster = match app.cluster_of_audit_webhook(target.cluster.as_deref()) {
        Ok(cluster) => cluster,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    let list: EventList = match serde_json::from_slice(&body) {
        Ok(list) => list,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("not an audit.k8s.io/v1 EventList: {e}"),
            );
        }
    };
    if list.kind != "EventList" || list.api_version != "audit.k8s.io/v1" {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "expected kind EventList of apiVersion audit.k8s.io/v1, got {} of {}",
                list.kind, list.api_version
            ),
        );
    }
    let by_grant = match_to_grants(&app, &cluster, &list.items);
    if by_grant.is_empty() {
        return (StatusCode::OK, String::new());
    }
    match app.record_activity(by_grant).await {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => {
            error!(error = %e, "cannot store session activity; the apiserver will send it again");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot store the activity now",
            )
        }
    }
}

/// The events made with a grant, by grant id.
fn match_to_grants(
    app: &App,
    cluster: &str,
    items: &[AuditEvent<'_>],
) -> BTreeMap<String, Vec<KubeRequest>> {
    let index = app.activity_index();
    let mut by_grant: BTreeMap<String, Vec<KubeRequest>> = BTreeMap::new();
    for event in items {
        // With impersonation, RBAC decides for the impersonated user: that is who acts.
        let user = event.impersonated_user.as_ref().unwrap_or(&event.user);
        let Some(username) = user.username.as_deref() else {
            continue;
        };
        let Some(at) = event.request_received.or(event.stage_timestamp) else {
            continue;
        };
        let object = event.object_ref.as_ref();
        let namespace = object.and_then(|o| o.namespace.as_deref());
        let Some(grant) = index.grant_for(cluster, username, at, namespace) else {
            continue;
        };
        let Some(stage) = Stage::parse(&event.stage) else {
            continue;
        };
        by_grant.entry(grant).or_default().push(KubeRequest {
            audit_id: event.audit_id.to_string(),
            stage,
            at,
            verb: event.verb.to_string(),
            resource: object.and_then(|o| owned(&o.resource)),
            subresource: object.and_then(|o| owned(&o.subresource)),
            namespace: object.and_then(|o| owned(&o.namespace)),
            name: object.and_then(|o| owned(&o.name)),
            code: event.response_status.as_ref().and_then(|s| s.code),
            uri: event.request_uri.to_string(),
        });
    }
    by_grant
}

fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.as_bytes().ct_eq(token.as_bytes()).into()
}
