//! The HTTP surface: the chat platform's webhooks (Slack's signed requests, or the Bot
//! Framework's activities for Teams) and health checks.

pub mod apiserver_audit;
pub mod refusal;
pub(crate) mod replay;
pub mod serve;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::slack::client::SlackApiClient;
use crate::store::SeenRequests;
use apiserver_audit::tokens::AuditWebhookTokens;

/// Slack's payloads are a few KiB; anything far larger is not from Slack.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Where the chat platform reaches the bot over HTTP.
pub enum ChatRoutes {
    /// Slack in HTTP mode: its webhooks, checked with the signing secret.
    Slack {
        client: Arc<SlackApiClient>,
        signing_secret: String,
        /// Where the signatures already taken are remembered.
        seen: Arc<dyn SeenRequests>,
    },
    /// Slack in Socket Mode: Slack reaches the bot over connections the bot opens.
    None,
    Teams(Arc<crate::teams::routes::TeamsEndpoint>),
}

/// The health checks, the platform's routes, and the apiserver's audit webhook when a
/// cluster's token is set.
pub fn router(
    app: Arc<App>,
    chat: ChatRoutes,
    k8s_audit_tokens: AuditWebhookTokens,
    metrics_here: bool,
) -> Router {
    let chat = match chat {
        ChatRoutes::Slack {
            client,
            signing_secret,
            seen,
        } => {
            let command_unavailable = app.command_unavailable_reply();
            crate::slack::routes::router(client, &signing_secret, seen, command_unavailable)
        }
        ChatRoutes::None => Router::new(),
        ChatRoutes::Teams(endpoint) => crate::teams::routes::router(endpoint),
    };
    let audit_webhook = if k8s_audit_tokens.is_empty() {
        Router::new()
    } else {
        apiserver_audit::router(k8s_audit_tokens)
    };
    let metrics = if metrics_here {
        metrics_routes(&app)
    } else {
        Router::new()
    };
    Router::new()
        .merge(chat)
        .merge(metrics)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Audit batches are far larger than chat payloads: that route has its own limit.
        .merge(audit_webhook)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response),
        )
        .with_state(app)
}

/// `GET /metrics` when metrics are on (`PROD_ACCESS_METRICS` is not `off`).
fn metrics_routes(app: &Arc<App>) -> Router<Arc<App>> {
    if app.metrics().is_on() {
        Router::new().route("/metrics", get(metrics))
    } else {
        Router::new()
    }
}

/// What `metrics_listen` serves: `GET /metrics` alone.
pub fn metrics_router(app: Arc<App>) -> Router {
    metrics_routes(&app)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response),
        )
        .with_state(app)
}

/// The metrics, in OpenMetrics for Prometheus and in the classic text format for anyone else.
async fn metrics(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
) -> impl axum::response::IntoResponse {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok());
    let format = crate::metrics::Format::accepted(accept);
    (
        [(axum::http::header::CONTENT_TYPE, format.content_type())],
        app.scrape(format).await,
    )
}

/// A fresh id for one request or Socket Mode envelope, to follow it through the logs.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// One line per answered request, in its span: `status` and `duration_ms`.
fn log_response<B>(
    response: &axum::http::Response<B>,
    latency: std::time::Duration,
    _: &tracing::Span,
) {
    let duration_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    tracing::info!(status, duration_ms, "answered");
}

/// The span every log line of one HTTP request runs in, and of the effects it starts (they are
/// spawned in it): its `request_id` follows a click from its arrival to the binding it creates.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %new_request_id(),
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Ready once the bot may do everything its policy needs in the cluster; otherwise 503 with
/// one line per missing permission.
async fn readyz(State(app): State<Arc<App>>) -> (StatusCode, String) {
    match app.readiness() {
        Ok(()) => {
            let ok = crate::templates::operator_says("ready", minijinja::context! {});
            (StatusCode::OK, ok.unwrap_or_default() + "\n")
        }
        Err(problems) => (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n") + "\n"),
    }
}
