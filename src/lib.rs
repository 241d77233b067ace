//! prod-access: temporary, approved, audited access to production Kubernetes, driven from chat.

pub mod app;
pub mod audit;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod fakes;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod on_call;
pub mod server;
pub mod slack;
pub mod store;
pub mod teams;
pub mod templates;
