//! The audit log's outside faces: the `audit verify` and `audit export` commands, the webhook
//! that streams every entry to a SIEM, and the daily digest in the audit channel. The chain
//! itself is `domain::audit`; the log is kept by the store.

pub mod cli;
pub mod digest;
pub mod webhook;

use crate::domain::audit::{ChainBreak, ChainVerifier, Verified};
use crate::store::{AuditLog, StoreResult};

/// Entries read from the store at a time, so a long log never has to fit in memory.
const PAGE: usize = 10_000;

/// Walks the whole chain, a page at a time: what it holds, or its first break.
pub async fn walk_chain(log: &dyn AuditLog) -> StoreResult<Result<Verified, ChainBreak>> {
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = log.entries_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.key;
        for entry in &page {
            if let Err(broken) = verifier.push(entry) {
                return Ok(Err(broken));
            }
        }
    }
    let head = log.head().await?;
    Ok(verifier.finish(head.as_ref()))
}
