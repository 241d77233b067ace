//! Teams behind the `Chat` trait. People are known by their email (or UPN), which is what
//! approver lists name and what Kubernetes subjects are made of; their Teams ids (`29:…`) and
//! one-to-one conversations are looked up when a message must reach them, and kept.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use tracing::info;

use super::connector::{ActivityRef, Connector, Member};
use crate::chat::{Chat, ChatError, Message};
use crate::domain::grant::MessageRef;
use crate::domain::identity::{Profile, Standing};

/// Where the bot is in Teams: its tenant, the connector's `serviceUrl` for messages it starts,
/// and a conversation all its users are members of (the approvals channel), where they are
/// looked up by email.
#[derive(Debug, Clone)]
pub struct TeamsPlace {
    pub tenant_id: String,
    pub service_url: String,
    pub directory_conversation: String,
}

pub struct TeamsChat {
    connector: Connector,
    place: TeamsPlace,
    /// Teams id (`29:…`) → the person's key (email), as the connector described them.
    keys: Mutex<HashMap<String, String>>,
    /// Key → Teams id.
    ids: Mutex<HashMap<String, String>>,
    /// Key → their one-to-one conversation with the bot.
    personal: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TeamsChat {
    pub fn new(connector: Connector, place: TeamsPlace) -> TeamsChat {
        TeamsChat {
            connector,
            place,
            keys: Mutex::default(),
            ids: Mutex::default(),
            personal: Mutex::default(),
        }
    }

    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    pub fn tenant_id(&self) -> &str {
        &self.place.tenant_id
    }

    /// Who sent an activity: the key (email or UPN) of Teams user `from_id` in `conversation_id`,
    /// asked of the connector once and then kept. `None`: Teams knows no email for them.
    pub async fn identify(
        &self,
        service_url: &str,
        conversation_id: &str,
        from_id: &str,
    ) -> Result<Option<String>, ChatError> {
        if let Some(key) = lock(&self.keys).get(from_id) {
            return Ok(Some(key.clone()));
        }
        let member = self
            .connector
            .member(service_url, conversation_id, from_id)
            .await?;
        Ok(member.and_then(|m| self.remember(&m)))
    }

    /// Keeps who `member` is; `None` for someone of another tenant (a guest's home tenant, an
    /// external user), who cannot be told apart from a member of ours by email, and for guests
    /// of ours.
    fn remember(&self, member: &Member) -> Option<String> {
        let foreign = member
            .tenant_id
            .as_deref()
            .is_some_and(|t| t != self.place.tenant_id);
        // A B2B guest carries our tenant id: only its role (or `#EXT#` UPN) tells it apart.
        if foreign || member.is_guest() {
            return None;
        }
        let key = member.key()?;
        lock(&self.keys).insert(member.id.clone(), key.clone());
        lock(&self.ids).insert(key.clone(), member.id.clone());
        Some(key)
    }

    /// The member of the approvals channel's team known as `key` (a UPN or email), as the
    /// directory conversation lists them now.
    async fn directory_member(&self, key: &str) -> Result<Option<Member>, ChatError> {
        self.connector
            .member(
                &self.place.service_url,
                &self.place.directory_conversation,
                key,
            )
            .await
    }

    /// The Teams id of the person known as `key`, looked up by UPN in the directory conversation.
    async fn teams_id(&self, key: &str) -> Result<String, ChatError> {
        if let Some(id) = lock(&self.ids).get(key) {
            return Ok(id.clone());
        }
        let member = self.directory_member(key).await?.ok_or_else(|| {
            ChatError::Refused(format!(
                "Teams knows nobody called {key} in the approvals channel's team"
            ))
        })?;
        self.remember(&member);
        Ok(member.id)
    }

    async fn personal_conversation(&self, key: &str) -> Result<String, ChatError> {
        if let Some(conversation) = lock(&self.personal).get(key) {
            return Ok(conversation.clone());
        }
        let id = self.teams_id(key).await?;
        let conversation = self
            .connector
            .open_personal(&self.place.service_url, &self.place.tenant_id, &id)
            .await?;
        lock(&self.personal).insert(key.to_string(), conversation.clone());
        Ok(conversation)
    }

    fn at(&self, message: &MessageRef) -> ActivityRef {
        ActivityRef {
            service_url: self.place.service_url.clone(),
            conversation_id: message.channel.clone(),
            activity_id: message.ts.clone(),
        }
    }

    async fn send(&self, conversation: &str, message: &Message) -> Result<MessageRef, ChatError> {
        let sent = self
            .connector
            .send(&self.place.service_url, conversation, &activity(message)?)
            .await?;
        Ok(MessageRef {
            channel: sent.conversation_id,
            ts: sent.activity_id,
            permalink: None,
        })
    }
}

/// The rendered template is the activity; it must be a message.
fn activity(message: &Message) -> Result<serde_json::Value, ChatError> {
    match message.0.get("type").and_then(|t| t.as_str()) {
        Some("message") => Ok(message.0.clone()),
        _ => Err(ChatError::Encoding(
            "a Teams template must render a message activity".into(),
        )),
    }
}

#[async_trait]
impl Chat for TeamsChat {
    async fn post(&self, channel: &str, message: &Message) -> Result<MessageRef, ChatError> {
        self.send(channel, message).await
    }

