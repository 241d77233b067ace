//! prod-access: temporary, approved, audited access to production Kubernetes, driven from chat.

pub mod chat;
pub mod clock;
pub mod cluster;
pub mod domain;
pub mod store;
pub mod templates;
