//! Audit events and their hash chain: linking, canonical JSON, and naming the entry that was changed.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::domain::audit_chain::entry_hash;
use crate::domain::departure::Departure;
use crate::domain::grant::GrantState;
use crate::domain::lifecycle::tests::{apply, bound};
use crate::domain::testing::{approve, minutes, t0};

fn event(n: i64) -> AuditEvent {
    let mut event = AuditEvent::about(
        &Grant::test().requested(),
        AuditKind::Requested,
        Some("UALICE"),
        t0(),
    );
    event.at = t0() + minutes(n);
    event.detail = Some(format!("event {n}"));
    event
}

/// A chain of `n` entries as the store keeps them: key → stored JSON.
fn stored_chain(n: i64) -> Vec<StoredEntry> {
    let mut head = ChainHead::genesis();
    (1..=n)
        .map(|i| {
            let entry = chain(&head, event(i));
            head = ChainHead {
                seq: entry.seq,
                hash: entry.hash.clone(),
            };
            StoredEntry {
                key: entry.seq,
                json: serde_json::to_value(&entry).unwrap(),
            }
        })
        .collect()
}

fn head_of(entries: &[StoredEntry]) -> ChainHead {
    let last = entries.last().unwrap();
    ChainHead {
        seq: last.key,
        hash: last.json["hash"].as_str().unwrap().to_string(),
    }
}

#[test]
fn an_untouched_chain_verifies_and_ends_at_its_head() {
    let entries = stored_chain(5);
    let head = head_of(&entries);
    let verified = verify(entries, Some(&head)).unwrap();
    assert_eq!(verified.entries, 5);
    assert_eq!(verified.head, head);
    assert_eq!(verify(Vec::new(), None).unwrap().entries, 0);
}

#[test]
fn each_entry_links_to_the_one_before_from_the_genesis_hash() {
    let entries = stored_chain(3);
    assert_eq!(entries[0].json["prev_hash"], GENESIS_HASH);
    assert_eq!(entries[1].json["prev_hash"], entries[0].json["hash"]);
    assert_eq!(entries[2].json["prev_hash"], entries[1].json["hash"]);
    assert_eq!(entries[0].json["seq"], 1);
}

