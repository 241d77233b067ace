//! `POST /slack/commands`, `POST /slack/interactions` and `POST /slack/events`. slack-morphism's events layer verifies
//! the v0 signature and its age before a handler runs, and [`crate::http::replay`] takes each
//! signature once; handlers answer Slack at once and leave slow work to background tasks. Interactions are decoded by [`super::interaction`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router, middleware};
use serde_json::{Value, json};
use slack_morphism::listener::SlackClientEventsListenerEnvironment;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{
    SlackEventAbsentSignatureError, SlackEventSignatureVerifierError,
};
use tracing::warn;

use super::interaction::{self, Interaction};
use crate::app::App;
use crate::http::refusal::Refusal;
use crate::http::replay::ReplayGuard;
use crate::slack::client::{SlackApiClient, SlackConnector};
use crate::store::SeenRequests;

/// Each route checks the signature first (the outer layer), then that it was not taken before.
pub fn router(
    client: Arc<SlackApiClient>,
    signing_secret: &str,
    seen: Arc<dyn SeenRequests>,
    command_unavailable: Option<serde_json::Value>,
) -> Router<Arc<App>> {
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client).with_error_handler(rejection_status),
    );
    let listener = SlackEventsAxumListener::new(environment);
    let secret: SlackSigningSecret = signing_secret.to_string().into();
    let guard = |unavailable_reply| ReplayGuard {
        seen: Arc::clone(&seen),
        unavailable_reply,
    };
    let refuse_replays = crate::http::replay::refuse_replays;
    let once = middleware::from_fn_with_state(guard(None), refuse_replays);
    let command_once = middleware::from_fn_with_state(guard(command_unavailable), refuse_replays);
    Router::new()
        .route(
            "/slack/commands",
            post(command).layer(command_once).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::command_event()),
            ),
        )
        .route(
            "/slack/interactions",
            // Signature check only: `interaction` decodes the body itself.
            post(interaction)
                .layer(once.clone())
                .layer(listener.events_layer(&secret)),
        )
        .route(
            "/slack/events",
            post(event).layer(once).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::push_event()),
            ),
        )
}

/// The Events API: the URL check Slack makes when the Request URL is set, then events.
async fn event(
    State(app): State<Arc<App>>,
    Extension(event): Extension<SlackPushEvent>,
) -> Response {
    match event {
        SlackPushEvent::UrlVerification(check) => {
            Json(json!({ "challenge": check.challenge })).into_response()
        }
        SlackPushEvent::EventCallback(callback) => {
            super::events::handle(&app, callback.event);
            StatusCode::OK.into_response()
        }
        SlackPushEvent::AppRateLimited(limited) => {
            warn!(?limited, "Slack is rate-limiting the events it sends");
            StatusCode::OK.into_response()
        }
    }
}

/// A missing, wrong or stale signature is 401; a signed body we cannot read is 400.
fn rejection_status(
    err: Box<dyn std::error::Error + Send + Sync + 'static>,
    _client: Arc<SlackClient<SlackConnector>>,
    _state: slack_morphism::listener::SlackClientEventsUserState,
) -> StatusCode {
    if err
        .downcast_ref::<SlackEventSignatureVerifierError>()
        .is_some()
        || err
            .downcast_ref::<SlackEventAbsentSignatureError>()
            .is_some()
    {
        warn!(error = %err, "refused a Slack request with a bad signature");
        Refusal::Unauthenticated(err.to_string()).status()
    } else {
        warn!(error = %err, "refused a malformed Slack request");
        Refusal::Malformed(err.to_string()).status()
    }
}

async fn command(
    State(app): State<Arc<App>>,
    Extension(event): Extension<SlackCommandEvent>,
) -> Response {
    let text = event.text.as_deref().unwrap_or("");
    let reply = app
        .handle_command(
            event.user_id.as_ref(),
            event.channel_id.as_ref(),
            text,
            event.trigger_id.as_ref(),
        )
        .await;
    let Some(reply) = reply else {
        // A form was opened; an empty 200 tells Slack to show nothing else.
        return StatusCode::OK.into_response();
    };
    let mut body = reply.0;
    if let Value::Object(fields) = &mut body {
        fields.insert("response_type".into(), json!("ephemeral"));
    }
    Json(body).into_response()
}

/// The body reaches here verified but undecoded, so the endpoint reads it with the same
/// [`interaction::decode`] the fuzz target exercises.
async fn interaction(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match interaction::decode(&body) {
        Ok(Interaction::Click {
            user,
            channel,
            click,
        }) => {
            app.spawn_click(click, user, channel);
            StatusCode::OK.into_response()
        }
        Ok(Interaction::Form { user, form }) => {
            let errors = app.handle_form(&user, form).await;
            if errors.is_empty() {
                StatusCode::OK.into_response()
            } else {
                Json(json!({ "response_action": "errors", "errors": errors })).into_response()
            }
        }
        Ok(Interaction::Ignored) => StatusCode::OK.into_response(),
        Err(err) => {
            warn!(error = %err, "refused a malformed Slack request");
            Refusal::Malformed(err.to_string()).into_response()
        }
    }
}
