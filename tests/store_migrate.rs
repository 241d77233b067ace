//! `prod-access store migrate`, the real binary: a bot's sled store, after a grant's lifecycle,
//! moved into a real PostgreSQL (a throwaway server; skipped, loudly, where none can run). The
//! audit log verifies there with the same head; a second run into the same database is refused.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};

use prod_access::store::postgres::local::LocalPostgres;
use support::*;

fn prod_access(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap()
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A configuration on the PostgreSQL store (nothing else of it is used by `audit verify`).
fn postgres_config(dir: &Path) -> std::path::PathBuf {
    let yaml = slack_basics("127.0.0.1:0", Path::new("unused"), "http://127.0.0.1:9/api").replace(
        "store_path: unused\n",
        "store: { postgres: { url_env: DATABASE_URL } }\n",
    ) + &format!(
        "policy:\n  approvers: [{BOB}]\n  roles:\n    edit: {{ cluster_role: edit, namespaces: [payments], max_duration: 1h }}\n"
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bots_sled_store_moves_to_postgres_and_its_audit_log_verifies_there_the_same() {
    let Some(postgres) = LocalPostgres::for_tests().await else {
        return;
    };
    let mut h = Harness::start().await;
    h.approved_grant("edit payments 1h moving house").await;
    h.stop().await;
    let store = h.store_path().to_str().unwrap().to_string();
    let url = postgres.new_database().await.unwrap();

    let before = prod_access(&["audit", "verify", "--store", &store], &url);
    assert!(before.status.success(), "{}", said(&before));
    let head = said(&before)
        .split("last entry ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();

    let moved = prod_access(&["store", "migrate", "--from", &store], &url);
    assert!(moved.status.success(), "{}", said(&moved));
    assert!(said(&moved).contains("copied 1 grants"), "{}", said(&moved));

    let dir = tempfile::tempdir().unwrap();
    let config = postgres_config(dir.path());
    let after = prod_access(
        &["audit", "verify", "--config", config.to_str().unwrap()],
        &url,
    );
    assert!(after.status.success(), "{}", said(&after));
    assert!(
        said(&after).contains(&head),
        "the same head ({head}) after: {}",
        said(&after)
    );

    let again = prod_access(&["store", "migrate", "--from", &store], &url);
    assert!(!again.status.success());
    assert!(said(&again).contains("not empty"), "{}", said(&again));
}
