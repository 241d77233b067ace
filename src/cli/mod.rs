//! The subcommands beside `serve`: `audit` (verify and export the log), `demo` (the whole
//! lifecycle against fakes on 127.0.0.1) and `bench` (measure this binary).

pub mod audit;
pub mod bench;
pub mod demo;
