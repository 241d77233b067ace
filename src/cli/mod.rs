//! The subcommands beside `serve`: `audit` (verify and export the log), `demo` (the whole
//! lifecycle against fakes on 127.0.0.1), `bench` (measure this binary) and `sweep` (delete
//! expired bindings without the bot).

pub mod audit;
pub mod bench;
pub mod demo;
pub mod sweep;
