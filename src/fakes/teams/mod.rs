//! A fake Bot Framework on 127.0.0.1: the client-credentials token endpoint and the Bot
//! Connector REST API (`/v3/conversations…`), answering like the real ones, checking the token
//! on every call, recording every activity and keeping the latest version of each; a member
//! directory; and the signing side (`keys`): the OpenID metadata and the tokens it signs
//! activities sent to the bot with.

pub mod keys;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use serde_json::{Value, json};

pub const TEAMS_APP_ID: &str = "00000000-0000-0000-0000-0000000a11ce";
pub const TEAMS_APP_PASSWORD: &str = "teams-app-password-for-tests";
pub const TENANT: &str = "72f988bf-0000-0000-0000-2d7cd011db47";

#[derive(Debug, Clone)]
pub struct Activity {
    pub method: &'static str,
    pub conversation: String,
    /// The activity replied to or updated, if any.
    pub activity_id: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State_ {
    tokens_issued: usize,
    valid_tokens: Vec<String>,
    activities: Vec<Activity>,
    /// (conversation, activity id) → the activity as it stands.
    stored: BTreeMap<(String, String), Value>,
    /// Conversations that exist; a send to another is 404.
    conversations: Vec<String>,
    next_id: u64,
    /// Statuses to answer the next connector calls with.
    faults: VecDeque<StatusCode>,
    /// Teams users (`TeamsChannelAccount`s) in every conversation.
    members: Vec<Value>,
    member_lookups: usize,
    /// (conversation, id) of every activity the bot sent or replied with, in order.
    sent: Vec<(String, String)>,
    /// (conversation, id) of each reply → the id of the activity it replies to.
    replied_to: BTreeMap<(String, String), String>,
}

#[derive(Clone)]
pub struct FakeTeams {
    pub url: String,
    state: Arc<Mutex<State_>>,
    metadata: keys::Metadata,
    signing: Arc<keys::SigningKey>,
}

impl FakeTeams {
    pub async fn start() -> FakeTeams {
        let state = Arc::new(Mutex::new(State_::default()));
        let router = Router::new()
            .route("/botframework.com/oauth2/v2.0/token", post(token))
            .route("/v3/conversations", post(create_conversation))
            .route("/v3/conversations/{conversation}/activities", post(send))
            .route(
                "/v3/conversations/{conversation}/activities/{activity}",
                post(reply).merge(put(update)),
            )
            .route(
                "/v3/conversations/{conversation}/members/{member}",
                get(member),
            )
            .with_state(state.clone());
        let url = crate::fakes::serve_on_loopback(router).await;
        let metadata = keys::metadata_server().await;
        let signing = keys::key("fake-bot-framework-key", &["msteams"]);
        metadata.publish(&signing);
        FakeTeams {
            url,
            state,
            metadata,
            signing: Arc::new(signing),
        }
    }

    /// The OpenID metadata that publishes the key activities to the bot are signed with.
    pub fn metadata_url(&self) -> String {
        self.metadata.url.clone()
    }

    /// The `Authorization` header the Bot Connector sends the bot at `now`.
    pub fn authorization(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        self.authorization_for(now, TEAMS_APP_ID)
    }

