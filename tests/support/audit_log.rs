//! The stopped bot's audit log, read in the store and through the `prod-access audit` command.

use std::path::Path;
use std::process::Command;

use prod_access::domain::audit::AuditEntry;
use prod_access::store::{AuditLog, SledStore};

/// The stopped bot's audit log, entry by entry. sled keeps its file lock a moment after the
/// last handle is dropped (longer after Socket Mode), so this waits for it as the bot's own
/// open does.
pub async fn audit_entries(store: &Path) -> Vec<AuditEntry> {
    let mut opened = SledStore::open(store);
    for _ in 0..60 {
        if opened.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        opened = SledStore::open(store);
    }
    let store = opened.unwrap();
    store
        .entries_after(0, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_value(e.json).unwrap())
        .collect()
}

/// The kind of each entry, oldest first.
pub fn audit_kinds(entries: &[AuditEntry]) -> Vec<&'static str> {
    entries.iter().map(|e| e.event.kind.as_str()).collect()
}

/// `prod-access audit <args> --store <store>`: exit success, stdout, stderr.
pub fn audit_command(store: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .arg("audit")
        .args(args)
        .arg("--store")
        .arg(store)
        .env_remove("PROD_ACCESS_CONFIG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
