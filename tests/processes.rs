//! The tests that run the real `prod-access` binary as child processes, several at a time: the
//! kill -9 drill, the HTTP server's limits, and several replicas on PostgreSQL. A binary of
//! their own, so their load never overlaps the timing of the in-process tests
//! (`integration.rs`).

mod support;

mod http_limits;
mod process;
mod replicas;
