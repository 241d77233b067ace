//! Slack through slack-morphism: Web API calls with the bot token, against a configurable API
//! base URL so tests and the demo can point it at a local server.

use std::sync::Arc;

use async_trait::async_trait;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::chat::{Chat, ChatError, Message};
use crate::domain::grant::MessageRef;
use crate::domain::identity::{Profile, Standing};

pub type SlackConnector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;
pub type SlackApiClient = SlackClient<SlackConnector>;

/// A client for `api_url` (e.g. `https://slack.com/api`); plain HTTP is allowed so a local fake
/// can stand in, and the configuration only accepts it for loopback addresses.
pub fn api_client(api_url: &str) -> anyhow::Result<Arc<SlackApiClient>> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| anyhow::anyhow!("cannot load the system's TLS root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector = SlackClientHyperConnector::with_connector(https)
        .with_slack_api_url(api_url.trim_end_matches('/'));
    Ok(Arc::new(SlackClient::new(connector)))
}

pub struct SlackChat {
    client: Arc<SlackApiClient>,
    token: SlackApiToken,
}

impl SlackChat {
    pub fn new(client: Arc<SlackApiClient>, bot_token: &str) -> Self {
        SlackChat {
            client,
            token: SlackApiToken::new(bot_token.to_string().into()),
        }
    }
}

/// Converts a rendered template into slack-morphism's Block Kit model, which also checks that the
/// template produced blocks Slack understands.
pub fn content(message: &Message) -> Result<SlackMessageContent, ChatError> {
    serde_json::from_value(message.0.clone()).map_err(|e| ChatError::Encoding(e.to_string()))
}

/// Slack's `ok: false` codes that mean "try again later", not "this will never work".
const TRANSIENT_CODES: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
    "team_added_to_org",
];

