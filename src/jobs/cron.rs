//! Work that runs on a `cron` schedule (seconds first, UTC), timed by the application's clock:
//! the reconcile pass and the digest.

use std::future::Future;

use chrono::{DateTime, Utc};
use tracing::error;

use crate::clock::SharedClock;

/// A schedule and its first run time, fixed when the server starts: a run is due at that
/// moment however late the job's task is first polled.
pub struct Timetable {
    schedule: cron::Schedule,
    first: Option<DateTime<Utc>>,
}

impl Timetable {
    /// `schedule`, first due at its next time after `now`.
    pub fn starting(schedule: cron::Schedule, now: DateTime<Utc>) -> Timetable {
        let first = schedule.after(&now).next();
        Timetable { schedule, first }
    }
}

/// Runs `job` at every time of `timetable`, forever; times missed while the clock jumped are
/// not replayed.
pub async fn run<F, Fut>(clock: SharedClock, timetable: Timetable, name: &str, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut next = timetable.first;
    while let Some(at) = next {
        clock.sleep_until(at).await;
        next = timetable.schedule.after(&clock.now()).next();
        job().await;
    }
    error!(job = name, "the schedule has no next run; the job stops");
}
