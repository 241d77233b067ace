//! Posts the digest to the audit channel on a `cron` schedule (seconds first, UTC), timed by
//! the application's clock.

use std::str::FromStr;
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
    cron::Schedule::from_str(expression).map(Some).map_err(|e| {
        format!("`{expression}` is not a cron schedule ({e}); write seconds first, e.g. `0 0 9 * * *` for 09:00 UTC daily, or `off`")
    })
}

/// Posts digests forever; the first run time is fixed by the caller when the server starts.
pub async fn run(
    app: Arc<App>,
    schedule: cron::Schedule,
    first: Option<chrono::DateTime<chrono::Utc>>,
) {
    let mut next = first;
    while let Some(at) = next {
        app.clock().sleep_until(at).await;
        next = schedule.after(&app.now()).next();
        if let Err(e) = app.post_digest().await {
            error!(error = %e, "could not post the digest");
        }
    }
    error!("the digest schedule has no next run; no more digests");
}
