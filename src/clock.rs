//! Time as a dependency, so every flow can run in tests without waiting for real time.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Returns once `now() >= deadline`.
    async fn sleep_until(&self, deadline: DateTime<Utc>);
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

/// Long sleeps are cut into slices so a wall-clock jump (NTP, suspend) is noticed soon.
const MAX_SLICE: std::time::Duration = std::time::Duration::from_secs(30);

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        loop {
            let Ok(left) = (deadline - Utc::now()).to_std() else {
                return;
            };
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(MAX_SLICE)).await;
        }
    }
}

/// A clock that moves only when told to; sleepers wake as soon as it passes their deadline.
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(ManualClock {
            now: watch::Sender::new(start),
        })
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.now.send_modify(|now| *now += by);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut rx = self.now.subscribe();
        // The sender lives as long as `self`, so this only ends when the deadline is reached.
        let _ = rx.wait_for(|now| *now >= deadline).await;
    }
}

/// A clock that runs `speed` times faster than real time from when it is made (`prod-access
/// demo`: a 20-minute grant expires in seconds).
pub struct AcceleratedClock {
    started: std::time::Instant,
    start: DateTime<Utc>,
    speed: f64,
}

impl AcceleratedClock {
    pub fn new(start: DateTime<Utc>, speed: f64) -> Arc<Self> {
        Arc::new(AcceleratedClock {
            started: std::time::Instant::now(),
            start,
            speed: speed.max(f64::MIN_POSITIVE),
        })
    }
}

#[async_trait]
impl Clock for AcceleratedClock {
    fn now(&self) -> DateTime<Utc> {
        let simulated = self.started.elapsed().as_secs_f64() * self.speed;
        let simulated = chrono::Duration::milliseconds((simulated * 1000.0) as i64);
        self.start + simulated
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        loop {
            let Ok(left) = (deadline - self.now()).to_std() else {
                return;
            };
            if left.is_zero() {
                return;
            }
            let real = left
                .div_f64(self.speed)
                .max(std::time::Duration::from_millis(1));
            tokio::time::sleep(real.min(MAX_SLICE)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_advanced_past_their_deadline() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(start + chrono::Duration::hours(2)).await })
        };
        clock.advance(chrono::Duration::hours(1));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::Duration::hours(1));
        tokio::time::timeout(std::time::Duration::from_secs(5), sleeper)
            .await
            .expect("sleeper woke")
            .unwrap();
    }

    #[tokio::test]
    async fn an_accelerated_clock_runs_faster_and_wakes_sleepers_at_their_simulated_time() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = AcceleratedClock::new(start, 3600.0);
        // An hour of simulated time is a second of real time.
        let deadline = start + chrono::Duration::minutes(6);
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            clock.sleep_until(deadline),
        )
        .await
        .expect("woke within real seconds");
        assert!(clock.now() >= deadline);
    }
}
