//! The audit log's hash chain: entries in their place, how each is hashed
//! (`sha256(prev_hash ‖ canonical JSON of the entry without its hashes)`), and the walk that
//! verifies a stored chain on the JSON as stored.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit::AuditEvent;

/// The `prev_hash` of the first entry: 32 zero bytes.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event in its place in the chain, as it is stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// The last entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

/// The entry that follows `head`.
pub fn chain(head: &ChainHead, event: AuditEvent) -> AuditEntry {
    let seq = head.seq + 1;
    let mut unhashed = serde_json::to_value(&event).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut unhashed {
        fields.insert("seq".into(), Value::from(seq));
    }
    AuditEntry {
        seq,
        event,
        prev_hash: head.hash.clone(),
        hash: entry_hash(&head.hash, &unhashed),
    }
}

/// `sha256(prev_hash ‖ canonical JSON)`, hex; `prev_hash` as its 32 raw bytes.
pub(super) fn entry_hash(prev_hash: &str, unhashed: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(prev_hash).unwrap_or_default());
    hasher.update(canonical_json(unhashed).as_bytes());
    hex::encode(hasher.finalize())
}

/// Object keys sorted by their UTF-8 bytes, no whitespace, strings escaped as serde_json does:
/// the same value always gives the same text, whatever order the fields were written in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&fields[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// An entry as read back from the store: its key and its stored JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub key: u64,
    pub json: Value,
}

/// The first place a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry at `seq` cannot be read as an audit entry.
    Unreadable { seq: u64, why: String },
    /// The entry's content no longer gives its hash: it was edited.
    Edited { seq: u64 },
    /// An entry says it is `found` where `expected` belongs (stored under another key, or out
    /// of order).
    OutOfPlace { expected: u64, found: u64 },
    /// The entries from `seq` on (up to `until`) are missing.
    Missing { seq: u64, until: u64 },
    /// The entry does not follow the one before it: entries were removed, replaced or reordered.
    Unlinked { seq: u64 },
    /// The entries from `seq` on lie past where the store recorded the chain's end.
    BeyondHead { seq: u64 },
    /// The store holds entries (up to `last`) but no record of where the chain ends.
    HeadMissing { last: u64 },
}

impl ChainBreak {
    /// The sequence number of the first entry that does not hold.
    pub fn seq(&self) -> u64 {
        match self {
            ChainBreak::Unreadable { seq, .. }
            | ChainBreak::Edited { seq }
            | ChainBreak::Missing { seq, .. }
            | ChainBreak::Unlinked { seq }
            | ChainBreak::BeyondHead { seq } => *seq,
            ChainBreak::HeadMissing { last } => *last,
            ChainBreak::OutOfPlace { expected, .. } => *expected,
        }
    }
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Unreadable { seq, why } => {
                write!(f, "entry {seq} cannot be read as an audit entry: {why}")
            }
            ChainBreak::Edited { seq } => write!(
                f,
                "entry {seq} was changed after it was written (its content no longer gives its hash)"
            ),
            ChainBreak::OutOfPlace { expected, found } => write!(
                f,
                "entry {expected} is missing or out of order: found entry {found} in its place"
            ),
            ChainBreak::Missing { seq, until } if seq == until => {
                write!(f, "entry {seq} is missing")
            }
            ChainBreak::Missing { seq, until } => {
                write!(f, "entries {seq} to {until} are missing")
            }
            ChainBreak::Unlinked { seq } => write!(
                f,
                "entry {seq} does not follow the entry before it (entries were removed, replaced or reordered)"
            ),
            ChainBreak::HeadMissing { last } => write!(
                f,
                "the record of the chain's end is gone (entries up to {last} remain): entries after {last} may have been removed"
            ),
            ChainBreak::BeyondHead { seq } => write!(
                f,
                "entry {seq} and any after it lie past the recorded end of the chain (added afterwards)"
            ),
        }
    }
}

/// What a verified chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub head: ChainHead,
}

/// Walks the chain from its first entry: every entry in its place, with its own hash, linked to
/// the one before, and the last one where the store's head says the chain ends.
pub fn verify(
    entries: impl IntoIterator<Item = StoredEntry>,
    recorded_head: Option<&ChainHead>,
) -> Result<Verified, ChainBreak> {
    let mut verifier = ChainVerifier::default();
    for entry in entries {
        verifier.push(&entry)?;
    }
    verifier.finish(recorded_head)
}

/// `verify` one entry at a time, for logs read in pages.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    head: Option<ChainHead>,
}

impl ChainVerifier {
    /// Checks the next entry of the chain.
    pub fn push(&mut self, stored: &StoredEntry) -> Result<(), ChainBreak> {
        let head = self.head.get_or_insert_with(ChainHead::genesis);
        let expected = head.seq + 1;
        let Some(seq) = stored.json.get("seq").and_then(Value::as_u64) else {
            return Err(ChainBreak::Unreadable {
                seq: stored.key,
                why: "it has no `seq`".into(),
            });
        };
        if stored.key != expected || seq != expected {
            if stored.key > expected && seq == stored.key {
                return Err(ChainBreak::Missing {
                    seq: expected,
                    until: stored.key - 1,
                });
            }
            return Err(ChainBreak::OutOfPlace {
                expected,
                found: seq,
            });
        }
        let text = |name: &str| stored.json.get(name).and_then(Value::as_str);
        let (Some(prev_hash), Some(hash)) = (text("prev_hash"), text("hash")) else {
            return Err(ChainBreak::Unreadable {
                seq,
                why: "it has no `prev_hash` or `hash`".into(),
            });
        };
        let mut unhashed = stored.json.clone();
        if let Value::Object(fields) = &mut unhashed {
            fields.remove("prev_hash");
            fields.remove("hash");
        }
        if entry_hash(prev_hash, &unhashed) != hash {
            return Err(ChainBreak::Edited { seq });
        }
        if prev_hash != head.hash {
            return Err(ChainBreak::Unlinked { seq });
        }
        *head = ChainHead {
            seq,
            hash: hash.to_string(),
        };
        Ok(())
    }

    /// The last entry checked so far (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.seq)
    }

    /// The chain so far, checked against where the store recorded its end.
    pub fn finish(self, recorded_head: Option<&ChainHead>) -> Result<Verified, ChainBreak> {
        let head = self.head.unwrap_or_else(ChainHead::genesis);
        if let Some(recorded) = recorded_head {
            if recorded.seq > head.seq {
                return Err(ChainBreak::Missing {
                    seq: head.seq + 1,
                    until: recorded.seq,
                });
            }
            if recorded.seq < head.seq {
                return Err(ChainBreak::BeyondHead {
                    seq: recorded.seq + 1,
                });
            }
            if recorded.hash != head.hash {
                return Err(ChainBreak::Unlinked { seq: head.seq });
            }
        }
        Ok(Verified {
            entries: head.seq,
            head,
        })
    }
}
