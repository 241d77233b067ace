//! One async lock per grant, so clicks, deadlines, outbox runs and repairs on the same grant
//! never interleave; locks of grants nobody works on are dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// The locks by grant id, held weakly.
#[derive(Default)]
pub(super) struct GrantLocks(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

impl GrantLocks {
    pub(super) fn get(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        locks.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id.to_string(), Arc::downgrade(&lock));
        lock
    }
}
