//! `POST /k8s/audit`: the apiserver's audit webhook backend sends `audit.k8s.io/v1` `EventList`
//! batches of every request in the cluster. Each event whose user acts with an active grant is
//! kept as that grant's session activity; all others are dropped after one lookup. The batch is
//! answered only once its activity is durable, so the apiserver sends a failed batch again.

pub mod tokens;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tracing::{error, warn};

use crate::app::App;
use crate::domain::activity::{KubeRequest, Stage};
use crate::http::refusal::Refusal;
use tokens::AuditWebhookTokens;

/// The apiserver caps a batch at 10 MiB when `--audit-webhook-truncate-enabled` is set;
/// anything larger is refused with 413.
pub const MAX_AUDIT_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Batches read at once: each may hold up to `MAX_AUDIT_BODY_BYTES` in memory.
const BATCHES_AT_ONCE: usize = 4;
/// Batches remembered as stored, so one the apiserver sends again (its answer was lost) is
/// not counted twice.
const REMEMBERED_BATCHES: usize = 4096;

/// The bearer token each cluster's webhook kubeconfig presents, and what limits the calls.
struct Webhook {
    tokens: AuditWebhookTokens,
    reading: Semaphore,
    stored: Mutex<RecentBatches>,
}

#[derive(Default)]
struct RecentBatches {
    order: VecDeque<[u8; 32]>,
    known: HashSet<[u8; 32]>,
}

impl RecentBatches {
    fn contains(&self, digest: &[u8; 32]) -> bool {
        self.known.contains(digest)
    }

    fn remember(&mut self, digest: [u8; 32]) {
        if self.known.insert(digest) {
            self.order.push_back(digest);
        }
        while self.order.len() > REMEMBERED_BATCHES {
            if let Some(old) = self.order.pop_front() {
                self.known.remove(&old);
            }
        }
    }
}

/// `POST /k8s/audit` (one cluster) and `POST /k8s/audit/<cluster>` (several: the apiserver's
/// webhook client drops a query string, so the cluster is in the path).
pub fn router(tokens: AuditWebhookTokens) -> Router<Arc<App>> {
    let webhook = Arc::new(Webhook {
        tokens,
        reading: Semaphore::new(BATCHES_AT_ONCE),
        stored: Mutex::new(RecentBatches::default()),
    });
    Router::new()
        .route("/k8s/audit", post(receive_default))
        .route("/k8s/audit/{cluster}", post(receive_for))
        // Route layers only: the rest of the bot's routes (and its 404) are not the webhook's.
        .route_layer(DefaultBodyLimit::max(MAX_AUDIT_BODY_BYTES))
        .route_layer(RequestBodyLimitLayer::new(MAX_AUDIT_BODY_BYTES))
        // Outermost: nobody without the token makes the bot read a body.
        .route_layer(middleware::from_fn(authorise))
        .route_layer(Extension(webhook))
}

/// Refuses a call without a cluster's token, or with another cluster's, before its body is
/// read, and lets only a few bodies be read at once. The cluster is the one the handler reads
/// from the same (decoded) path; a path naming no known cluster is the handler's to answer.
async fn authorise(
    Extension(webhook): Extension<Arc<Webhook>>,
    named: Option<Path<String>>,
    request: Request,
    next: Next,
) -> Response {
    let holder = bearer(request.headers()).and_then(|token| webhook.tokens.cluster_holding(token));
    let Some(holder) = holder else {
        warn!("audit webhook call without a cluster's bearer token refused");
        return Refusal::Unauthenticated("a valid bearer token is required".into()).into_response();
    };
    // A token speaks for its own cluster only, whether or not the named cluster has a token.
    if let Some(Path(named)) = &named
        && named != holder
    {
        warn!(token_of = holder, posted_for = %named, "audit webhook call with another cluster's token refused");
        return Refusal::Unauthenticated("this bearer token is not the named cluster's".into())
            .into_response();
    }
    let Ok(_permit) = webhook.reading.acquire().await else {
        return Refusal::Unavailable("shutting down".into()).into_response();
    };
    next.run(request).await
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
    #[serde(default, borrow)]
    annotations: Option<Annotations<'a>>,
}

