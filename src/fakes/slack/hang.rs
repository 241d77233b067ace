//! Slack on a bad day: every Web API call is read and then held open with no answer, the
//! connection staying up, until the test lets Slack answer again or the caller gives up. A call
//! counts as held for exactly as long as its connection waits: when the caller hangs up, the
//! server drops the request and it stops counting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Whether Slack hangs, and which calls it is holding open now.
#[derive(Clone)]
pub(super) struct Hang {
    hanging: Arc<watch::Sender<bool>>,
    /// Calls held open now, by method.
    held: Arc<Mutex<HashMap<String, usize>>>,
    changed: Arc<Notify>,
}

/// One call held open; it stops counting when answered or dropped.
struct Held {
    hang: Hang,
    method: String,
}

impl Hang {
    pub(super) fn new(changed: Arc<Notify>) -> Hang {
        Hang {
            hanging: Arc::new(watch::Sender::new(false)),
            held: Arc::default(),
            changed,
        }
    }

    pub(super) fn set(&self, hanging: bool) {
        self.hanging.send_replace(hanging);
    }

    /// Holds a call of `method` open while Slack hangs; returns when it may be answered.
    pub(super) async fn hold(&self, method: &str) {
        let mut released = self.hanging.subscribe();
        if !*released.borrow_and_update() {
            return;
        }
        let _held = Held::start(self, method);
        // An error means the fake itself is gone; the call may as well be answered.
        let _ = released.wait_for(|hanging| !hanging).await;
    }

    pub(super) fn held(&self, method: &str) -> usize {
        self.lock().get(method).copied().unwrap_or(0)
    }

    /// Waits until a call of `method` is held open; panics after 10 seconds.
    pub(super) async fn wait_until_held(&self, method: &str) {
        let timeout = Duration::from_secs(10);
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if self.held(method) > 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(timeout, wait).await.is_err() {
            panic!("no {method} call held open within {timeout:?}");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Held {
    fn start(hang: &Hang, method: &str) -> Held {
        *hang.lock().entry(method.to_string()).or_default() += 1;
        hang.changed.notify_waiters();
        Held {
            hang: hang.clone(),
            method: method.to_string(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(count) = self.hang.lock().get_mut(&self.method) {
            *count = count.saturating_sub(1);
        }
        self.hang.changed.notify_waiters();
    }
}
