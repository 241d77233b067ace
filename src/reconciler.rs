//! Runs the reconcile pass on a `cron` schedule (seconds first, e.g. `0 * * * * *`: every
//! minute), timed by the application's clock.

use std::str::FromStr;
use std::sync::Arc;

use tracing::{error, info};

use crate::app::App;

pub const DEFAULT_SCHEDULE: &str = "0 * * * * *";

pub fn parse_schedule(expression: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expression).map_err(|e| {
        format!("`{expression}` is not a cron schedule ({e}); write seconds first, e.g. `0 * * * * *` for every minute")
    })
}

/// Runs passes forever. The first run time is fixed by the caller when the server starts, so a
/// pass is due at that moment however late this task is first polled.
pub async fn run(
    app: Arc<App>,
    schedule: cron::Schedule,
    first: Option<chrono::DateTime<chrono::Utc>>,
) {
    let mut next = first;
    loop {
        let Some(at) = next else {
            error!("the reconcile schedule has no next run; the reconciler stops");
            return;
        };
        app.clock().sleep_until(at).await;
        // Fixed on waking, before the pass: slots missed while the clock jumped are not replayed.
        next = schedule.after(&app.now()).next();
        match app.reconcile_once().await {
            Ok(report) if report.deleted + report.rebound + report.failed > 0 => {
                info!(?report, "reconcile pass repaired drift")
            }
            Ok(_) => {}
            Err(e) => error!(error = %e, "reconcile pass failed"),
        }
    }
}
