//! Retrying failed effects: backoff with jitter, giving up and the alerts on the way.

use chrono::Duration as ChronoDuration;

use super::*;
use crate::domain::grant::{Event, GrantState, Step};
use crate::domain::lifecycle::tests::{active, apply, in_state};
use crate::domain::testing::{approve, minutes, revoke, t0};

const POLICY: RetryPolicy = RetryPolicy::DEFAULT;

fn seconds(s: i64) -> ChronoDuration {
    ChronoDuration::seconds(s)
}

/// Approved and about to be bound: the outbox starts with `Bind`.
fn binding() -> Grant {
    let approved = apply(&in_state(GrantState::Requested), approve("UBOB"), t0()).unwrap();
    assert_eq!(approved.outbox.first(), Some(&Effect::Bind));
    approved
}

/// Expired at 11:05: the outbox starts with `Unbind`, followed by the announcements.
fn unbinding() -> Grant {
    let expired = apply(&active(), Event::Tick, t0() + minutes(125)).unwrap();
    assert_eq!(expired.outbox.first(), Some(&Effect::Unbind));
    expired
}

/// The unbind failed at its expiry, 2s and 6s later: the alert is queued ahead of it.
fn failed_thrice_from_expiry() -> Grant {
    let expiry = t0() + minutes(125);
    [0, 2, 6]
        .into_iter()
        .fold(unbinding(), |grant, s| fail(&grant, expiry + seconds(s)))
}

fn retry_later(after: AfterFailure) -> Grant {
    match after {
        AfterFailure::RetryLater(grant) => *grant,
        AfterFailure::GiveUp { reason } => panic!("gave up: {reason:?}"),
    }
}

/// Fails the head effect (or the one behind a queued alert) at `at`.
fn fail(grant: &Grant, at: DateTime<Utc>) -> Grant {
    let index = grant
        .outbox
        .iter()
        .position(Effect::is_cluster_effect)
        .expect("a Kubernetes effect is queued");
    retry_later(grant.effect_failed(index, "503 Service Unavailable", at, 0.5, &POLICY))
}

fn alerts(grant: &Grant) -> Vec<&Alert> {
    grant
        .outbox
        .iter()
        .filter_map(|e| match e {
            Effect::Alert { alert } => Some(alert),
            _ => None,
        })
        .collect()
}

