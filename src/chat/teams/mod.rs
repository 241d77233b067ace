//! Microsoft Teams through the Bot Framework: who may call the bot (`auth`), how the bot talks
//! back (`connector`), and Teams behind the `Chat` trait (`chat`).

pub mod auth;
pub mod chat;
pub mod connector;
