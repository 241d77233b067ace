//! Posts the digest to the audit channel on a `cron` schedule (seconds first, UTC), timed by
//! the application's clock.

use std::sync::Arc;

use tracing::error;

use crate::app::App;

/// 09:00 UTC every day.
pub const DEFAULT_SCHEDULE: &str = "0 0 9 * * *";

/// The digest's schedule; `off` for none.
pub fn parse_schedule(expression: &str) -> Result<Option<cron::Schedule>, String> {
    if expression.trim() == "off" {
        return Ok(None);
    }
    crate::cron_job::parse(expression, "`0 0 9 * * *` for 09:00 UTC daily, or `off`").map(Some)
}

/// Posts digests forever from `first` (fixed by the caller when the server starts).
pub async fn run(
    app: Arc<App>,
    schedule: cron::Schedule,
    first: Option<chrono::DateTime<chrono::Utc>>,
) {
    let clock = Arc::clone(app.clock());
    crate::cron_job::run(clock, schedule, first, "digest", || async {
        if let Err(e) = app.post_digest().await {
            error!(error = %e, "could not post the digest");
        }
    })
    .await;
}
