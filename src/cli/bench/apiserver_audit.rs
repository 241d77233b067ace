//! Session activity throughput: how many apiserver audit events a second `POST /k8s/audit`
//! takes on one core, with the bot pinned to CPU 0 and the load generator on the others. The
//! batches are shaped as the apiserver sends them (`EventList` of 400 `ResponseComplete` events)
//! and mixed as a cluster is: most events are the control plane's and other people's, some are
//! made with active grants and are stored (with a durable flush) before each batch is answered.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Stats;
use super::child::Bot;
use super::scenarios::{Out, world};
use super::seed::{Outbox, seed};
use crate::fakes::kube::audit_events::kube_call;

const TOKEN: &str = "bench-k8s-audit-token-0123456789abcdef0123";
/// The apiserver's default `--audit-webhook-batch-max-size`.
const EVENTS_PER_BATCH: usize = 400;
/// Batches in flight at once (the apiserver's webhook backend sends several in parallel).
const SENDERS: usize = 4;
const ACTIVE_GRANTS: usize = 1_000;
/// One event in this many is made with an active grant.
const GRANTED_ONE_IN: usize = 20;

/// Request `n` of the mix, by `user`, completed at `at`.
fn event(n: usize, user: &str, at: DateTime<Utc>) -> Value {
    let call = match n % 5 {
        0 => kube_call(user, "get", "pods", at).named("api-7f9c"),
        1 => kube_call(user, "list", "pods", at),
        2 => kube_call(user, "watch", "configmaps", at),
        3 => kube_call(user, "update", "leases", at).named("kube-controller-manager"),
        _ => kube_call(user, "get", "secrets", at).named("db"),
    };
    call.in_ns("payments").event("ResponseComplete")
}

/// The `items` of `count` batches, each with a different mix of users, as JSON arrays.
fn batch_items(count: usize) -> Vec<Vec<u8>> {
    let at = Utc::now() + chrono::Duration::seconds(1);
    (0..count)
        .map(|b| {
            let items: Vec<Value> = (0..EVENTS_PER_BATCH)
                .map(|i| {
                    let n = b * EVENTS_PER_BATCH + i;
                    let user = if n.is_multiple_of(GRANTED_ONE_IN) {
                        format!(
                            "oidc:user{}@example.com",
                            (n / GRANTED_ONE_IN) % ACTIVE_GRANTS
                        )
                    } else if n.is_multiple_of(3) {
                        format!("oidc:someone{}@example.com", n % 500)
                    } else {
                        "system:serviceaccount:kube-system:replicaset-controller".to_string()
                    };
                    event(n, &user, at)
                })
                .collect();
            serde_json::to_vec(&items).expect("a batch serialises")
        })
        .collect()
}

/// Batch `n` as sent: every body differs (the bot counts a body it has already stored once).
fn body(n: usize, items: &[u8]) -> Vec<u8> {
    let head = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{"resourceVersion":"{n}"}},"items":"#
    );
    let mut body = Vec::with_capacity(head.len() + items.len() + 1);
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(items);
    body.push(b'}');
    body
}

/// Events a second the webhook takes on one core, and each batch's answer time.
pub async fn throughput(seconds: f64, out: Out<'_>) -> anyhow::Result<()> {
    let w = world("audit", 0).await?;
    seed(
        super::seed::SeedInto::Sled(&w.dir.store()),
        &w.kube,
        ACTIVE_GRANTS,
        Utc::now(),
        |_| Utc::now() + chrono::Duration::hours(8),
        Outbox::Empty,
    )
    .await?;
    let pinned = std::process::Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let env = [
        ("PROD_ACCESS_K8S_AUDIT_TOKEN", TOKEN),
        ("TOKIO_WORKER_THREADS", "1"),
    ];
    let bot = Bot::start_with(&w.dir, w.port, &env, pinned).await?;
    writeln!(
        out,
        "\n== session activity: POST /k8s/audit, {EVENTS_PER_BATCH}-event batches, {SENDERS} in flight, {ACTIVE_GRANTS} active grants, 1 event in {GRANTED_ONE_IN} theirs; bot {}",
        if pinned {
            "pinned to CPU 0 (taskset), 1 tokio worker"
        } else {
            "NOT pinned (no taskset), 1 tokio worker"
        }
    )?;
    let bodies = std::sync::Arc::new(batch_items(64));
    let http = reqwest::Client::new();
    let url = bot.url("/k8s/audit");
    let run_for = Duration::from_secs_f64(seconds.max(1.0));
    let started = Instant::now();
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (http, url, bodies) = (http.clone(), url.clone(), bodies.clone());
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            let mut next = s;
            while started.elapsed() < run_for {
                let body = body(next, &bodies[next % bodies.len()]);
                next += SENDERS;
                let sent = Instant::now();
                let answer = http.post(&url).bearer_auth(TOKEN).body(body).send().await;
                match answer {
                    Ok(r) if r.status().is_success() => latencies.push(sent.elapsed()),
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for sender in senders {
        let (l, f) = sender.await?;
        latencies.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let events = latencies.len() * EVENTS_PER_BATCH;
    writeln!(
        out,
        "accepted {events} events in {elapsed:.1}s: {:.0} events/s ({failed} batches failed); batch answer {}",
        events as f64 / elapsed,
        Stats::of(latencies).shown()
    )?;
    bot.stop().await
}
