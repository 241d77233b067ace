//! Slack: the Web API client behind the `Chat` port, the signed HTTP endpoints (commands,
//! interactions, events) and Socket Mode, which feeds the same handlers over WebSockets.

pub mod client;
pub mod events;
pub mod interaction;
pub(crate) mod routes;
pub mod socket_mode;