    /// The same, for the bot whose app id is `audience`.
    pub fn authorization_for(&self, now: chrono::DateTime<chrono::Utc>, audience: &str) -> String {
        let claims = json!({
            "iss": crate::teams::auth::ISSUER,
            "aud": audience,
            "serviceurl": self.service_url(),
            "nbf": now.timestamp() - 60,
            "exp": now.timestamp() + 3600,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.signing.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing.private).unwrap();
        format!("Bearer {token}")
    }

    /// A Teams user, known to every conversation by Teams id, email and UPN.
    pub fn add_member(&self, id: &str, name: &str, email: &str) {
        self.lock().members.push(json!({
            "id": id, "name": name, "aadObjectId": format!("aad-{name}"),
            "givenName": name, "email": email, "userPrincipalName": email,
            "tenantId": TENANT, "userRole": "user"
        }));
    }

    /// Someone removed from the team: no conversation knows them any more.
    pub fn remove_member(&self, id: &str) {
        self.lock().members.retain(|m| m["id"] != id);
    }

    /// A guest: in our team, but of another tenant.
    pub fn add_guest(&self, id: &str, name: &str, email: &str) {
        self.lock().members.push(json!({
            "id": id, "name": name, "aadObjectId": format!("aad-{name}"), "email": email,
            "userPrincipalName": email, "tenantId": "9c1d0000-0000-0000-0000-00000000face",
            "userRole": "guest"
        }));
    }

    /// A B2B guest listed in our own tenant: our tenant id, `userRole: guest`, and the UPN
    /// `upn` (usually `…#EXT#@….onmicrosoft.com`).
    pub fn add_tenant_guest(&self, id: &str, name: &str, email: &str, upn: &str) {
        self.lock().members.push(json!({
            "id": id, "name": name, "aadObjectId": format!("aad-{name}"), "email": email,
            "userPrincipalName": upn, "tenantId": TENANT, "userRole": "guest"
        }));
    }

    /// A Teams user (a guest, a service account) with neither email nor UPN.
    pub fn add_member_without_email(&self, id: &str, name: &str) {
        self.lock().members.push(json!({
            "id": id, "name": name, "aadObjectId": format!("aad-{name}"), "tenantId": TENANT
        }));
    }

    /// A message a user typed in `conversation`, as Teams keeps it (the bot may reply to it).
    pub fn receive(&self, conversation: &str, id: &str, activity: &Value) {
        self.lock()
            .stored
            .insert((conversation.to_string(), id.to_string()), activity.clone());
    }

    pub fn member_lookups(&self) -> usize {
        self.lock().member_lookups
    }

    /// What the bot sent to a conversation (posts and replies), oldest first, each as it stands
    /// now, with its id.
    pub fn conversation(&self, conversation: &str) -> Vec<(String, Value)> {
        let state = self.lock();
        state
            .sent
            .iter()
            .filter(|(c, _)| c == conversation)
            .map(|key| (key.1.clone(), state.stored[key].clone()))
            .collect()
    }

    /// The id of the activity that activity `id` in `conversation` replies to, if it is a reply.
    pub fn replied_to(&self, conversation: &str, id: &str) -> Option<String> {
        let key = (conversation.to_string(), id.to_string());
        self.lock().replied_to.get(&key).cloned()
    }

    pub fn token_url(&self) -> String {
        format!("{}/botframework.com/oauth2/v2.0/token", self.url)
    }

    /// The `serviceUrl` activities come from, as Teams sends it (with a trailing slash).
    pub fn service_url(&self) -> String {
        format!("{}/", self.url)
    }

    /// A channel or chat the bot is in.
    pub fn add_conversation(&self, id: &str) {
        self.lock().conversations.push(id.to_string());
    }

    pub fn fail_next(&self, status: StatusCode) {
        self.lock().faults.push_back(status);
    }

    /// Every token handed out so far stops working, as when they expire.
    pub fn revoke_tokens(&self) {
        self.lock().valid_tokens.clear();
    }

    pub fn tokens_issued(&self) -> usize {
        self.lock().tokens_issued
    }

    pub fn activities(&self) -> Vec<Activity> {
        self.lock().activities.clone()
    }

    /// The activity as it stands now, after every update.
    pub fn activity(&self, conversation: &str, id: &str) -> Option<Value> {
        self.lock()
            .stored
            .get(&(conversation.to_string(), id.to_string()))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().unwrap()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

async fn token(
    State(state): State<Arc<Mutex<State_>>>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "client_credentials" {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003",
        );
    }
    if field("client_id") != TEAMS_APP_ID || field("client_secret") != TEAMS_APP_PASSWORD {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if field("scope") != "https://api.botframework.com/.default" {
        return error(StatusCode::BAD_REQUEST, "invalid_scope", "AADSTS70011");
    }
    let mut state = state.lock().unwrap();
    state.tokens_issued += 1;
    let token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake.{}",
        state.tokens_issued
    );
    state.valid_tokens.push(token.clone());
    Json(json!({
        "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token
    }))
    .into_response()
}

/// Checks the bearer token and any injected fault; `Some` is the answer to give instead.
fn refused(state: &mut State_, headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| state.valid_tokens.iter().any(|v| v == t)) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization has been denied for this request.",
        ));
    }
    state
        .faults
        .pop_front()
        .map(|status| error(status, "ServiceError", "injected"))
}

