//! Acts on every grant's next deadline (review timeout, reminder, expiry) at its exact time, and
//! retries effects that failed, using the store's deadline index as the timer queue so a restart
//! loses nothing. Effects run in background tasks, so one slow grant never delays another.

use std::sync::Arc;

use tracing::error;

use crate::app::App;

/// How long a failed effect (Slack or Kubernetes unavailable) waits before it is tried again,
/// and how long the scheduler pauses after it could not read the store.
pub const RETRY_INTERVAL: chrono::Duration = chrono::Duration::seconds(30);

pub async fn run(app: Arc<App>) {
    let mut next_retry = app.now() + RETRY_INTERVAL;
    loop {
        let mut healthy = true;
        // Deadlines after this moment may not have been seen by the pass, even if the clock has
        // passed them by the time it ends.
        let pass_at = app.now();
        if let Err(e) = app.tick_due().await {
            error!(error = %e, "deadline pass failed");
            healthy = false;
        }
        if app.now() >= next_retry {
            if let Err(e) = app.resume().await {
                error!(error = %e, "retry pass failed");
            }
            next_retry = app.now() + RETRY_INTERVAL;
        }
        let next_deadline = match app.next_deadline().await {
            Ok(next) => next,
            Err(e) => {
                error!(error = %e, "cannot read the deadline queue");
                healthy = false;
                None
            }
        };
        // After a failure, or when a deadline the pass saw is still there (an unreadable record,
        // a grant busy elsewhere), wait for the retry instead of spinning on it. One that fell
        // due while the pass ran is handled at once.
        let wake_at = match next_deadline {
            Some(at) if healthy && at > pass_at => at.min(next_retry),
            _ => next_retry,
        };
        tokio::select! {
            _ = app.clock().sleep_until(wake_at) => {}
            _ = app.scheduler_wake.notified() => {}
        }
    }
}
