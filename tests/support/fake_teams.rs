//! A fake Bot Framework on 127.0.0.1: the client-credentials token endpoint and the Bot
//! Connector REST API (`/v3/conversations…`), answering like the real ones, checking the token
//! on every call, recording every activity and keeping the latest version of each.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
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
}

#[derive(Clone)]
pub struct FakeTeams {
    pub url: String,
    state: Arc<Mutex<State_>>,
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
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeTeams { url, state }
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
    state.stored.insert((conversation, id.clone()), body);
    Json(json!({ "id": id })).into_response()
}

async fn update(
    State(state): State<Arc<Mutex<State_>>>,
    Path((conversation, activity)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
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
