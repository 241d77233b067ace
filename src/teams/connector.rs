//! Talking to Teams: the Bot Connector REST API on the conversation's `serviceUrl`, with a
//! token from the client-credentials grant (app id and password), kept until shortly before it
//! expires. Sends, updates and replies to activities, and opens a one-to-one conversation for a
//! direct message.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::chat::ChatError;
use crate::clock::SharedClock;

const SCOPE: &str = "https://api.botframework.com/.default";
/// A token is replaced this long before it expires.
const RENEW_BEFORE: chrono::Duration = chrono::Duration::minutes(5);
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct Credentials {
    pub app_id: String,
    pub app_password: String,
    pub token_url: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ app_id: {}, .. }}", self.app_id)
    }
}

/// A Teams user as the connector describes them (`TeamsChannelAccount`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The Teams id (`29:…`), what conversations are opened with.
    pub id: String,
    // Serde reads a missing `Option` field as `None`: the connector leaves out what it lacks.
    pub name: Option<String>,
    pub aad_object_id: Option<String>,
    pub email: Option<String>,
    pub user_principal_name: Option<String>,
    pub tenant_id: Option<String>,
    /// `user`, `guest` (B2B guests, even when listed in our tenant) or `anonymous`.
    pub user_role: Option<String>,
}

impl Member {
    /// Who they are to prod-access (approver lists, Kubernetes subjects): their UPN (unique in
    /// the tenant, on a verified domain), else their email, in lower case.
    pub fn key(&self) -> Option<String> {
        [&self.user_principal_name, &self.email]
            .into_iter()
            .flatten()
            .map(|s| s.trim().to_lowercase())
            .find(|s| s.contains('@'))
    }

    /// A guest of our tenant: Teams says so, or the UPN is a B2B guest's (`…#EXT#@…`).
    pub fn is_guest(&self) -> bool {
        let role = self.user_role.as_deref().map(str::to_ascii_lowercase);
        matches!(role.as_deref(), Some("guest" | "anonymous"))
            || self
                .user_principal_name
                .as_deref()
                .is_some_and(|upn| upn.to_ascii_uppercase().contains("#EXT#"))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

struct Token {
    value: String,
    renew_at: DateTime<Utc>,
}

pub struct Connector {
    credentials: Credentials,
    http: reqwest::Client,
    clock: SharedClock,
    token: Mutex<Option<Token>>,
}

/// Where an activity lives, so it can be updated or replied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRef {
    pub service_url: String,
    pub conversation_id: String,
    pub activity_id: String,
}

impl Connector {
    pub fn new(credentials: Credentials, clock: SharedClock) -> anyhow::Result<Connector> {
        Ok(Connector {
            credentials,
            http: reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?,
            clock,
            token: Mutex::new(None),
        })
    }

    /// Posts `activity` to the conversation; returns where it is.
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> Result<ActivityRef, ChatError> {
        let url = activities_url(service_url, conversation_id, None);
        let answer = self
            .call(reqwest::Method::POST, &url, Some(activity))
            .await?;
        Ok(ActivityRef {
            service_url: service_url.to_string(),
            conversation_id: conversation_id.to_string(),
            activity_id: id_of(&answer)?,
        })
    }

    /// Replaces the activity at `at` (an Adaptive Card edited in place).
    pub async fn update(&self, at: &ActivityRef, activity: &Value) -> Result<(), ChatError> {
        let url = activities_url(&at.service_url, &at.conversation_id, Some(&at.activity_id));
        let mut activity = activity.clone();
        activity["id"] = json!(at.activity_id);
        self.call(reqwest::Method::PUT, &url, Some(&activity))
            .await?;
        Ok(())
    }

    /// Posts `activity` as a reply to the one at `at` (its thread in a channel).
    pub async fn reply(
        &self,
        at: &ActivityRef,
        activity: &Value,
    ) -> Result<ActivityRef, ChatError> {
        let url = activities_url(&at.service_url, &at.conversation_id, Some(&at.activity_id));
        let mut activity = activity.clone();
        activity["replyToId"] = json!(at.activity_id);
        let answer = self
            .call(reqwest::Method::POST, &url, Some(&activity))
            .await?;
        Ok(ActivityRef {
            activity_id: id_of(&answer)?,
            ..at.clone()
        })
    }

