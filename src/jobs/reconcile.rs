//! Runs the reconcile pass, and the check for requesters who left, on a `cron` schedule
//! (seconds first, e.g. `0 * * * * *`: every minute), timed by the application's clock.

use std::sync::Arc;

use tracing::{error, info};

use crate::app::App;

/// Runs passes forever from `first` (fixed by the caller when the server starts).
pub async fn run(
    app: Arc<App>,
    schedule: cron::Schedule,
    first: Option<chrono::DateTime<chrono::Utc>>,
) {
    let clock = Arc::clone(app.clock());
    crate::jobs::cron::run(clock, schedule, first, "reconcile", || async {
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