fn record(
    state: &mut State_,
    method: &'static str,
    conversation: &str,
    activity_id: Option<&str>,
    body: &Value,
) {
    state.activities.push(Activity {
        method,
        conversation: conversation.to_string(),
        activity_id: activity_id.map(String::from),
        body: body.clone(),
    });
}

fn new_id(state: &mut State_) -> String {
    state.next_id += 1;
    format!("1700000000{:06}", state.next_id)
}

async fn send(
    State(state): State<Arc<Mutex<State_>>>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(refusal) = refused(&mut state, &headers) {
        return refusal;
    }
    if !state.conversations.contains(&conversation) {
        return error(
            StatusCode::NOT_FOUND,
            "ConversationNotFound",
            "Conversation not found.",
        );
    }
    if body["type"] != "message" {
        return error(
            StatusCode::BAD_REQUEST,
            "BadSyntax",
            "Activity type must be message",
        );
    }
    record(&mut state, "send", &conversation, None, &body);
    let id = new_id(&mut state);
    state.sent.push((conversation.clone(), id.clone()));
    state.stored.insert((conversation, id.clone()), body);
    Json(json!({ "id": id })).into_response()
}

/// The token check and the activity's existence, shared by reply and update; the locked state.
fn existing<'a>(
    state: &'a Mutex<State_>,
    headers: &HeaderMap,
    conversation: &str,
    activity: &str,
) -> Result<std::sync::MutexGuard<'a, State_>, Box<Response>> {
    let mut state = state.lock().unwrap();
    if let Some(refusal) = refused(&mut state, headers) {
        return Err(Box::new(refusal));
    }
    if !state
        .stored
        .contains_key(&(conversation.to_string(), activity.to_string()))
    {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "ActivityNotFound",
            "Activity not found.",
        )));
    }
    Ok(state)
}

async fn reply(
    State(state): State<Arc<Mutex<State_>>>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut state = match existing(&state, &headers, &conversation, &activity) {
        Ok(state) => state,
        Err(refusal) => return *refusal,
    };
    record(&mut state, "reply", &conversation, Some(&activity), &body);
    let id = new_id(&mut state);
    state.sent.push((conversation.clone(), id.clone()));
    let key = (conversation.clone(), id.clone());
    state.replied_to.insert(key, activity);
    state.stored.insert((conversation, id.clone()), body);
    Json(json!({ "id": id })).into_response()
}

async fn update(
    State(state): State<Arc<Mutex<State_>>>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    // A channel thread's conversation id names its root (`<channel>;messageid=<root>`), as in
    // an invoke's `conversation.id`; the activity is the channel's.
    let conversation = match conversation.split_once(";messageid=") {
        Some((channel, _)) => channel.to_string(),
        None => conversation,
    };
    let mut state = match existing(&state, &headers, &conversation, &activity) {
        Ok(state) => state,
        Err(refusal) => return *refusal,
    };
    record(&mut state, "update", &conversation, Some(&activity), &body);
    state.stored.insert((conversation, activity.clone()), body);
    Json(json!({ "id": activity })).into_response()
}

async fn create_conversation(
    State(state): State<Arc<Mutex<State_>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(refusal) = refused(&mut state, &headers) {
        return refusal;
    }
    let member = body["members"][0]["id"].as_str().unwrap_or("");
    if body["isGroup"] != false || member.is_empty() || body["tenantId"].as_str().is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "BadArgument",
            "A 1:1 conversation needs one member and the tenant.",
        );
    }
    let id = format!("a:personal-{member}");
    if !state.conversations.contains(&id) {
        state.conversations.push(id.clone());
    }
    Json(json!({ "id": id })).into_response()
}

async fn member(
    State(state): State<Arc<Mutex<State_>>>,
    Path((conversation, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(refusal) = refused(&mut state, &headers) {
        return refusal;
    }
    state.member_lookups += 1;
    if !state.conversations.contains(&conversation) {
        return error(
            StatusCode::NOT_FOUND,
            "ConversationNotFound",
            "Conversation not found.",
        );
    }
    let wanted = member.to_lowercase();
    let found = state.members.iter().find(|m| {
        ["id", "email", "userPrincipalName", "aadObjectId"]
            .iter()
            .any(|k| m[k].as_str().is_some_and(|v| v.to_lowercase() == wanted))
    });
    match found {
        Some(m) => Json(m.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "MemberNotFoundInConversation",
            "The member was not found in the conversation.",
        ),
    }
}