#[test]
fn the_hash_is_sha256_of_the_previous_hash_and_the_canonical_json() {
    // Pinned so that a change to the hashing (which would orphan every stored log) is noticed.
    let entry = chain(&ChainHead::genesis(), event(1));
    let mut unhashed = serde_json::to_value(&entry).unwrap();
    unhashed.as_object_mut().unwrap().remove("hash");
    unhashed.as_object_mut().unwrap().remove("prev_hash");
    let mut hasher = Sha256::new();
    hasher.update([0u8; 32]);
    hasher.update(canonical_json(&unhashed).as_bytes());
    assert_eq!(entry.hash, hex::encode(hasher.finalize()));
    assert!(canonical_json(&unhashed).starts_with(r#"{"actor":{"email":null,"user":"UALICE"},"approvers":[],"at":"2026-11-23T09:01:00Z","channel":"CDEV","cluster":"default","cluster_role":"edit","detail":"event 1","expires_at":null,"grant":"abc123","grant_version":1,"incident":null,"kind":"requested""#),
        "{}", canonical_json(&unhashed));
}

#[test]
fn canonical_json_does_not_depend_on_the_order_fields_were_written_in() {
    let a = json!({ "b": 1, "a": { "y": [1, "x"], "x": null }, "é": "\"q\"" });
    let b: Value =
        serde_json::from_str(r#"{"é":"\"q\"","a":{"x":null,"y":[1,"x"]},"b":1}"#).unwrap();
    assert_eq!(canonical_json(&a), canonical_json(&b));
    assert_eq!(
        canonical_json(&a),
        r#"{"a":{"x":null,"y":[1,"x"]},"b":1,"é":"\"q\""}"#
    );
}

#[test]
fn an_edited_entry_is_named_by_its_sequence_number() {
    for field in ["reason", "actor", "at", "kind", "detail", "seq"] {
        let mut entries = stored_chain(4);
        entries[1].json[field] = json!("changed");
        let error = verify(entries, None).unwrap_err();
        let expected = if field == "seq" {
            ChainBreak::Unreadable {
                seq: 2,
                why: "it has no `seq`".into(),
            }
        } else {
            ChainBreak::Edited { seq: 2 }
        };
        assert_eq!(error, expected, "{field}");
        assert_eq!(error.seq(), 2);
    }
}

#[test]
fn a_removed_entry_is_named() {
    let mut entries = stored_chain(4);
    entries.remove(2);
    assert_eq!(
        verify(entries, None),
        Err(ChainBreak::Missing { seq: 3, until: 3 })
    );
    let mut first_gone = stored_chain(3);
    first_gone.remove(0);
    assert_eq!(
        verify(first_gone, None).unwrap_err().to_string(),
        "entry 1 is missing"
    );
}

#[test]
fn entries_removed_from_the_end_are_caught_by_the_recorded_head() {
    let mut entries = stored_chain(5);
    let head = head_of(&entries);
    entries.truncate(3);
    assert_eq!(
        verify(entries, Some(&head)),
        Err(ChainBreak::Missing { seq: 4, until: 5 })
    );
}

#[test]
fn reordered_entries_are_caught_whether_or_not_their_numbers_were_changed() {
    // Swapped under their keys, numbers as written: entry 3 stands where 2 belongs.
    let mut swapped = stored_chain(4);
    let (two, three) = (swapped[1].json.clone(), swapped[2].json.clone());
    swapped[1].json = three.clone();
    swapped[2].json = two.clone();
    assert_eq!(
        verify(swapped, None),
        Err(ChainBreak::OutOfPlace {
            expected: 2,
            found: 3
        })
    );
    // Renumbered to fit their new places: the hashes no longer hold.
    let mut renumbered = stored_chain(4);
    renumbered[1].json = three;
    renumbered[1].json["seq"] = json!(2);
    renumbered[2].json = two;
    renumbered[2].json["seq"] = json!(3);
    assert_eq!(verify(renumbered, None), Err(ChainBreak::Edited { seq: 2 }));
}

#[test]
fn an_entry_rewritten_with_a_fresh_hash_breaks_the_link_to_the_next() {
    let mut entries = stored_chain(4);
    let forged = {
        let mut event = event(2);
        event.reason = Some("nothing to see".into());
        let before = ChainHead {
            seq: 1,
            hash: entries[0].json["hash"].as_str().unwrap().into(),
        };
        chain(&before, event)
    };
    entries[1].json = serde_json::to_value(&forged).unwrap();
    assert_eq!(verify(entries, None), Err(ChainBreak::Unlinked { seq: 3 }));
}

#[test]
fn entries_past_the_recorded_head_are_caught() {
    let entries = stored_chain(4);
    let head = head_of(&entries[..2]);
    assert_eq!(
        verify(entries, Some(&head)),
        Err(ChainBreak::BeyondHead { seq: 3 })
    );
}

#[test]
fn fields_this_version_does_not_know_still_verify() {
    // A later version may add fields; verification hashes the JSON as stored.
    let mut json = serde_json::to_value(chain(&ChainHead::genesis(), event(1))).unwrap();
    json.as_object_mut().unwrap().remove("hash");
    json["break_glass"] = json!(true);
    let unhashed = {
        let mut v = json.clone();
        v.as_object_mut().unwrap().remove("prev_hash");
        v
    };
    json["hash"] = json!(entry_hash(GENESIS_HASH, &unhashed));
    assert!(verify(vec![StoredEntry { key: 1, json }], None).is_ok());
}

#[test]
fn a_request_records_who_asked_where_and_the_incident_in_the_reason() {
    let mut grant = Grant::test().requested();
    grant.reason = "INC-4711 stuck queue".into();
    let event = AuditEvent::about(&grant, AuditKind::Requested, Some("UALICE"), t0());
    assert_eq!(event.incident.as_deref(), Some("INC-4711"));
    let fresh = Grant::test().requested();
    assert_eq!(fresh.journal.len(), 1);
    let recorded = &fresh.journal[0];
    assert_eq!(recorded.kind, AuditKind::Requested);
    assert_eq!(recorded.actor.as_ref().unwrap().user, "UALICE");
    assert_eq!(recorded.channel.as_deref(), Some("CDEV"));
    assert_eq!(recorded.role.as_deref(), Some("edit"));
    assert_eq!(recorded.at, t0());
}

#[test]
fn the_approval_that_completes_a_request_is_recorded_as_the_approvers_act() {
    let mut grant = Grant::test().requested();
    grant.journal.clear();
    let approved = apply(&grant, approve("UBOB"), t0() + minutes(5)).unwrap();
    assert_eq!(approved.state, GrantState::Approved);
    let kinds: Vec<_> = approved.journal.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [AuditKind::Approval]);
    assert_eq!(approved.journal[0].actor.as_ref().unwrap().user, "UBOB");
    assert_eq!(approved.journal[0].approvers, ["UBOB"]);

    let mut approved = approved;
    approved.journal.clear();
    let active = apply(&approved, bound(), t0() + minutes(5)).unwrap();
    assert_eq!(active.journal.len(), 1);
    assert_eq!(active.journal[0].kind, AuditKind::Granted);
    assert_eq!(
        active.journal[0].actor, None,
        "prod-access created the binding"
    );
    assert_eq!(active.journal[0].expires_at, Some(t0() + minutes(125)));
}

#[test]
fn expiry_is_recorded_with_no_actor_and_a_rejected_event_records_nothing() {
    let mut active = apply(&Grant::test().requested(), approve("UBOB"), t0()).unwrap();
    active = apply(&active, bound(), t0() + minutes(5)).unwrap();
    active.journal.clear();
    let early = apply(&active, Event::Tick, t0() + minutes(6));
    assert!(early.is_err());
    let expired = apply(&active, Event::Tick, t0() + minutes(125)).unwrap();
    let kinds: Vec<_> = expired.journal.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [AuditKind::Expired]);
    assert_eq!(expired.journal[0].actor, None);
}

#[test]
fn an_entry_with_particulars_waits_for_its_words_and_the_words_are_all_that_is_stored() {
    let grant = Grant::test().requested();
    let mut gone = AuditEvent::about(&grant, AuditKind::RequesterGone, None, t0());
    assert!(
        !gone.unworded(),
        "nothing to say: the grant has no departure"
    );
    gone.particulars = Some(Particulars::Departure {
        why: Departure::Deactivated,
    });
    assert!(gone.unworded());
    gone.detail = Some("worded".into());
    assert!(!gone.unworded());
    let plain = AuditEvent::about(&grant, AuditKind::Requested, None, t0());
    assert!(!plain.unworded(), "a request says nothing more");
    let alert = AuditEvent::about(&grant, AuditKind::KubernetesFailing, None, t0());
    assert!(alert.unworded(), "an alert always says what failed");
    gone.particulars = None;
    let json = serde_json::to_value(&gone).unwrap();
    assert!(json.get("particulars").is_none(), "{json}");
}
