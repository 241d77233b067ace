//! prod-access: temporary, approved, audited access to production Kubernetes, driven from chat.

pub mod clock;
pub mod domain;
pub mod store;
