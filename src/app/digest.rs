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
        let mut digest = Digest::of(&entries, &open, &unreviewed, chain, since, until);
        self.leave_out_settled(&mut digest).await;
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

    /// Leaves out of the digest the leftovers and streams approvers have handled since the
    /// summary reported them. One that cannot be read stays listed.
    async fn leave_out_settled(&self, digest: &mut Digest) {
        let mut settled = Vec::new();
        for (i, end) in digest.unproven.iter().enumerate() {
            if !matches!(end.kind, "leftovers" | "streams_still_open") {
                continue;
            }
            let report = match self.adapters.activity.activity(&end.id).await {
                Ok(record) => record.and_then(|r| r.end_report),
                Err(e) => {
                    tracing::warn!(grant = %end.id, error = %e, "cannot read what approvers handled; the digest lists it all");
                    None
                }
            };
            if report.is_some_and(|report| end.settled_by(&report)) {
                settled.push(i);
            }
        }
        for i in settled.into_iter().rev() {
            digest.unproven.remove(i);
        }
    }
}
