//! Microsoft Teams through the Bot Framework: who may call the bot (`auth`).

pub mod auth;
