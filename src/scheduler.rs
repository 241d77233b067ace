//! Revokes access at its exact expiry, and retries effects that failed, using the store's expiry
//! index as the timer queue so a restart loses nothing.

use std::sync::Arc;

use tracing::error;

use crate::app::App;

/// How long a failed effect (Slack or Kubernetes unavailable) waits before it is tried again.
pub const RETRY_INTERVAL: chrono::Duration = chrono::Duration::seconds(30);

pub async fn run(app: Arc<App>) {
    let mut next_retry = app.now() + RETRY_INTERVAL;
    loop {
        if let Err(e) = app.expire_due().await {
            error!(error = %e, "expiry pass failed");
        }
        if app.now() >= next_retry {
            if let Err(e) = app.resume().await {
                error!(error = %e, "retry pass failed");
            }
            next_retry = app.now() + RETRY_INTERVAL;
        }
        let next_expiry = match app.next_expiry().await {
            Ok(next) => next,
            Err(e) => {
                error!(error = %e, "cannot read the expiry queue");
                None
            }
        };
        let wake_at = next_expiry.map_or(next_retry, |at| at.min(next_retry));
        tokio::select! {
            _ = app.clock().sleep_until(wake_at) => {}
            _ = app.scheduler_wake.notified() => {}
        }
    }
}
