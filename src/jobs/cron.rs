//! Work that runs on a `cron` schedule (seconds first, UTC), timed by the application's clock:
//! the reconcile pass and the digest.

use std::future::Future;

use chrono::{DateTime, Utc};
use tracing::error;

use crate::clock::SharedClock;

/// Runs `job` at every time of `schedule` from `first` on, forever. The first run time is fixed
/// by the caller when the server starts, so a run is due at that moment however late this task
/// is first polled; times missed while the clock jumped are not replayed.
pub async fn run<F, Fut>(
    clock: SharedClock,
    schedule: cron::Schedule,
    first: Option<DateTime<Utc>>,
    name: &str,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut next = first;
    while let Some(at) = next {
        clock.sleep_until(at).await;
        next = schedule.after(&clock.now()).next();
        job().await;
    }
    error!(job = name, "the schedule has no next run; the job stops");
}
