//! The digest: what the period's events add up to, the grants still active, and the chain's state.

use chrono::Duration;

use super::*;
use crate::domain::audit::{AuditEvent, ChainHead, chain};
use crate::domain::grant::Event;
use crate::domain::lifecycle::tests::{apply, bound};
use crate::domain::revocation::Verification;
use crate::domain::testing::{approve, minutes, t0};

/// The entries `events` make in order.
fn logged(events: Vec<AuditEvent>) -> Vec<AuditEntry> {
    let mut head = ChainHead::genesis();
    events
        .into_iter()
        .map(|event| {
            let entry = chain(&head, event);
            head = ChainHead {
                seq: entry.seq,
                hash: entry.hash.clone(),
            };
            entry
        })
        .collect()
}

fn intact() -> ChainState {
    ChainState::Intact {
        entries: 0,
        seq: 0,
        hash: String::new(),
    }
}

/// Grant `id` of the example role `edit`, requested at `at` and taken through `events` (each
/// that many minutes after `at`); with the journal of every step.
fn story(id: &str, at: DateTime<Utc>, events: &[(i64, Event)]) -> (Grant, Vec<AuditEvent>) {
    let mut grant = Grant::test().requested();
    grant.id = id.into();
    for event in &mut grant.journal {
        event.grant = Some(id.into());
        event.at = at;
    }
    let mut journal = std::mem::take(&mut grant.journal);
    for (after, event) in events {
        grant = apply(&grant, event.clone(), at + minutes(*after)).unwrap();
        journal.extend(grant.journal.drain(..).map(|mut e| {
            e.grant = Some(id.into());
            e
        }));
    }
    (grant, journal)
}