#[test]
fn the_wait_doubles_from_two_seconds_up_to_five_minutes() {
    let ceilings: Vec<u64> = (1..=10).map(|n| POLICY.ceiling(n).as_secs()).collect();
    assert_eq!(ceilings, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    assert_eq!(POLICY.ceiling(u32::MAX).as_secs(), 300);
}

#[test]
fn jitter_spreads_the_wait_over_the_upper_half_of_the_ceiling() {
    for failures in 1..=12 {
        let ceiling = POLICY.ceiling(failures);
        assert_eq!(POLICY.delay(failures, 0.0), ceiling / 2);
        assert!(POLICY.delay(failures, 0.999) > ceiling.mul_f64(0.99));
        assert!(POLICY.delay(failures, 0.999) <= ceiling);
        assert!(POLICY.delay(failures, 0.25) < POLICY.delay(failures, 0.75));
    }
    // Samples outside [0, 1) cannot stretch or shrink the wait beyond its bounds.
    assert_eq!(POLICY.delay(3, -4.0), POLICY.ceiling(3) / 2);
    assert_eq!(POLICY.delay(3, 9.0), POLICY.ceiling(3));
}

#[test]
fn a_failed_bind_waits_for_its_retry_time_and_blocks_nothing_else_meanwhile() {
    let grant = binding();
    let failed = retry_later(grant.effect_failed(0, "timed out", t0(), 0.0, &POLICY));
    let retry = failed.retry.clone().unwrap();
    assert_eq!(retry.failures, 1);
    assert_eq!(retry.effect, Effect::Bind);
    assert_eq!(retry.next_at, t0() + seconds(1));
    assert_eq!(retry.last_error, "timed out");
    assert_eq!(failed.version, grant.version + 1);
    assert_eq!(failed.outbox, grant.outbox, "nothing is added or removed");
    assert!(failed.waits_for_retry(&Effect::Bind, t0()));
    assert!(!failed.waits_for_retry(&Effect::Bind, t0() + seconds(1)));
    assert!(!failed.waits_for_retry(&Effect::Unbind, t0()));
    assert_eq!(failed.next_deadline(), Some(t0() + seconds(1)));
}

#[test]
fn a_bind_is_given_up_after_its_budget_with_the_reason_and_the_time_spent() {
    let mut grant = binding();
    let mut at = t0();
    for n in 1..POLICY.bind_attempts {
        grant = fail(&grant, at);
        assert_eq!(grant.retry.as_ref().unwrap().failures, n);
        assert!(alerts(&grant).is_empty(), "a bind fails the grant instead");
        at = grant.retry.as_ref().unwrap().next_at;
    }
    let last = grant.effect_failed(0, "503 Service Unavailable", at, 0.5, &POLICY);
    let AfterFailure::GiveUp { reason } = last else {
        panic!("still retrying after {} attempts", POLICY.bind_attempts);
    };
    // Waits of 1.5, 3, 6, 12 and 24 s with jitter 0.5, told in whole seconds (the audit log's
    // words for it are tested with the records' templates).
    assert_eq!(
        reason,
        Failure::GaveUp {
            error: "503 Service Unavailable".into(),
            attempts: 6,
            waited_secs: 46,
        }
    );
}

#[test]
fn a_revocation_is_never_given_up_and_its_wait_stays_capped() {
    let mut grant = unbinding();
    let mut at = t0() + minutes(125);
    for _ in 0..200 {
        grant = fail(&grant, at);
        let retry = grant.retry.as_ref().unwrap();
        assert!(retry.next_at - at <= seconds(300));
        at = retry.next_at;
    }
    assert_eq!(grant.retry.as_ref().unwrap().failures, 200);
    assert_eq!(
        grant
            .outbox
            .iter()
            .filter(|e| **e == Effect::Unbind)
            .count(),
        1
    );
}

#[test]
fn a_failing_revocation_alerts_the_audit_channel_at_once_and_again_each_hour() {
    let expiry = t0() + minutes(125);
    let once = fail(&unbinding(), expiry);
    let twice = fail(&once, expiry + seconds(2));
    assert!(
        alerts(&twice).is_empty(),
        "two failures are not yet worth an alert"
    );

    let thrice = fail(&twice, expiry + seconds(6));
    let alert = Effect::Alert {
        alert: Alert {
            kind: AlertKind::Failing,
            effect: "unbind".into(),
            failures: 3,
            since: expiry,
            error: "503 Service Unavailable".into(),
        },
    };
    assert_eq!(
        thrice.outbox.first(),
        Some(&alert),
        "the alert goes ahead of the failing delete, so it is posted before the wait"
    );
    assert_eq!(thrice.outbox[1], Effect::Unbind);
    assert_eq!(
        thrice.retry.as_ref().unwrap().alerted_at,
        Some(expiry + seconds(6))
    );

    // Posted; more failures within the hour stay quiet.
    let mut grant = thrice.complete_effect(0);
    let mut at = expiry + seconds(30);
    while at < expiry + seconds(6) + minutes(60) {
        grant = fail(&grant, at);
        assert!(alerts(&grant).is_empty(), "a repeat alert at {at}");
        at = grant.retry.as_ref().unwrap().next_at;
    }
    let again = fail(&grant, at);
    assert_eq!(alerts(&again).len(), 1);
    assert!(alerts(&again)[0].failures > 3);
    assert_eq!(alerts(&again)[0].since, expiry);
}

#[test]
fn a_revocation_that_worked_after_an_alert_says_so_and_one_that_worked_quietly_does_not() {
    let expiry = t0() + minutes(125);
    let alerted = failed_thrice_from_expiry().complete_effect(0); // the alert was posted
    let recovered = alerted.effect_done(0, expiry);
    assert_eq!(recovered.retry, None);
    assert_eq!(
        recovered.outbox.first(),
        Some(&Effect::Alert {
            alert: Alert {
                kind: AlertKind::Recovered,
                effect: "unbind".into(),
                failures: 3,
                since: expiry,
                error: "503 Service Unavailable".into(),
            },
        })
    );
    assert!(recovered.outbox.contains(&Effect::Audit {
        step: Step::Expired
    }));

    let quiet = fail(&unbinding(), expiry).effect_done(0, expiry);
    assert_eq!(quiet.retry, None);
    assert!(alerts(&quiet).is_empty());
    assert_eq!(
        quiet.next_deadline(),
        None,
        "an expired grant has nothing left to wait for"
    );
}

#[test]
fn a_failure_of_another_effect_starts_counting_afresh() {
    let mut grant = unbinding();
    grant = fail(&grant, t0());
    grant = fail(&grant, t0() + seconds(2));
    grant.outbox.insert(0, Effect::UpdateBindingExpiry);
    let other = retry_later(grant.effect_failed(0, "timeout", t0() + seconds(10), 0.0, &POLICY));
    let retry = other.retry.unwrap();
    assert_eq!(
        (retry.effect, retry.failures),
        (Effect::UpdateBindingExpiry, 1)
    );
    assert_eq!(retry.since, t0() + seconds(10));
}

#[test]
fn revoking_a_grant_whose_bind_is_being_retried_drops_the_retry_with_the_bind() {
    let failing = fail(&binding(), t0());
    let revoked = apply(&failing, revoke("UALICE"), t0() + seconds(1)).unwrap();
    assert!(!revoked.outbox.contains(&Effect::Bind));
    assert_eq!(revoked.retry, None);
    assert!(!revoked.waits_for_retry(&Effect::Unbind, t0() + seconds(1)));
}

#[test]
fn dropping_the_retried_effect_ends_its_retry() {
    let failing = fail(&unbinding(), t0());
    assert_eq!(failing.complete_effect(0).retry, None);
    assert!(failing.complete_effect(1).retry.is_some());
}

#[test]
fn a_grant_with_a_retry_and_an_alert_survives_serialisation() {
    let grant = failed_thrice_from_expiry();
    let json = serde_json::to_string(&grant).unwrap();
    assert!(json.contains(r#""type":"alert""#), "{json}");
    let back: Grant = serde_json::from_str(&json).unwrap();
    assert_eq!(back, grant);
}

#[test]
fn verifying_an_end_is_given_up_after_the_attempt_budget_and_never_alerted() {
    let mut ended = in_state(GrantState::Expired);
    ended.outbox = vec![Effect::VerifyRevocation];
    let mut grant = ended;
    let mut at = t0() + minutes(200);
    for _ in 1..POLICY.bind_attempts {
        grant = retry_later(grant.effect_failed(0, "503", at, 0.5, &POLICY));
        at += seconds(600);
    }
    assert!(
        alerts(&grant).is_empty(),
        "not alerted: it is reported when given up"
    );
    match grant.effect_failed(0, "503", at, 0.5, &POLICY) {
        AfterFailure::GiveUp {
            reason: Failure::GaveUp { attempts, .. },
        } => assert_eq!(attempts, POLICY.bind_attempts),
        other => panic!("{other:?}"),
    }
}
