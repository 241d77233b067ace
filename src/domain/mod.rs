//! The pure core: command parsing, policy decisions and the grant state machine.
//! Nothing here performs I/O; callers pass in the time and carry out the returned effects.

pub mod activity;
pub mod audit;
mod audit_chain;
pub mod audit_detail;
pub mod break_glass;
pub mod command;
pub mod departure;
pub mod digest;
pub(crate) mod duration_serde;
pub mod failure;
pub mod grant;
mod grant_rejection;
pub mod identity;
pub mod incident;
pub mod lifecycle;
mod lifecycle_extension;
mod lifecycle_incident;
pub mod never_namespaces;
mod notices;
pub mod on_call;
pub mod permissions;
pub mod policy;
mod policy_check;
mod policy_refusal;
pub mod rate_limit;
pub mod reconcile;
pub mod retry;
pub mod revocation;
#[cfg(test)]
pub(crate) mod testing;
