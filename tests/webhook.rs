//! The audit webhook: every entry reaches the SIEM's endpoint, in order, signed, exactly as
//! stored, however often the endpoint fails, and none is lost when the bot restarts meanwhile.

use crate::support;

use chrono::Duration;
use hmac::{Hmac, Mac};
use prod_access::domain::audit::{StoredEntry, verify};
use sha2::Sha256;
use support::*;

/// Moves the clock on by the longest webhook backoff until `done`, or fails after 60 rounds.
async fn retry_until(h: &Harness, what: &str, done: impl Fn() -> bool) {
    for _ in 0..60 {
        if done() {
            return;
        }
        h.clock.advance(Duration::minutes(5));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

fn expected_signature(timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_reaches_the_webhook_signed_in_order_though_each_first_attempt_fails() {
    let receiver = WebhookReceiver::start().await;
    receiver.refuse_first_attempts(1);
    let h = Harness::start_with_webhook(receiver.url()).await;
    let grant = h.approved_grant("edit payments 1h INC-5 stuck queue").await;
    h.clock.advance(Duration::hours(1));
    assert_says(&h.next_audit().await, "expired and was removed");

    retry_until(&h, "five entries delivered", || {
        receiver.accepted().len() == 5
    })
    .await;
    assert_eq!(
        receiver.accepted_seqs(),
        [1, 2, 3, 4, 5],
        "in order, none twice"
    );
    let attempts = receiver.attempts();
    assert_eq!(
        attempts.len(),
        10,
        "each entry was refused once, then taken"
    );
    // Nothing is sent ahead of an entry that has not been taken yet.
    let seqs: Vec<u64> = attempts.iter().map(|a| a.seq_header.unwrap()).collect();
    assert_eq!(seqs, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);

    let accepted = receiver.accepted();
    for delivery in &accepted {
        assert_eq!(delivery.content_type.as_deref(), Some("application/json"));
        let timestamp = delivery.timestamp.expect("timestamp header");
        assert_eq!(
            delivery.signature.as_deref(),
            Some(expected_signature(timestamp, &delivery.body).as_str()),
            "the signature covers the timestamp and the body"
        );
        assert_eq!(delivery.seq_header, delivery.json()["seq"].as_u64());
    }
    // The bodies are the entries as stored: the receiver can check the chain itself.
    let stored: Vec<StoredEntry> = accepted
        .iter()
        .map(|d| StoredEntry {
            key: d.json()["seq"].as_u64().unwrap(),
            json: d.json(),
        })
        .collect();
    assert_eq!(verify(stored, None).unwrap().entries, 5);
    let kinds: Vec<String> = accepted
        .iter()
        .map(|d| d.json()["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "requested",
            "approval",
            "granted",
            "expired",
            "revocation_verified"
        ]
    );
    assert_eq!(accepted[0].json()["grant"], grant.as_str());
    assert_eq!(accepted[0].json()["incident"], "INC-5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_written_while_the_receiver_is_down_survive_a_restart_and_are_delivered_once() {
    let receiver = WebhookReceiver::start().await;
    receiver.set_down(true);
    let mut h = Harness::start_with_webhook(receiver.url()).await;
    let grant = h.approved_grant("edit payments 4h INC-6 deploy").await;
    // Let it fail a few times before the bot goes away.
    retry_until(&h, "several failed attempts", || {
        receiver.attempts().len() >= 3
    })
    .await;
    assert!(receiver.accepted().is_empty());

    h.restart().await;
    receiver.set_down(false);
    retry_until(&h, "the three entries delivered", || {
        receiver.accepted().len() == 3
    })
    .await;
    assert_eq!(receiver.accepted_seqs(), [1, 2, 3]);

    // New entries follow on from there, and nothing is sent again.
    h.slash(ALICE, &format!("revoke {grant}")).await;
    retry_until(&h, "the revocation delivered", || {
        receiver.accepted().len() == 4
    })
    .await;
    assert_eq!(receiver.accepted_seqs(), [1, 2, 3, 4]);
    assert_eq!(receiver.accepted()[3].json()["kind"], "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_the_stored_log_stops_delivery_instead_of_being_skipped() {
    let receiver = WebhookReceiver::start().await;
    receiver.set_down(true);
    let mut h = Harness::start_with_webhook(receiver.url()).await;
    h.approved_grant("edit payments 1h INC-7 deploy").await;
    h.stop().await;
    {
        let db = open_raw_store(h.store_path());
        db.open_tree("audit")
            .unwrap()
            .remove(2u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    h.restart().await;
    receiver.set_down(false);
    retry_until(&h, "entry 1 delivered", || receiver.accepted().len() == 1).await;
    for _ in 0..5 {
        h.clock.advance(Duration::minutes(5));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        receiver.accepted_seqs(),
        [1],
        "entry 3 is not sent past the missing 2"
    );
}
