//! Slack's Events API: `app_home_opened` publishes the user's Home tab; `user_change` of an
//! account deactivated or turned guest ends its access. Reached by `POST /slack/events` in HTTP
//! mode and by `events_api` envelopes in Socket Mode.

use std::sync::Arc;

use slack_morphism::prelude::*;
use tracing::debug;

use crate::app::App;
use crate::domain::departure::Departure;

/// Acts on one event; it is acknowledged at once, the work goes on in the background.
pub fn handle(app: &Arc<App>, event: SlackEventCallbackBody) {
    match event {
        SlackEventCallbackBody::AppHomeOpened(opened)
            if opened.tab.as_deref().is_none_or(|tab| tab == "home") =>
        {
            app.spawn_publish_home(opened.user.to_string());
        }
        SlackEventCallbackBody::UserChange(change) => {
            let user = change.user;
            let flag = |f: Option<bool>| f.unwrap_or(false);
            let left = Departure::of_slack_user(
                flag(user.deleted),
                flag(user.flags.is_restricted),
                flag(user.flags.is_ultra_restricted),
            );
            if let Some(why) = left {
                app.spawn_requester_left(user.id.to_string(), why);
            }
        }
        _ => debug!("ignored an event the bot does not subscribe to"),
    }
}
