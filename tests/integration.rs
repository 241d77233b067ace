//! The integration tests, in one binary: each module is a story or a concern, run against the
//! real server and router with the fakes of `src/fakes/` on 127.0.0.1. One binary rather than
//! one per file: each links the whole crate, and ~45 of them took minutes of linking and gigabytes
//! of disk. `secrets.rs` stays apart because it captures every log line of its process, and
//! `processes.rs` because its tests run several real bots at once and would crowd the timing
//! of the tests here (binaries run one after the other).

mod support;

mod admission;
mod audit;
mod audit_webhook_auth;
mod break_glass;
mod break_glass_incident;
mod chat_hangs;
mod cleanup;
mod concurrency;
mod demo;
mod departures;
mod digest;
mod fakes;
mod faults;
mod form;
mod home;
mod hostile;
mod identity;
mod incidents;
mod kubeconfig;
mod lifecycle;
mod manifests;
mod manifests_ha;
mod manifests_monitoring;
mod metrics;
mod multicluster;
mod on_call;
mod preflight;
mod proof;
mod reconcile;
mod refusals;
mod replay;
mod restart;
mod scope;
mod session_activity;
mod socket_mode;
mod store_migrate;
mod story;
mod sweep;
mod teams_auth;
mod teams_connector;
mod teams_endpoint;
mod teams_flows;
mod webhook;
