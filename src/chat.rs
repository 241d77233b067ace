//! Chat platforms behind one small trait; Slack is the first implementation.

use async_trait::async_trait;

use crate::domain::grant::MessageRef;
use crate::domain::identity::Profile;

/// A rendered message as its platform takes it: Slack's message JSON (`text`, optional
/// `blocks`), or a Bot Framework activity (`text`, or a card with its one-line `summary`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message(pub serde_json::Value);

impl Message {
    /// The message in one line of text.
    pub fn text(&self) -> &str {
        ["text", "summary"]
            .iter()
            .find_map(|k| self.0.get(*k).and_then(|t| t.as_str()))
            .unwrap_or("")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The platform answered with an error that retrying will not fix (`channel_not_found`, …).
    #[error("the chat platform refused: {0}")]
    Refused(String),
    /// Rate limited, unreachable or a server error; worth retrying later.
    #[error("the chat platform is unavailable: {0}")]
    Unavailable(String),
    #[error("message could not be encoded: {0}")]
    Encoding(String),
}

/// What a platform answers for an account it does not know: Slack's own error code, which the
/// Teams adapter uses too for someone not in the bot's team.
pub const UNKNOWN_USER: &str = "user_not_found";

impl ChatError {
    /// Whether the platform said it does not know the user (as opposed to an outage, a missing
    /// scope or any other refusal).
    pub fn is_unknown_user(&self) -> bool {
        matches!(self, ChatError::Refused(why) if why.split(':').next() == Some(UNKNOWN_USER))
    }
}

#[async_trait]
pub trait Chat: Send + Sync {
    async fn post(&self, channel: &str, message: &Message) -> Result<MessageRef, ChatError>;
    async fn update(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError>;
    async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        message: &Message,
    ) -> Result<(), ChatError>;
    /// Shows `view` as the user's App Home tab, replacing what it showed.
    async fn publish_home(&self, user: &str, view: &Message) -> Result<(), ChatError>;
    /// Opens a modal form for the user whose click or command carried `trigger_id`.
    async fn open_modal(&self, trigger_id: &str, view: &Message) -> Result<(), ChatError>;
    /// A file sent to `user` by direct message, with `comment` as its message.
    async fn send_file_dm(
        &self,
        user: &str,
        filename: &str,
        content: &[u8],
        comment: &Message,
    ) -> Result<(), ChatError>;
    /// A direct message from the bot to `user`.
    async fn dm(&self, user: &str, message: &Message) -> Result<MessageRef, ChatError>;
    async fn reply_in_thread(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError>;
    /// A link that opens the message.
    async fn permalink(&self, at: &MessageRef) -> Result<String, ChatError>;
    /// Who `user` is on the platform now: their address and what kind of account they have.
    async fn user_profile(&self, user: &str) -> Result<Profile, ChatError>;
    /// The email on the user's profile, if they have one.
    async fn user_email(&self, user: &str) -> Result<Option<String>, ChatError> {
        Ok(self.user_profile(user).await?.email)
    }
    /// The user with this email, if there is one.
    async fn user_by_email(&self, email: &str) -> Result<Option<String>, ChatError>;
    /// The members of a user group.
    async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, ChatError>;
    /// The channel's name, topic, creator and creation time, where the platform says.
    async fn channel_info(&self, channel: &str) -> Result<Option<ChannelInfo>, ChatError>;
}

pub use crate::domain::incident::ChannelInfo;

/// The chat platform a deployment serves; each renders its own templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Slack,
    Teams,
}

#[cfg(test)]
mod tests {
    use super::{ChatError, UNKNOWN_USER};

    #[test]
    fn only_a_refusal_naming_an_unknown_user_says_someone_left() {
        let refused = |why: &str| ChatError::Refused(why.into());
        assert!(refused(UNKNOWN_USER).is_unknown_user());
        assert!(
            refused("user_not_found: Teams knows nobody called alice@example.com")
                .is_unknown_user()
        );
        for other in ["missing_scope", "invalid_auth", "user_not_found_anywhere"] {
            assert!(!refused(other).is_unknown_user(), "{other}");
        }
        assert!(!ChatError::Unavailable(UNKNOWN_USER.into()).is_unknown_user());
    }
}
