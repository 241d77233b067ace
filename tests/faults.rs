//! An unreliable Kubernetes API: every grant still converges, a binding that cannot be made fails
//! the grant with a clear reason, and a revocation is retried until it works while the audit
//! channel is told that access is still there.

use crate::support;

use std::collections::BTreeMap;

use chrono::Duration;
use prod_access::clock::Clock;
use support::fake_kube::KubeFault;
use support::*;

/// What `status` says of `grant`: its state (e.g. `active`) and whether a Kubernetes step
/// waits for a retry.
async fn status_of(h: &Harness, grant: &str) -> (String, bool) {
    // Erin is an auditor: she may see everyone's grants.
    let (_, reply) = h.slash(ERIN, &format!("status {grant}")).await;
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    let state = text
        .split("State: *")
        .nth(1)
        .and_then(|rest| rest.split('*').next())
        .unwrap_or_else(|| panic!("no state in {text}"));
    (state.to_string(), text.contains(":warning:"))
}

/// Whether the audit channel has told the end of `grant`'s story.
fn told_the_end(h: &Harness, grant: &str) -> bool {
    h.slack.channel_texts(AUDIT).iter().any(|t| {
        t.contains(grant)
            && (t.contains("expired and was removed") || t.contains("could not be created"))
    })
}

async fn states(h: &Harness, grants: &[String]) -> BTreeMap<String, (String, bool)> {
    let mut states = BTreeMap::new();
    for grant in grants {
        states.insert(grant.clone(), status_of(h, grant).await);
    }
    states
}