#[derive(Deserialize)]
struct Annotations<'a> {
    /// `RBAC: allowed by RoleBinding "prod-access-x7k2/payments" of ClusterRole "edit" to User …`
    #[serde(rename = "authorization.k8s.io/reason", default, borrow)]
    reason: Option<Cow<'a, str>>,
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

async fn receive_default(
    State(app): State<Arc<App>>,
    Extension(webhook): Extension<Arc<Webhook>>,
    body: Bytes,
) -> Response {
    receive(app, &webhook, None, body).await
}

async fn receive_for(
    State(app): State<Arc<App>>,
    Extension(webhook): Extension<Arc<Webhook>>,
    Path(cluster): Path<String>,
    body: Bytes,
) -> Response {
    receive(app, &webhook, Some(cluster), body).await
}

async fn receive(
    app: Arc<App>,
    webhook: &Webhook,
    cluster: Option<String>,
    body: Bytes,
) -> Response {
    let cluster = match app.cluster_of_audit_webhook(cluster.as_deref()) {
        Ok(cluster) => cluster,
        Err(why) => return Refusal::Malformed(why).into_response(),
    };
    let list: EventList = match serde_json::from_slice(&body) {
        Ok(list) => list,
        Err(e) => {
            return Refusal::Malformed(format!("not an audit.k8s.io/v1 EventList: {e}"))
                .into_response();
        }
    };
    if list.kind != "EventList" || list.api_version != "audit.k8s.io/v1" {
        return Refusal::Malformed(format!(
            "expected kind EventList of apiVersion audit.k8s.io/v1, got {} of {}",
            list.kind, list.api_version
        ))
        .into_response();
    }
    let by_grant = match_to_grants(&app, &cluster, &list.items);
    let matched = by_grant.values().map(Vec::len).sum();
    app.metrics()
        .session_batch(&cluster, list.items.len(), matched);
    if by_grant.is_empty() {
        return StatusCode::OK.into_response();
    }
    let digest: [u8; 32] = Sha256::new()
        .chain_update(cluster.as_bytes())
        .chain_update(&body)
        .finalize()
        .into();
    let seen = |w: &Webhook| {
        w.stored
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&digest)
    };
    if seen(webhook) {
        return StatusCode::OK.into_response();
    }
    match app.record_activity(by_grant).await {
        Ok(()) => {
            webhook
                .stored
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remember(digest);
            StatusCode::OK.into_response()
        }
        Err(e) => {
            error!(error = %e, "cannot store session activity; the apiserver will send it again");
            Refusal::NotStored {
                why: "cannot store the activity now".into(),
                retry_after_secs: 5,
            }
            .into_response()
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
        let Some(at) = event.request_received.or(event.stage_timestamp) else {
            continue;
        };
        let object = event.object_ref.as_ref();
        let namespace = object.and_then(|o| o.namespace.as_deref());
        let allowed_by = event.annotations.as_ref().and_then(|a| a.reason.as_deref());
        let impersonated = event
            .impersonated_user
            .as_ref()
            .and_then(|u| u.username.as_deref());
        let real = event.user.username.as_deref();
        // With impersonation RBAC decides for the impersonated user, so that is looked up
        // first; a grant holder impersonating someone else is still theirs.
        let found = impersonated
            .and_then(|user| index.grant_for(cluster, user, at, namespace, allowed_by))
            .map(|found| (found, None))
            .or_else(|| {
                let found = index.grant_for(cluster, real?, at, namespace, allowed_by)?;
                Some((found, impersonated.map(str::to_string)))
            });
        let Some((found, impersonating)) = found else {
            continue;
        };
        let Some(stage) = Stage::parse(&event.stage) else {
            continue;
        };
        by_grant.entry(found.grant).or_default().push(KubeRequest {
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
            after_end: found.after_end,
            impersonating,
        });
    }
    by_grant
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}
