//! The templates rendered in every state on both platforms: fixtures (grants in each state), then
//! one module per kind of message; `escaping` and `slack_syntax` check every Slack text.

mod activity;
mod audit;
mod deed;
mod departure;
mod escaping;
mod fixtures;
mod incident;
mod incident_teams;
mod never_namespace;
mod reason;
mod records;
mod slack;
mod slack_syntax;
pub(super) mod teams;
