//! Runs the reconcile pass, and the check for requesters who left, on a `cron` schedule
//! (seconds first, e.g. `0 * * * * *`: every minute), timed by the application's clock.

use std::sync::Arc;

use tracing::{error, info};

use crate::app::App;
use crate::jobs::cron::Timetable;

/// Runs passes forever, at the times of `timetable`.
pub async fn run(app: Arc<App>, timetable: Timetable) {
    let clock = Arc::clone(app.clock());
    crate::jobs::cron::run(clock, timetable, "reconcile", || async {
        match app.reconcile_once().await {
            Ok(report) if report.deleted + report.rebound + report.failed > 0 => {
                info!(?report, "reconcile pass repaired drift")
            }
            Ok(_) => {}
            Err(e) => error!(error = %e, "reconcile pass failed"),
        }
        // In the background: its chat lookups must never hold up the next reconcile pass.
        app.spawn_check_requesters();
    })
    .await;
}