    async fn update(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.connector
            .update(&self.at(at), &activity(message)?)
            .await
    }

    /// Teams has no messages only one person sees; the answer goes to their chat with the bot.
    async fn post_ephemeral(
        &self,
        _channel: &str,
        user: &str,
        message: &Message,
    ) -> Result<(), ChatError> {
        self.dm(user, message).await.map(|_| ())
    }

    async fn publish_home(&self, _user: &str, _view: &Message) -> Result<(), ChatError> {
        Err(ChatError::Refused("Teams has no App Home".into()))
    }

    async fn open_modal(&self, _trigger_id: &str, _view: &Message) -> Result<(), ChatError> {
        Err(ChatError::Refused(
            "requests in Teams are typed as messages".into(),
        ))
    }

    /// A bot can only send a file in Teams after the user accepts a consent card and the file is
    /// uploaded to their OneDrive; the configuration refuses kubeconfig roles for Teams instead.
    async fn send_file_dm(
        &self,
        _user: &str,
        _filename: &str,
        _content: &[u8],
        _comment: &Message,
    ) -> Result<(), ChatError> {
        Err(ChatError::Refused(
            "kubeconfig files cannot be sent in Teams".into(),
        ))
    }

    async fn dm(&self, user: &str, message: &Message) -> Result<MessageRef, ChatError> {
        let conversation = self.personal_conversation(user).await?;
        self.send(&conversation, message).await
    }

    async fn reply_in_thread(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.connector
            .reply(&self.at(at), &activity(message)?)
            .await
            .map(|_| ())
    }

    /// A deep link to the message in its channel (for a chat, to the chat).
    async fn permalink(&self, at: &MessageRef) -> Result<String, ChatError> {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        Ok(format!(
            "https://teams.microsoft.com/l/message/{}/{}?tenantId={}",
            encode(&at.channel),
            encode(&at.ts),
            encode(&self.place.tenant_id)
        ))
    }

    /// Looked up afresh in the approvals channel's team each time: someone removed from it, or
    /// turned guest, must not keep their standing.
    async fn user_profile(&self, user: &str) -> Result<Profile, ChatError> {
        let member = self.directory_member(user).await?.ok_or_else(|| {
            ChatError::Refused(format!(
                "{}: Teams knows nobody called {user} in the approvals channel's team",
                crate::chat::UNKNOWN_USER
            ))
        })?;
        let foreign = member
            .tenant_id
            .as_deref()
            .is_some_and(|t| t != self.place.tenant_id);
        let standing = if foreign || member.is_guest() {
            Standing::Outsider
        } else {
            Standing::Member
        };
        Ok(Profile {
            email: member.key(),
            // Teams only knows the addresses of its directory, which are verified.
            email_confirmed: true,
            standing,
        })
    }

    /// People are known by their email already: no lookup needed.
    async fn user_email(&self, user: &str) -> Result<Option<String>, ChatError> {
        Ok(user.contains('@').then(|| user.to_string()))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<String>, ChatError> {
        let email = email.trim().to_lowercase();
        Ok(email.contains('@').then_some(email))
    }

    /// Teams channels are named in the policy by conversation ID; their names are not needed.
    async fn channel_info(
        &self,
        _channel: &str,
    ) -> Result<Option<crate::chat::ChannelInfo>, ChatError> {
        Ok(None)
    }

    async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, ChatError> {
        info!(
            group,
            "Teams has no user groups; approvers are named by email"
        );
        Err(ChatError::Refused(
            "Teams has no user groups; name approvers by email".into(),
        ))
    }
}
