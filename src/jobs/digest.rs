//! Posts the digest to the audit channel on a `cron` schedule (seconds first, UTC), timed by
//! the application's clock.

use std::sync::Arc;

use tracing::error;

use crate::app::App;

/// Posts digests forever from `first` (fixed by the caller when the server starts).
pub async fn run(
    app: Arc<App>,
    schedule: cron::Schedule,
    first: Option<chrono::DateTime<chrono::Utc>>,
) {
    let clock = Arc::clone(app.clock());
    crate::jobs::cron::run(clock, schedule, first, "digest", || async {
        if let Err(e) = app.post_digest().await {
            error!(error = %e, "could not post the digest");
        }
    })
    .await;
}