/// Lets time pass in small steps, letting the bot finish what each step made due, until every
/// grant is in one of `wanted` with nothing waiting for a retry (and, when `ended`, its end
/// told); panics after `limit` of simulated time.
async fn run_until(h: &Harness, grants: &[String], wanted: &[&str], ended: bool, limit: Duration) {
    let start = h.clock.now();
    loop {
        let now = states(h, grants).await;
        let done = now.iter().all(|(grant, (state, retrying))| {
            wanted.contains(&state.as_str()) && !retrying && (!ended || told_the_end(h, grant))
        });
        if done {
            return;
        }

        assert!(
            h.clock.now() - start < limit,
            "not converged after {limit}: {now:#?}; faults: {:?}",
            h.kube.injected_faults()
        );
        h.settle().await;
        h.clock.advance(Duration::seconds(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grant_converges_while_two_in_five_api_calls_fail() {
    let h = Harness::start().await;
    let requesters = [ALICE, DANA, ERIN, MALLORY];
    let mut grants = Vec::new();
    for (n, user) in requesters.iter().cycle().take(16).enumerate() {
        let namespace = if n % 2 == 0 { "payments" } else { "orders" };
        grants.push(
            h.request(user, &format!("edit {namespace} 1h fault drill {n}"))
                .await,
        );
    }
    // FAULT_SEED replays (or varies) the drill.
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261123);
    h.kube.set_flaky(40, seed);
    for grant in &grants {
        assert_eq!(h.click(BOB, "approve", grant).await, 200);
    }

    // Binding: retried with backoff; a grant whose six attempts all failed is Failed.
    run_until(
        &h,
        &grants,
        &["active", "failed"],
        false,
        Duration::minutes(10),
    )
    .await;
    let bound = states(&h, &grants).await;

    // Expiry: every revocation is retried until it works, however long that takes.
    h.clock.advance(Duration::hours(1));
    run_until(
        &h,
        &grants,
        &["expired", "failed"],
        true,
        Duration::hours(1),
    )
    .await;
    // A create that timed out on the client may still land after the clean-up of a grant that
    // gave up; the reconciler's next pass (every minute) removes it and says so.
    h.kube.set_flaky(0, 0);
    h.settle().await;
    h.clock.advance(Duration::seconds(61));
    h.settle().await;

    assert_eq!(
        h.kube.binding_count(),
        0,
        "access was left behind: {:#?} {:#?} {:#?}",
        states(&h, &grants).await,
        h.kube.calls(),
        h.slack.channel_texts(AUDIT)
    );
    let faults = h.kube.injected_faults();
    assert!(
        faults.values().sum::<usize>() >= 6,
        "the drill injected too few faults to mean anything: {faults:?}"
    );
    eprintln!(
        "seed {seed}: faults injected {faults:?}; after binding: {:?}",
        bound.values().map(|(state, _)| state).collect::<Vec<_>>()
    );
    let audit = h.slack.channel_texts(AUDIT);
    // The reconciler may beat a retrying revocation to it; it must only ever remove the binding
    // of a grant that has ended.
    for drift in audit.iter().filter(|t| t.contains("Drift repaired")) {
        assert!(
            drift.contains("still existed although grant"),
            "unexpected drift: {drift}"
        );
    }
    for grant in &grants {
        let told = |phrase: &str| {
            audit
                .iter()
                .filter(|t| t.contains(grant.as_str()) && t.contains(phrase))
                .count()
        };
        if bound[grant].0 == "active" {
            assert_eq!(told("Access granted"), 1, "{grant}: {audit:#?}");
            assert_eq!(told("expired and was removed"), 1, "{grant}: {audit:#?}");
        } else {
            assert_eq!(told("could not be created"), 1, "{grant}: {audit:#?}");
            assert_says_in(&audit, grant, "after 6 attempts over");
        }
    }
}

fn assert_says_in(texts: &[String], grant: &str, phrase: &str) {
    assert!(
        texts
            .iter()
            .any(|t| t.contains(grant) && t.contains(phrase)),
        "nothing about {grant} says {phrase:?}: {texts:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_keeps_failing_raises_an_alert_until_it_works() {
    let h = Harness::start().await;
    let grant = h.request(ALICE, "edit payments 1h stuck queue").await;
    h.click(BOB, "approve", &grant).await;
    h.kube.until_bound().await;

    h.kube.set_fault(KubeFault::Unavailable);
    h.clock.advance(Duration::hours(1));
    h.let_retry_fall_due(&grant, 1).await;
    h.let_retry_fall_due(&grant, 2).await;
    let alert = h.audit_call_saying("NOT removed").await;
    assert_says(&alert, "Access is NOT removed yet");
    assert_says(&alert, &format!("deleting `prod-access-{grant}`"));
    assert_says(&alert, "has failed 3 times since");
    assert_says(
        &alert,
        "the server is currently unable to handle the request",
    );
    assert_eq!(h.kube.binding_count(), 1);
    assert!(
        !h.slack
            .channel_texts(AUDIT)
            .iter()
            .any(|t| t.contains("expired and was removed")),
        "the expiry must not be announced while the binding is still there"
    );

    // Further failures within the hour add no alert.
    for failures in 3..6 {
        h.let_retry_fall_due(&grant, failures).await;
    }
    h.wait_for_failures(&grant, 6).await;
    h.kube.set_fault(KubeFault::None);
    h.clock
        .advance(Duration::from_std(RETRY_POLICY.ceiling(6)).unwrap());
    let recovered = h.audit_call_saying("Recovered").await;
    assert_says(&recovered, "worked after 6 failed attempts");
    let expired = h.audit_call_saying("expired and was removed").await;
    assert!(expired.text().contains(&grant));
    assert_eq!(h.kube.binding_count(), 0);
    let alerts = h
        .slack
        .channel_texts(AUDIT)
        .into_iter()
        .filter(|t| t.contains("NOT removed"))
        .count();
    assert_eq!(alerts, 1);
    assert_eq!(h.kube.calls_of("DELETE").len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_that_answers_too_late_counts_as_unavailable_and_is_retried() {
    let h = Harness::start().await;
    h.kube.set_fault(KubeFault::Stall);
    let grant = h.request(ALICE, "edit payments 1h stuck queue").await;
    h.click(BOB, "approve", &grant).await;
    h.wait_for_failures(&grant, 1).await;
    h.kube.set_fault(KubeFault::None);
    h.clock
        .advance(Duration::from_std(RETRY_POLICY.ceiling(1)).unwrap());
    let activated = h.audit_call_saying("Access granted").await;
    assert!(activated.text().contains(&grant));
    assert!(h.kube.grant_binding("payments", &grant).is_some());
}
