//! What only the sled store has: one process at a time. (What every backend does is in
//! `store::contract`.)

use super::*;

/// A new store in a directory of its own, which lasts as long as the returned guard.
pub(in crate::store) fn fresh_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_store_in_use_is_refused_with_what_to_do_about_it() {
    let dir = tempfile::tempdir().unwrap();
    let _running = SledStore::open(dir.path()).unwrap();
    let Err(StoreError::Backend(message)) = SledStore::open(dir.path()) else {
        panic!("a second open of a store in use must fail");
    };
    assert!(
        message.contains("another prod-access process has it open"),
        "{message}"
    );
}
