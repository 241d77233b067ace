//! The digest: the last day's requests from the audit log, the active grants from the store,
//! and the chain checked end to end, posted to the audit channel.

use super::{App, AppError};
use crate::chat::ChatError;
use crate::domain::digest::{ChainState, Digest};

/// The period a digest covers, back from when it is posted.
const PERIOD: chrono::Duration = chrono::Duration::hours(24);
/// Tries at posting it while Slack is unavailable, a minute apart.
const POST_ATTEMPTS: u32 = 5;

impl App {
    /// Builds the digest as of now and posts it.
    pub async fn post_digest(&self) -> Result<(), AppError> {
        let until = self.now();
        let since = until - PERIOD;
        let audit = &self.adapters.audit;
        let entries = audit.entries_since(since).await?;
        let open = self.adapters.store.open_grants().await?;
        let unreviewed = self.adapters.store.unreviewed().await?;
        let chain = crate::audit::walk_chain(audit.as_ref())
            .await
            .map_err(|e| e.to_string());
        let chain = ChainState::of(chain);
        if matches!(chain, ChainState::Broken { .. }) {
            self.chain_found_broken().await;
        }
        let digest = Digest::of(&entries, &open, &unreviewed, chain, since, until);
        let message = self.templates.digest(&digest)?;
        for attempt in 1..=POST_ATTEMPTS {
            match self
                .adapters
                .chat
                .post(&self.settings.audit_channel, &message)
                .await
            {
                Ok(_) => return Ok(()),
                Err(ChatError::Unavailable(e)) if attempt < POST_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "the chat platform is unavailable; the digest waits a minute");
                    let retry_at = self.now() + chrono::Duration::minutes(1);
                    self.clock().sleep_until(retry_at).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the digest could not be posted");
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
