//! Slack's Events API: `app_home_opened` publishes the user's Home tab. Reached by
//! `POST /slack/events` in HTTP mode and by `events_api` envelopes in Socket Mode.

use std::sync::Arc;

use slack_morphism::prelude::*;
use tracing::debug;

use crate::app::App;

/// Acts on one event; it is acknowledged at once, the work goes on in the background.
pub fn handle(app: &Arc<App>, event: SlackEventCallbackBody) {
    match event {
        SlackEventCallbackBody::AppHomeOpened(opened)
            if opened.tab.as_deref().is_none_or(|tab| tab == "home") =>
        {
            app.spawn_publish_home(opened.user.to_string());
        }
        _ => debug!("ignored an event the bot does not subscribe to"),
    }
}
