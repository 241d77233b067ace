//! prod-access: temporary, approved, audited access to production Kubernetes, driven from chat.

pub mod admission;
pub mod app;
pub mod audit;
pub mod bench;
pub mod chat;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod cron_job;
pub mod demo;
pub mod domain;
pub mod fakes;
pub mod http;
pub mod on_call;
pub mod reconciler;
pub mod scheduler;
pub mod server;
pub mod socket_mode;
pub mod store;
pub mod templates;