    /// Opens (or finds) the one-to-one conversation of the bot and `user` in `tenant_id`.
    pub async fn open_personal(
        &self,
        service_url: &str,
        tenant_id: &str,
        user: &str,
    ) -> Result<String, ChatError> {
        let url = format!("{}/v3/conversations", service_url.trim_end_matches('/'));
        let body = json!({
            "isGroup": false,
            "bot": { "id": format!("28:{}", self.credentials.app_id) },
            "members": [{ "id": user }],
            "tenantId": tenant_id,
            "channelData": { "tenant": { "id": tenant_id } },
        });
        let answer = self.call(reqwest::Method::POST, &url, Some(&body)).await?;
        id_of(&answer)
    }

    /// One member of a conversation (a channel's team, a chat), by Teams id (`29:…`), Entra
    /// object id or UPN; `None` if they are not in it.
    pub async fn member(
        &self,
        service_url: &str,
        conversation_id: &str,
        member: &str,
    ) -> Result<Option<Member>, ChatError> {
        let url = format!(
            "{}/v3/conversations/{}/members/{}",
            service_url.trim_end_matches('/'),
            encode(conversation_id),
            encode(member)
        );
        match self.call(reqwest::Method::GET, &url, None).await {
            Ok(answer) => serde_json::from_value(answer)
                .map(Some)
                .map_err(|e| ChatError::Unavailable(format!("Teams member: {e}"))),
            Err(ChatError::Refused(e)) if e.contains("HTTP 404") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One call with the bot's token; a 401 gets one more try with a fresh token.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, ChatError> {
        for attempt in 0..2 {
            let token = self.token(attempt > 0).await?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(&token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| ChatError::Unavailable(format!("Teams: {e}")))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                continue;
            }
            if status.is_success() {
                return Ok(response.json().await.unwrap_or(Value::Null));
            }
            let detail = response.text().await.unwrap_or_default();
            return Err(classify(status, &detail));
        }
        Err(ChatError::Refused("Teams refused the bot's token".into()))
    }

    /// The bot's token, fetched again when `renew` or when it is about to expire.
    async fn token(&self, renew: bool) -> Result<String, ChatError> {
        let mut held = self.token.lock().await;
        let now = self.clock.now();
        if let Some(token) = held.as_ref().filter(|t| !renew && now < t.renew_at) {
            return Ok(token.value.clone());
        }
        let c = &self.credentials;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &c.app_id)
            .append_pair("client_secret", &c.app_password)
            .append_pair("scope", SCOPE)
            .finish();
        let response = self
            .http
            .post(&c.token_url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| ChatError::Unavailable(format!("Teams token: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            // The body may echo what was sent; only the status is kept.
            return Err(classify(status, "the token request was refused"));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|e| ChatError::Unavailable(format!("Teams token: {e}")))?;
        let lifetime = chrono::Duration::seconds(token.expires_in);
        *held = Some(Token {
            value: token.access_token.clone(),
            renew_at: now + lifetime - RENEW_BEFORE,
        });
        Ok(token.access_token)
    }
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn activities_url(service_url: &str, conversation_id: &str, activity_id: Option<&str>) -> String {
    let base = service_url.trim_end_matches('/');
    let conversation = encode(conversation_id);
    match activity_id {
        Some(id) => {
            let id = encode(id);
            format!("{base}/v3/conversations/{conversation}/activities/{id}")
        }
        None => format!("{base}/v3/conversations/{conversation}/activities"),
    }
}

fn id_of(answer: &Value) -> Result<String, ChatError> {
    answer["id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| ChatError::Unavailable("Teams answered without an id".into()))
}

/// Throttling and server errors are worth retrying; the rest will not get better.
fn classify(status: StatusCode, detail: &str) -> ChatError {
    let text = format!(
        "Teams: HTTP {status}: {}",
        detail.chars().take(200).collect::<String>()
    );
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        ChatError::Unavailable(text)
    } else {
        ChatError::Refused(text)
    }
}
