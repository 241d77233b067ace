//! Requests typed in an incident channel are decided in it: the channel and its incident are
//! worked out when the request is made.

use std::time::Duration;

use tracing::warn;

use super::App;
use crate::domain::incident::IncidentContext;

/// How long a request waits for the channel's name and topic (Slack wants its answer in 3 s).
const CHANNEL_LOOKUP_WAIT: Duration = Duration::from_millis(1500);

impl App {
    /// The incident context of a request with `reason` typed in `channel`, if the policy makes it
    /// an incident channel. A channel whose name cannot be looked up now is treated as an
    /// ordinary one (the request goes to the approvals channel), never the other way round.
    pub(super) async fn incident_context(
        &self,
        channel: &str,
        reason: &str,
    ) -> Option<IncidentContext> {
        let incidents = &self.policy.incidents;
        if incidents.is_empty() || channel.is_empty() {
            return None;
        }
        let lookup = self.adapters.chat.channel_info(channel);
        let info = match tokio::time::timeout(CHANNEL_LOOKUP_WAIT, lookup).await {
            Ok(Ok(info)) => info.unwrap_or_default(),
            Ok(Err(e)) => {
                warn!(channel, error = %e, "cannot look up the channel; taken as no incident channel unless listed");
                Default::default()
            }
            Err(_) => {
                warn!(
                    channel,
                    "the channel lookup took too long; taken as no incident channel unless listed"
                );
                Default::default()
            }
        };
        incidents
            .matches(channel, info.name.as_deref())
            .then(|| IncidentContext::of(channel, reason, info.topic.as_deref()))
    }
}
