//! Posts the digest to the audit channel on a `cron` schedule (seconds first, UTC), timed by
//! the application's clock.

use std::sync::Arc;

use tracing::error;

use crate::app::App;
use crate::jobs::cron::Timetable;

/// Posts digests forever, at the times of `timetable`.
pub async fn run(app: Arc<App>, timetable: Timetable) {
    let clock = Arc::clone(app.clock());
    crate::jobs::cron::run(clock, timetable, "digest", || async {
        if let Err(e) = app.post_digest().await {
            error!(error = %e, "could not post the digest");
        }
    })
    .await;
}
