//! Who may work on a grant at the same time, and why removing access never waits for chat.
//!
//! Each grant has two locks, both held only in this process and dropped when nobody uses them:
//! - its **state lock**, held to read the grant, decide and write it back (so every write is a
//!   compare-and-swap that cannot lose an update), and around each Kubernetes call made for it
//!   together with the write that records the call's result. A Kubernetes effect is carried out
//!   only if, read again under this lock, it is still in the outbox: a binding is never created
//!   or moved after a decision to end it was written, and no Kubernetes effect runs twice. No
//!   chat call is ever made while it is held.
//! - its **outbox lock**, held by the one task carrying out the grant's outbox, so a message is
//!   never posted twice by two runs. Chat calls are made under it and may take as long as the
//!   chat client's timeout; removing access never takes it.
//!
//! Ending access therefore goes: the transition (expiry, revocation, failed bind) is decided and
//! persisted under the state lock, with `Unbind` in the outbox; a task takes the state lock
//! again at once, deletes the binding and records `Unbind` done; only then does it queue for the
//! outbox lock to announce it. The outbox run never carries out an effect standing after a
//! pending `Unbind`, so nothing says "removed" before it is. A crash at any point leaves the
//! persisted outbox to `resume`: the `Unbind` runs again (a binding already gone counts as
//! deleted), and so do chat effects not yet recorded as done.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// The locks of one kind by grant id, held weakly.
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
