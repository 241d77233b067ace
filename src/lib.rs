//! prod-access: temporary, approved, audited access to production Kubernetes, driven from chat.

pub mod domain;
