//! Slack's Socket Mode: the bot opens WebSockets to Slack (`apps.connections.open` with the
//! app-level token) and receives commands, clicks and events over them, so it needs no public
//! URL. slack-morphism's listener keeps the connections, reconnects and acknowledges each
//! envelope with what the handlers answer; the handlers are the ones the HTTP endpoints use.

use std::sync::Arc;

use slack_morphism::prelude::*;
use tracing::{Instrument, info, warn};

use crate::app::App;
use crate::slack::client::{SlackApiClient, SlackConnector};
use crate::slack::interaction::{self, Interaction};

/// The running listener; `stop` closes its connections.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<SlackConnector>,
}

/// Why a callback has nothing to send back: the envelope is still acknowledged, bare.
#[derive(Debug, thiserror::Error)]
#[error("acknowledged without a payload")]
struct BareAck;

impl SocketMode {
    /// Connects with the app-level token (`xapp-…`) and starts serving envelopes.
    pub async fn start(
        app: Arc<App>,
        client: Arc<SlackApiClient>,
        app_token: &str,
    ) -> anyhow::Result<SocketMode> {
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(client)
                .with_error_handler(on_error)
                .with_user_state(app),
        );
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_command_events(on_command)
            .with_interaction_events(on_interaction)
            .with_push_events(on_push_event);
        let listener = SlackClientSocketModeListener::new(
            &SlackClientSocketModeConfig::new(),
            environment,
            callbacks,
        );
        let token = SlackApiToken::new(app_token.to_string().into());
        listener
            .listen_for(&token)
            .await
            .map_err(|e| anyhow::anyhow!("Socket Mode: cannot register the app token: {e}"))?;
        listener.start().await;
        info!("connected to Slack in Socket Mode");
        Ok(SocketMode { listener })
    }

    pub async fn stop(self) {
        self.listener.shutdown().await;
    }
}

async fn app_of(state: &SlackClientEventsUserState) -> Option<Arc<App>> {
    state.read().await.get_user_state::<Arc<App>>().cloned()
}

/// A bare acknowledgement is a success; anything else is logged and acknowledged too (Slack
/// would only deliver the same envelope again).
fn on_error(
    err: Box<dyn std::error::Error + Send + Sync + 'static>,
    _client: Arc<SlackClient<SlackConnector>>,
    _state: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    if err.downcast_ref::<BareAck>().is_none() {
        warn!(error = %err, "Socket Mode: could not handle an envelope");
    }
    axum::http::StatusCode::OK
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackClient<SlackConnector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let app = app_of(&state).await.ok_or(BareAck)?;
    let handled = app.handle_command(
        event.user_id.as_ref(),
        event.channel_id.as_ref(),
        event.text.as_deref().unwrap_or(""),
        event.trigger_id.as_ref(),
    );
    let reply = handled.instrument(envelope_span("command")).await;
    // A form was opened: nothing else to show.
    let reply = reply.ok_or(BareAck)?;
    let content = crate::slack::client::content(&reply)?;
    Ok(SlackCommandEventResponse::new(content)
        .with_response_type(SlackMessageResponseType::Ephemeral))
}

/// What an HTTP request's span is to the routes (`http::request_span`), for an envelope: every
/// log line of its handling, and of the work it sets off, carries its `request_id`.
fn envelope_span(envelope: &'static str) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %crate::http::new_request_id(),
        envelope,
    )
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackClient<SlackConnector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let app = app_of(&state).await.ok_or(BareAck)?;
    let span = envelope_span("interaction");
    match interaction::from_event(event)? {
        Interaction::Click {
            user,
            channel,
            click,
        } => {
            span.in_scope(|| app.spawn_click(click, user, channel));
            Ok(SlackInteractionResponse::Empty)
        }
        Interaction::Form { user, form } => {
            let errors = app.handle_form(&user, form).instrument(span).await;
            if errors.is_empty() {
                return Ok(SlackInteractionResponse::Empty);
            }
            Ok(SlackInteractionResponse::ViewSubmission(
                SlackViewSubmissionResponse::Errors(SlackViewSubmissionErrorsResponse::new(errors)),
            ))
        }
        Interaction::Ignored => Ok(SlackInteractionResponse::Empty),
    }
}

async fn on_push_event(
    event: SlackPushEventCallback,
    _client: Arc<SlackClient<SlackConnector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let app = app_of(&state).await.ok_or(BareAck)?;
    let _entered = envelope_span("event").entered();
    crate::slack::events::handle(&app, event.event);
    Ok(())
}
