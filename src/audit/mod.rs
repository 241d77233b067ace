//! The audit log's outside faces: the `audit verify` and `audit export` commands, the webhook
//! that streams every entry to a SIEM, and the daily digest in the audit channel. The chain
//! itself is `domain::audit`; the log is kept by the store.

pub mod cli;
