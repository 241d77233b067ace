//! The audit log's outside faces: the `audit verify` and `audit export` commands, the webhook
//! that streams every entry to a SIEM, and the daily digest in the audit channel. The chain
//! itself is `domain::audit`; the log is kept by the store.

pub mod siem;

use crate::domain::audit::{ChainBreak, ChainVerifier, Verified};
use crate::store::{AuditLog, StoreResult};

/// Entries read from the store at a time, so a long log never has to fit in memory.
pub const PAGE: usize = 10_000;

/// Walks the whole chain, a page at a time: what it holds, or its first break. A live log may
/// grow meanwhile: entries appended during the walk are walked too, up to the head read after.
pub async fn walk_chain(log: &dyn AuditLog) -> StoreResult<Result<Verified, ChainBreak>> {
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let walked_before = verifier.last_seq();
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
        let walked = verifier.last_seq();
        match head {
            None if walked > 0 => return Ok(Err(ChainBreak::HeadMissing { last: walked })),
            // Appended while this pass ran: walk those too (a pass that found nothing new means
            // they are really missing, which `finish` reports).
            Some(head) if head.seq > walked && walked > walked_before => continue,
            head => return Ok(verifier.finish(head.as_ref())),
        }
    }
}
