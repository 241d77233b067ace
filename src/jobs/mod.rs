//! The bot's own clockwork: each grant's deadlines at their exact time, the cron-scheduled
//! reconcile pass and digest, the SIEM webhook and the activity reports, run by the one replica
//! that leads (see `leader`).

pub mod cron;
pub mod deadlines;
pub mod digest;
pub mod leader;
pub mod reconcile;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::app::App;
use crate::audit::siem::WebhookSink;
use crate::config::{Config, schedule};
use cron::Timetable;
use leader::Leadership;

/// The background work beside serving: deadlines, the reconcile pass, the digest, the SIEM
/// webhook and the session-activity reports.
pub struct Jobs {
    deadlines: JoinHandle<()>,
    reconcile: JoinHandle<()>,
    /// The digest, the SIEM webhook and the activity reports, when configured.
    audit: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Checks the schedules before anything starts: a bad one stops the server at start-up.
    pub fn check(config: &Config) -> anyhow::Result<()> {
        schedule::parse_reconcile(&config.kubernetes.reconcile_schedule)
            .map_err(|e| anyhow::anyhow!("kubernetes.reconcile_schedule: {e}"))?;
        schedule::parse_digest(&config.audit.digest_schedule)
            .map_err(|e| anyhow::anyhow!("audit.digest_schedule: {e}"))?;
        Ok(())
    }

    /// Starts the work; the scheduled passes are first due at their next time after `since`.
    pub fn start(
        app: &Arc<App>,
        config: &Config,
        siem: Option<WebhookSink>,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Jobs> {
        let deadlines = tokio::spawn(deadlines::run(Arc::clone(app)));
        let schedule = schedule::parse_reconcile(&config.kubernetes.reconcile_schedule)
            .map_err(|e| anyhow::anyhow!("kubernetes.reconcile_schedule: {e}"))?;
        let timetable = Timetable::starting(schedule, since);
        let reconcile = tokio::spawn(reconcile::run(Arc::clone(app), timetable));
        let mut audit = Vec::new();
        let digest_schedule = schedule::parse_digest(&config.audit.digest_schedule)
            .map_err(|e| anyhow::anyhow!("audit.digest_schedule: {e}"))?;
        if let Some(schedule) = digest_schedule {
            let timetable = Timetable::starting(schedule, since);
            audit.push(tokio::spawn(digest::run(Arc::clone(app), timetable)));
        }
        if let Some(sink) = siem {
            audit.push(tokio::spawn(sink.run()));
        }
        if app.session_activity_enabled() {
            audit.push(tokio::spawn(crate::app::report_activity_until_stopped(
                Arc::clone(app),
            )));
        }
        Ok(Jobs {
            deadlines,
            reconcile,
            audit,
        })
    }

    pub async fn stop(self) {
        self.deadlines.abort();
        self.reconcile.abort();
        let _ = self.deadlines.await;
        let _ = self.reconcile.await;
        // An entry whose delivery is cut off here was not counted as delivered: it is sent again.
        for task in self.audit {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Runs the background work whenever this replica leads, until `stop` is cancelled: on taking
/// the lead it first carries out effects left over (by a replica that died, or by the last run),
/// and when the lead is lost it stops the work for the next leader. The only process on its
/// store leads from `started_at` (the scheduled passes count from the server's start, however
/// late this task first runs); a replica, from the moment it takes the lead.
pub async fn lead(
    app: Arc<App>,
    config: Config,
    siem: Option<WebhookSink>,
    leadership: Leadership,
    started_at: DateTime<Utc>,
    stop: CancellationToken,
) {
    let mut first = true;
    loop {
        let mut lead = tokio::select! {
            lead = leadership.acquire() => lead,
            _ = stop.cancelled() => return,
        };
        if let Err(e) = app.resume().await {
            error!(error = %e, "cannot resume the effects left over; the deadline pass tries again");
        }
        let since = match (&leadership, first) {
            (Leadership::Alone, true) => started_at,
            _ => app.now(),
        };
        first = false;
        let jobs = match Jobs::start(&app, &config, siem.clone(), since) {
            Ok(jobs) => jobs,
            Err(e) => {
                // Checked at start-up (`Jobs::check`), so this cannot happen; never spin on it.
                error!(error = %e, "cannot start the background work");
                return;
            }
        };
        let stopping = tokio::select! {
            _ = lead.lost() => false,
            _ = stop.cancelled() => true,
        };
        if !stopping {
            warn!("no longer leading: stopping the background work");
        }
        jobs.stop().await;
        if stopping {
            return;
        }
    }
}
