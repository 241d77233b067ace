//! `prod-access demo` plays the whole lifecycle against the built-in fakes and prints it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_plays_the_whole_lifecycle_and_verifies_the_audit_log() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut out = Vec::new();
    prod_access::cli::demo::run(1000.0, &mut out).await.unwrap();
    let transcript = String::from_utf8(out).unwrap();
    for phrase in [
        "alice: /prod-access edit payments 20m INC-123",
        "was sent for approval to @bob",
        "bob: clicks Approve",
        "kind: RoleBinding",
        "name: oidc:alice@example.com",
        "expires",
        "Kubernetes activity of @alice",
        "exec into payments/payments-worker-7f9c",
        "has expired and was removed",
        "Session summary",
        "Still open",
        "Left behind",
        "high risk: token for ServiceAccount payments/payments-debug (create \
         serviceaccounts/token, still there)",
        "exec into payments/payments-api-5d4b (container api)",
        "kubectl delete pod payments-api-5d4b -n payments",
        "verified: no longer allowed",
        "bob: /prod-access revoke",
        "deleted",
        "revoked",
        "session_activity",
        "session_summary",
        "#15 revoked    bob",
        "#10 streams_still_open",
        "#11 leftovers",
        "audit log intact: 16 entries",
    ] {
        assert!(
            transcript.contains(phrase),
            "missing {phrase:?} in:\n{transcript}"
        );
    }
}

#[tokio::test]
async fn the_demo_refuses_a_speed_slower_than_real_time() {
    let mut out = Vec::new();
    let error = prod_access::cli::demo::run(0.5, &mut out)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("--speed must be at least 1"),
        "{error}"
    );
}