/// No Slack call may hold up a grant for longer than this.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, SlackClientError>>,
) -> Result<T, ChatError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(classify),
        Err(_) => Err(ChatError::Unavailable(format!(
            "no answer within {}s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

fn classify(e: SlackClientError) -> ChatError {
    match e {
        SlackClientError::ApiError(api) if TRANSIENT_CODES.contains(&api.code.as_str()) => {
            ChatError::Unavailable(api.code)
        }
        SlackClientError::ApiError(api) => ChatError::Refused(api.code),
        SlackClientError::RateLimitError(_) => ChatError::Unavailable("ratelimited".into()),
        SlackClientError::HttpError(http) if !http.status_code.is_server_error() => {
            ChatError::Refused(format!("HTTP {}", http.status_code))
        }
        other => ChatError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl Chat for SlackChat {
    async fn post(&self, channel: &str, message: &Message) -> Result<MessageRef, ChatError> {
        let request =
            SlackApiChatPostMessageRequest::new(channel.to_string().into(), content(message)?);
        let session = self.client.open_session(&self.token);
        let response = bounded(session.chat_post_message(&request)).await?;
        Ok(MessageRef {
            channel: response.channel.to_string(),
            ts: response.ts.to_string(),
            permalink: None,
        })
    }

    async fn update(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError> {
        let request = SlackApiChatUpdateRequest::new(
            at.channel.clone().into(),
            content(message)?,
            at.ts.clone().into(),
        );
        let session = self.client.open_session(&self.token);
        bounded(session.chat_update(&request)).await?;
        Ok(())
    }

    async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        message: &Message,
    ) -> Result<(), ChatError> {
        let request = SlackApiChatPostEphemeralRequest::new(
            channel.to_string().into(),
            user.to_string().into(),
            content(message)?,
        );
        let session = self.client.open_session(&self.token);
        bounded(session.chat_post_ephemeral(&request)).await?;
        Ok(())
    }

    async fn open_modal(&self, trigger_id: &str, view: &Message) -> Result<(), ChatError> {
        let request =
            SlackApiViewsOpenRequest::new(trigger_id.to_string().into(), slack_view(view)?);
        let session = self.client.open_session(&self.token);
        bounded(session.views_open(&request)).await?;
        Ok(())
    }

    async fn publish_home(&self, user: &str, view: &Message) -> Result<(), ChatError> {
        let request = SlackApiViewsPublishRequest::new(user.to_string().into(), slack_view(view)?);
        let session = self.client.open_session(&self.token);
        bounded(session.views_publish(&request)).await?;
        Ok(())
    }

    /// Slack's external upload: ask for an upload URL, send the bytes there, then share the file
    /// in the DM.
    async fn send_file_dm(
        &self,
        user: &str,
        filename: &str,
        content: &[u8],
        comment: &Message,
    ) -> Result<(), ChatError> {
        let session = self.client.open_session(&self.token);
        let open =
            SlackApiConversationsOpenRequest::new().with_users(vec![user.to_string().into()]);
        let channel = bounded(session.conversations_open(&open)).await?.channel.id;
        let ask =
            SlackApiFilesGetUploadUrlExternalRequest::new(filename.to_string(), content.len());
        let slot = bounded(session.get_upload_url_external(&ask)).await?;
        let upload = SlackApiFilesUploadViaUrlRequest::new(
            slot.upload_url,
            content.to_vec(),
            "application/octet-stream".to_string(),
        );
        bounded(session.files_upload_via_url(&upload)).await?;
        let file = SlackApiFilesComplete::new(slot.file_id).with_title(filename.to_string());
        let complete = SlackApiFilesCompleteUploadExternalRequest::new(vec![file])
            .with_channel_id(channel)
            .with_initial_comment(comment.text().to_string());
        bounded(session.files_complete_upload_external(&complete)).await?;
        Ok(())
    }

    async fn dm(&self, user: &str, message: &Message) -> Result<MessageRef, ChatError> {
        let session = self.client.open_session(&self.token);
        let open =
            SlackApiConversationsOpenRequest::new().with_users(vec![user.to_string().into()]);
        let opened = bounded(session.conversations_open(&open)).await?;
        self.post(opened.channel.id.as_ref(), message).await
    }

    async fn reply_in_thread(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError> {
        let request =
            SlackApiChatPostMessageRequest::new(at.channel.clone().into(), content(message)?)
                .with_thread_ts(at.ts.clone().into());
        let session = self.client.open_session(&self.token);
        bounded(session.chat_post_message(&request)).await?;
        Ok(())
    }

    async fn permalink(&self, at: &MessageRef) -> Result<String, ChatError> {
        let request =
            SlackApiChatGetPermalinkRequest::new(at.channel.clone().into(), at.ts.clone().into());
        let session = self.client.open_session(&self.token);
        let response = bounded(session.chat_get_permalink(&request)).await?;
        Ok(response.permalink.to_string())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<String>, ChatError> {
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_string()));
        let session = self.client.open_session(&self.token);
        match bounded(session.users_lookup_by_email(&request)).await {
            Ok(response) => Ok(Some(response.user.id.to_string())),
            Err(ChatError::Refused(code)) if code == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, ChatError> {
        let request = SlackApiUserGroupsUsersListRequest::new(group.to_string().into());
        let session = self.client.open_session(&self.token);
        let response = bounded(session.usergroups_users_list(&request)).await?;
        Ok(response.users.into_iter().map(|u| u.to_string()).collect())
    }

    /// `users.info`, read into our own type: slack-morphism's user model drops
    /// `is_email_confirmed`.
    async fn user_profile(&self, user: &str) -> Result<Profile, ChatError> {
        let session = self.client.open_session(&self.token);
        let params = vec![("user", Some(user))];
        let response: UsersInfo = bounded(session.http_session_api.http_get(
            "users.info",
            &params,
            None,
        ))
        .await?;
        Ok(response.user.profile())
    }

    /// `conversations.info` (scope `channels:read`, `groups:read` for private channels).
    async fn channel_info(
        &self,
        channel: &str,
    ) -> Result<Option<crate::chat::ChannelInfo>, ChatError> {
        let request = SlackApiConversationsInfoRequest::new(channel.to_string().into());
        let session = self.client.open_session(&self.token);
        match bounded(session.conversations_info(&request)).await {
            Ok(response) => {
                let info = response.channel;
                let topic = [info.topic, info.purpose]
                    .into_iter()
                    .flatten()
                    .map(|d| d.value)
                    .filter(|v| !v.trim().is_empty())
                    .collect::<Vec<_>>();
                Ok(Some(crate::chat::ChannelInfo {
                    name: info.name,
                    topic: (!topic.is_empty()).then(|| topic.join("\n")),
                    creator: info.creator.map(|c| c.to_string()),
                    created: chrono::DateTime::from_timestamp(info.created.0.as_second(), 0),
                }))
            }
            Err(ChatError::Refused(code)) if code == "channel_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[derive(serde::Deserialize)]
struct UsersInfo {
    user: SlackUserRecord,
}

/// The fields of Slack's user object that say who someone is.
#[derive(serde::Deserialize)]
struct SlackUserRecord {
    /// Slackbot is a bot whose `is_bot` is false.
    id: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    is_restricted: bool,
    #[serde(default)]
    is_ultra_restricted: bool,
    /// Slack Connect users of another organisation.
    #[serde(default)]
    is_stranger: bool,
    #[serde(default)]
    is_email_confirmed: bool,
    #[serde(default)]
    profile: SlackProfileRecord,
}

#[derive(serde::Deserialize, Default)]
struct SlackProfileRecord {
    #[serde(default)]
    email: Option<String>,
}

impl SlackUserRecord {
    fn profile(self) -> Profile {
        let standing = if self.deleted {
            Standing::Deactivated
        } else if self.is_bot || self.id == "USLACKBOT" {
            Standing::Bot
        } else if self.is_stranger {
            Standing::Outsider
        } else if self.is_restricted || self.is_ultra_restricted {
            Standing::Guest
        } else {
            Standing::Member
        };
        Profile {
            email: self.profile.email,
            email_confirmed: self.is_email_confirmed,
            standing,
        }
    }
}

/// A rendered modal or Home tab as slack-morphism's view type.
fn slack_view(view: &Message) -> Result<SlackView, ChatError> {
    serde_json::from_value(view.0.clone()).map_err(|e| ChatError::Encoding(e.to_string()))
}
