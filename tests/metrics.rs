//! `GET /metrics` as Prometheus scrapes it, parsed by a Prometheus text parser, as the story goes:
//! request, approval, binding, expiry; and a removal that keeps failing shows.

use crate::support;

use chrono::Duration;
use prod_access::clock::Clock;
use prometheus_parse::{Scrape, Value};
use support::session_activity::*;
use support::*;

/// A scrape as curl or promtool makes it (the classic Prometheus text format), parsed.
async fn scrape(h: &Harness) -> (String, Scrape) {
    let answer = reqwest::get(h.bot.url("/metrics")).await.unwrap();
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = answer.text().await.unwrap();
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    (text, parsed)
}

/// What Prometheus gets, asking for OpenMetrics as it does.
async fn scrape_as_prometheus(h: &Harness) -> String {
    let answer = reqwest::Client::new()
        .get(h.bot.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .send()
        .await
        .unwrap();
    let content_type = answer.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    answer.text().await.unwrap()
}

/// The value of `metric`'s sample whose labels include `labels` (0 when there is none).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

fn events(scrape: &Scrape, kind: &str) -> f64 {
    let labels = [("kind", kind), ("role", "edit"), ("cluster", "default")];
    value(scrape, "prod_access_audit_events_total", &labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counters_and_histograms_follow_a_grant_from_request_to_expiry() {
    let h = Harness::start().await;
    let (_, before) = scrape(&h).await;
    assert_eq!(events(&before, "requested"), 0.0);
    // What the alerts watch with increase() is there at 0 from the start, so the first event
    // shows as an increase.
    let watched = |kind| {
        before.samples.iter().any(|s| {
            s.metric == "prod_access_audit_events_total"
                && s.labels.get("kind") == Some(kind)
                && s.labels.get("role") == Some("edit")
                && s.labels.get("cluster") == Some("default")
        })
    };
    assert!(watched("access_not_ended") && watched("revocation_unverified"));
    let unbind_failures = before.samples.iter().any(|s| {
        s.metric == "prod_access_effect_failures_total" && s.labels.get("effect") == Some("unbind")
    });
    assert!(unbind_failures);

    let grant = h
        .request(ALICE, "edit payments 2h fixing stuck queue")
        .await;
    let (_, requested) = scrape(&h).await;
    assert_eq!(events(&requested, "requested"), 1.0);
    assert_eq!(
        value(&requested, "prod_access_grants", &[("state", "requested")]),
        1.0
    );

    h.clock.advance(Duration::minutes(4));
    h.click(BOB, "approve", &grant).await;
    h.kube.until_bound().await;
    assert_says(&h.next_audit().await, "requested");
    assert_says(&h.next_audit().await, "Access granted");
    let (_, granted) = scrape(&h).await;
    assert_eq!(events(&granted, "approval"), 1.0);
    assert_eq!(events(&granted, "granted"), 1.0);
    assert_eq!(
        value(&granted, "prod_access_grants", &[("state", "active")]),
        1.0
    );
    assert_eq!(
        value(&granted, "prod_access_grants", &[("state", "requested")]),
        0.0
    );
    let edit = [("role", "edit"), ("cluster", "default")];
    assert_eq!(
        value(&granted, "prod_access_decision_seconds", &edit),
        1.0,
        "one decision"
    );
    assert_eq!(
        value(&granted, "prod_access_approval_to_binding_seconds", &edit),
        1.0
    );

    h.clock.advance(Duration::hours(2));
    assert_says(&h.next_audit().await, "expired and was removed");
    let (text, expired) = scrape(&h).await;
    let openmetrics = scrape_as_prometheus(&h).await;
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(
        openmetrics.contains("prod_access_audit_events_total{"),
        "{openmetrics}"
    );
    assert_eq!(events(&expired, "expired"), 1.0);
    assert_eq!(
        value(&expired, "prod_access_revocation_lag_seconds", &edit),
        1.0
    );
    assert_eq!(
        value(&expired, "prod_access_grants", &[("state", "active")]),
        0.0
    );
    assert_eq!(value(&expired, "prod_access_revocations_overdue", &[]), 0.0);
    let kube = "prod_access_kubernetes_calls_total";
    let bind = [
        ("cluster", "default"),
        ("operation", "bind"),
        ("result", "ok"),
    ];
    assert_eq!(value(&expired, kube, &bind), 1.0);
    let unbind = [
        ("cluster", "default"),
        ("operation", "unbind"),
        ("result", "ok"),
    ];
    assert_eq!(value(&expired, kube, &unbind), 1.0);
    let posts = [("operation", "post"), ("result", "ok")];
    assert!(value(&expired, "prod_access_chat_calls_total", &posts) >= 3.0);
    let timed = [("operation", "bind")];
    assert_eq!(
        value(&expired, "prod_access_kubernetes_call_seconds", &timed),
        1.0
    );
    let replaced = [("operation", "replace"), ("result", "ok")];
    assert!(value(&expired, "prod_access_store_calls_total", &replaced) >= 3.0);
    let inserted = [("operation", "insert"), ("result", "ok")];
    assert_eq!(
        value(&expired, "prod_access_store_calls_total", &inserted),
        1.0
    );
    assert!(
        value(
            &expired,
            "prod_access_store_call_seconds",
            &[("operation", "replace")]
        ) >= 3.0
    );
    let seen = [("operation", "first_sighting"), ("result", "ok")];
    assert!(value(&expired, "prod_access_store_calls_total", &seen) >= 2.0);
    assert!(value(&expired, "process_resident_memory_bytes", &[]) > 0.0);
    let build = expired
        .samples
        .iter()
        .find(|s| s.metric == "prod_access_build_info")
        .expect("build_info");
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    let commit = build.labels.get("commit").unwrap_or_default();
    assert!(!commit.is_empty(), "{:?}", build.labels);
    assert!(value(&expired, "process_open_fds", &[]) > 0.0);
    assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    for personal in [grant.as_str(), ALICE, BOB, "alice@", "stuck queue"] {
        assert!(
            !text.contains(personal),
            "{personal} in the metrics:\n{text}"
        );
    } // For `promtool check metrics` in CI (.ci/run): a scrape with every kind of sample.
    let scrape_file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-scrape.txt");
    std::fs::write(scrape_file, &text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_that_keeps_failing_shows_as_overdue_and_failing() {
    let h = Harness::start().await;
    let grant = h.request(ALICE, "edit payments 1h INC-7").await;
    h.click(BOB, "approve", &grant).await;
    h.kube.until_bound().await;

    h.kube.set_failing(true);
    h.clock.advance(Duration::hours(1));
    h.kube
        .wait_until("the removal was tried", |k| {
            !k.calls_of("DELETE").is_empty()
        })
        .await;
    let (_, failing) = scrape(&h).await;
    assert_eq!(value(&failing, "prod_access_revocations_overdue", &[]), 1.0);
    assert!(
        value(
            &failing,
            "prod_access_effect_failures_total",
            &[("effect", "unbind")]
        ) >= 1.0
    );
    let failed = [("operation", "unbind"), ("result", "unavailable")];
    assert!(value(&failing, "prod_access_kubernetes_calls_total", &failed) >= 1.0);

    h.kube.set_failing(false);
    h.clock.advance(Duration::minutes(5));
    while !h
        .next_audit()
        .await
        .text()
        .contains("expired and was removed")
    {}
    let (_, recovered) = scrape(&h).await;
    assert_eq!(
        value(&recovered, "prod_access_revocations_overdue", &[]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_the_cluster_refuses_for_good_is_counted_as_given_up() {
    let h = Harness::start().await;
    h.kube.remove_namespace("payments");
    let grant = h.request(ALICE, "edit payments 1h INC-8").await;
    assert_says(&h.next_audit().await, "requested");
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_audit().await, "could not be created");
    let (_, failed) = scrape(&h).await;
    let bind = [("effect", "bind")];
    assert_eq!(
        value(&failed, "prod_access_effect_give_ups_total", &bind),
        1.0
    );
    let unbind = [("effect", "unbind")];
    assert_eq!(
        value(&failed, "prod_access_effect_give_ups_total", &unbind),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_audit_entry_shows_as_a_broken_chain() {
    let mut h = Harness::start().await;
    let grant = h.request(ALICE, "edit payments 1h INC-3 deploy").await;
    h.click(BOB, "approve", &grant).await;
    h.kube.until_bound().await;
    h.settle().await;
    let (_, before) = scrape(&h).await;
    assert_eq!(value(&before, "prod_access_audit_chain_intact", &[]), 1.0);
    assert!(value(&before, "prod_access_audit_entries", &[]) >= 3.0);

    h.stop().await;
    credit_entry_2_to_carol(h.store_path());
    h.restart().await;
    let (_, after) = scrape(&h).await;
    assert_eq!(value(&after, "prod_access_audit_chain_intact", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_the_siem_webhook_has_not_taken_are_its_backlog() {
    // Nothing listens there: every delivery fails and the entries wait in the store.
    let h = Harness::start_with_webhook("http://127.0.0.1:9/siem").await;
    let (_, empty) = scrape(&h).await;
    assert_eq!(
        value(&empty, "prod_access_audit_webhook_undelivered", &[]),
        0.0
    );
    h.request(ALICE, "edit payments 1h INC-8").await;
    h.clock.advance(Duration::minutes(3));
    let (_, waiting) = scrape(&h).await;
    assert_eq!(
        value(&waiting, "prod_access_audit_webhook_undelivered", &[]),
        1.0
    );
    assert_eq!(
        value(
            &waiting,
            "prod_access_audit_webhook_oldest_undelivered_seconds",
            &[]
        ),
        180.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_by_the_reconciler_is_counted() {
    let h = Harness::start().await;
    let binding = managed_binding("prod-access-forged", "forged", "2026-11-24T09:00:00Z");
    h.kube
        .insert_binding("payments", "prod-access-forged", binding);
    h.clock.advance(Duration::seconds(61));
    assert_says(&h.next_audit().await, "belongs to no known grant");
    let (_, repaired) = scrape(&h).await;
    let drift = [("kind", "drift_repaired")];
    assert_eq!(
        value(&repaired, "prod_access_audit_events_total", &drift),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_events_are_counted_as_matched_or_dropped_and_each_batch_measured() {
    let h = Harness::start().await;
    h.approved_grant("edit payments 1h fixing stuck queue")
        .await;
    let at = h.clock.now() + Duration::minutes(1);
    // Each call is two events (received, completed): alice's are her grant's, mallory's nobody's.
    let mine = by_alice("get", "pods", at);
    let nobodys = kube_call("oidc:mallory@example.com", "get", "pods", at).in_ns("payments");
    let (status, _) = h.post_audit("", K8S_AUDIT_TOKEN, &[mine, nobodys]).await;
    assert_eq!(status, 200);
    let (_, after) = scrape(&h).await;
    let of = |result| [("cluster", "default"), ("result", result)];
    let events = "prod_access_session_events_total";
    assert_eq!(value(&after, events, &of("matched")), 2.0);
    assert_eq!(value(&after, events, &of("dropped")), 2.0);
    assert_eq!(value(&after, "prod_access_session_batch_events", &[]), 1.0);
}

/// `metrics_listen` keeps `/metrics` off the address an Ingress exposes to the chat platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_metrics_listen_the_metrics_are_served_there_and_only_there() {
    let h = Harness::start_with_config("metrics_listen: 127.0.0.1:0\n").await;
    let on_chat_address = reqwest::get(h.bot.url("/metrics")).await.unwrap();
    assert_eq!(on_chat_address.status(), 404);
    let apart = reqwest::get(h.bot.metrics_url("/metrics")).await.unwrap();
    assert_eq!(apart.status(), 200);
    let text = apart.text().await.unwrap();
    assert!(text.contains("prod_access_build_info"), "{text}");
    for elsewhere in ["/slack/commands", "/healthz", "/k8s/audit"] {
        let answer = reqwest::get(h.bot.metrics_url(elsewhere)).await.unwrap();
        assert_eq!(answer.status(), 404, "{elsewhere} on the metrics address");
    }
    let health = reqwest::get(h.bot.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}
