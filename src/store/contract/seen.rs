//! Signed requests already taken: each taken once, by whichever replica sees it first, and
//! forgotten once its signature is no longer accepted.

use std::sync::Arc;

use chrono::Duration;

use super::{Fixture, on_every_backend};
use crate::domain::testing::t0;
use crate::store::{Sighting, Store};

async fn a_signature_is_taken_once_and_forgotten_when_its_time_has_passed(f: Fixture) {
    let store = f.replica().await;
    let until = t0() + Duration::minutes(5);
    let sight = |signature: &'static [u8], now| {
        let store = store.clone();
        async move { store.first_sighting(signature, until, now).await.unwrap() }
    };
    assert_eq!(sight(b"v0=aa", t0()).await, Sighting::First);
    assert_eq!(sight(b"v0=bb", t0()).await, Sighting::First);
    let later = t0() + Duration::seconds(10);
    assert_eq!(
        sight(b"v0=aa", later).await,
        Sighting::Replay { first_seen: t0() }
    );
    // Once nothing signed then is accepted any more, the memory of it goes: the same bytes are
    // new again (the signature check refuses them as stale before they get here).
    let past = until + Duration::seconds(1);
    let again = store
        .first_sighting(b"v0=aa", past + Duration::minutes(5), past)
        .await
        .unwrap();
    assert_eq!(again, Sighting::First);
}

async fn what_was_seen_is_still_known_after_reopening(f: Fixture) {
    let store = f.replica().await;
    let until = t0() + Duration::minutes(5);
    let first = store.first_sighting(b"v0=aa", until, t0()).await.unwrap();
    assert_eq!(first, Sighting::First);
    let store = f.reopen(store).await;
    let again = store.first_sighting(b"v0=aa", until, t0()).await.unwrap();
    assert!(matches!(again, Sighting::Replay { .. }));
}

/// The same request delivered to every replica at once is taken by exactly one.
async fn of_replicas_given_the_same_request_exactly_one_takes_it(f: Fixture) {
    let until = t0() + Duration::minutes(5);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store: Arc<dyn Store> = f.replica().await;
        tasks.push(tokio::spawn(async move {
            store.first_sighting(b"v0=same", until, t0()).await.unwrap()
        }));
    }
    let mut first = 0;
    for task in tasks {
        if task.await.unwrap() == Sighting::First {
            first += 1;
        }
    }
    assert_eq!(first, 1);
}

on_every_backend!(
    a_signature_is_taken_once_and_forgotten_when_its_time_has_passed,
    what_was_seen_is_still_known_after_reopening,
    of_replicas_given_the_same_request_exactly_one_takes_it,
);
