//! The HTTP surface: Slack's signed webhooks and health checks.

pub mod events;
pub mod interaction;
mod slack;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::chat::slack::SlackApiClient;

/// Slack's payloads are a few KiB; anything far larger is not from Slack.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The health checks, and Slack's webhooks when a signing secret is given (HTTP mode; in
/// Socket Mode Slack reaches the bot over its own connections instead).
pub fn router(
    app: Arc<App>,
    slack_client: Arc<SlackApiClient>,
    signing_secret: Option<&str>,
) -> Router {
    let slack = match signing_secret {
        Some(secret) => slack::router(slack_client, secret),
        None => Router::new(),
    };
    Router::new()
        .merge(slack)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Ready once the bot may do everything its policy needs in the cluster; otherwise 503 with
/// one line per missing permission.
async fn readyz(State(app): State<Arc<App>>) -> (StatusCode, String) {
    match app.readiness() {
        Ok(()) => (StatusCode::OK, "ok\n".into()),
        Err(problems) => (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n") + "\n"),
    }
}