#[test]
fn the_digest_counts_the_periods_events_and_tells_each_requests_outcome() {
    let day = t0();
    let (ended, mut expired) = story(
        "g1",
        day,
        &[
            (1, approve("UBOB")),
            (2, bound()),
            (130, Event::Tick),
            (131, Event::FoundRemoved),
        ],
    );
    // What is reported about an ended grant afterwards is not its outcome.
    let mut summary = AuditEvent::about(&ended, AuditKind::SessionSummary, None, day);
    summary.grant = Some("g1".into());
    expired.push(summary);
    let (active, granted) = story("g2", day + Duration::hours(3), &[(1, approve("UBOB"))]);
    let deny = Event::Deny {
        approver: "UBOB".into(),
    };
    let (_, denied) = story("g3", day + Duration::hours(4), &[(1, deny)]);
    let events: Vec<AuditEvent> = [expired, granted, denied].concat();
    let digest = Digest::of(
        &logged(events),
        std::slice::from_ref(&active),
        &[],
        intact(),
        day,
        day + Duration::days(1),
    );
    let outcomes: Vec<(&str, &str)> = digest
        .requested
        .iter()
        .map(|g| (g.id.as_str(), g.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [("g1", "expired"), ("g2", "approval"), ("g3", "denied")]
    );
    assert_eq!(digest.counts["requested"], 3);
    assert_eq!(digest.counts["approval"], 2);
    assert_eq!(digest.counts["granted"], 1);
    assert_eq!(digest.counts["denied"], 1);
    assert_eq!(digest.counts["expired"], 1);
    assert!(!digest.counts.contains_key("revoked"));
    assert!(digest.active.is_empty(), "g2 is approved, not yet active");
}

#[test]
fn access_not_proven_ended_is_listed_with_what_its_entry_says_and_a_verified_end_is_not() {
    let day = t0();
    let ended = |id, verification| {
        let steps = [
            (1, approve("UBOB")),
            (2, bound()),
            (130, Event::Tick),
            (131, Event::RevocationVerified { verification }),
        ];
        let (_, mut journal) = story(id, day, &steps);
        // The application words `detail` before the write; here it stands for those words.
        for event in &mut journal {
            event.detail = Some(format!("{} of {id}", event.kind.as_str()));
        }
        journal
    };
    let still_allowed = Verification::StillAllowed {
        standing: 0,
        allowed: vec![],
        bindings: vec![],
        unlisted: None,
    };
    let unverified = Verification::Unverified {
        failure: "forbidden".into(),
    };
    let verified = Verification::NoLongerAllowed {
        probes: 9,
        standing: 0,
    };
    let verified_but_left = {
        let mut journal = ended("g2", verified);
        let mut left = journal.last().unwrap().clone();
        left.kind = AuditKind::Leftovers;
        left.detail = Some("high risk: token for ServiceAccount payments/deployer".into());
        journal.push(left);
        journal
    };
    let events = [
        ended("g1", still_allowed),
        verified_but_left,
        ended("g3", unverified),
    ]
    .concat();
    let digest = Digest::of(
        &logged(events),
        &[],
        &[],
        intact(),
        day,
        day + Duration::days(1),
    );
    let listed: Vec<(&str, &str, &str)> = digest
        .unproven
        .iter()
        .map(|u| (u.id.as_str(), u.kind, u.detail.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("g1", "access_not_ended", "access_not_ended of g1"),
            (
                "g2",
                "leftovers",
                "high risk: token for ServiceAccount payments/deployer"
            ),
            ("g3", "revocation_unverified", "revocation_unverified of g3"),
        ]
    );
    // Once approvers handled every leftover of g2, it is settled; access not ended never is.
    let mut report = crate::domain::activity::EndReport::default();
    assert!(digest.unproven[1].settled_by(&report), "nothing to handle");
    let made = crate::domain::activity::tests::request(
        "l1",
        "create",
        "serviceaccounts/token",
        Some("payments"),
    );
    report
        .leftovers
        .push(crate::domain::activity::ReportedLeftover {
            leftover: crate::domain::activity::Leftover::of(&made).unwrap(),
            exists: None,
            deletable: false,
            uid: None,
            handled: None,
        });
    assert!(!digest.unproven[1].settled_by(&report));
    report.leftovers[0].handled = Some(crate::domain::activity::Handled {
        by: "UBOB".into(),
        at: t0(),
        how: crate::domain::activity::Cleanup::Reviewed,
        pending: true,
    });
    assert!(
        !digest.unproven[1].settled_by(&report),
        "claimed, not yet done"
    );
    report.leftovers[0].handled.as_mut().unwrap().pending = false;
    assert!(digest.unproven[1].settled_by(&report));
    assert!(!digest.unproven[0].settled_by(&report));
    let outcomes: Vec<&str> = digest.requested.iter().map(|g| g.outcome).collect();
    assert_eq!(
        outcomes, ["expired"; 3],
        "a verdict reports on the end, it is not one"
    );
    assert_eq!(digest.counts["revocation_verified"], 1);
}

#[test]
fn only_the_period_counts_and_active_grants_come_soonest_expiry_first() {
    let steps = [(1, approve("UBOB")), (2, bound())];
    let (mut late, early_events) = story("old", t0() - Duration::days(2), &steps);
    let (mut soon, events) = story("new", t0(), &steps);
    late.expires_at = Some(t0() + Duration::hours(3));
    soon.expires_at = Some(t0() + Duration::hours(1));
    let digest = Digest::of(
        &logged([early_events, events].concat()),
        &[late, soon],
        &[],
        intact(),
        t0(),
        t0() + Duration::days(1),
    );
    let requested: Vec<&str> = digest.requested.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(requested, ["new"]);
    let active: Vec<&str> = digest.active.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(active, ["new", "old"]);
    assert_eq!(digest.active[0].approvers, ["UBOB"]);
}

#[test]
fn the_chain_state_says_where_a_break_is() {
    let broken = ChainState::of(Ok(Err(ChainBreak::Edited { seq: 7 })));
    assert_eq!(
        broken,
        ChainState::Broken {
            seq: 7,
            problem:
                "entry 7 was changed after it was written (its content no longer gives its hash)"
                    .into()
        }
    );
    let verified = Verified {
        entries: 3,
        head: ChainHead {
            seq: 3,
            hash: "ab".into(),
        },
    };
    assert_eq!(
        ChainState::of(Ok(Ok(verified))),
        ChainState::Intact {
            entries: 3,
            seq: 3,
            hash: "ab".into()
        }
    );
    assert!(matches!(
        ChainState::of(Err("disk".into())),
        ChainState::Unknown { .. }
    ));
}
