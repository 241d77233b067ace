//! Microsoft Teams: the Bot Framework connector client behind the `Chat` port, the check of
//! the tokens Bot Framework signs, and the `POST /teams/messages` endpoint.

pub mod auth;
pub mod client;
pub mod connector;
pub mod routes;
