//! Microsoft Teams through the Bot Framework: who may call the bot (`auth`) and how the bot
//! talks back (`connector`).

pub mod auth;
pub mod connector;
