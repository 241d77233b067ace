//! Requests typed in an incident channel are decided in it (unless their role has its own
//! approvals channel): the channel, how it counts as an incident's, and its incident are worked
//! out when the request is made.

use std::time::Duration;

use tracing::warn;

use super::App;
use crate::domain::incident::{IncidentContext, NotAnIncident};

/// How long a request waits for the channel's name and topic (Slack wants its answer in 3 s).
const CHANNEL_LOOKUP_WAIT: Duration = Duration::from_millis(1500);

impl App {
    /// The incident context of a request with `reason` typed in `channel`, or why the channel is
    /// no incident channel. A channel that cannot be looked up now counts only if it is listed
    /// by ID (the request goes to the approvals channel), never the other way round.
    pub(super) async fn incident_context(
        &self,
        channel: &str,
        reason: &str,
    ) -> Result<IncidentContext, NotAnIncident> {
        let incidents = &self.policy.incidents;
        if incidents.is_empty() || channel.is_empty() {
            return Err(NotAnIncident::Ordinary);
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
        incidents.context(channel, &info, reason, self.now())
    }
}
