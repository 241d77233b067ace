//! A fake Slack Web API on 127.0.0.1 that answers like Slack (`ok`, `error`, `channel`, `ts`),
//! checks the bot token, records every call, keeps the latest version of every message, and can
//! be told to fail the next call of a method, or to hang (see `hang`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::Notify;

mod blocks;
mod files;
mod hang;
mod messages;
pub mod requests;
mod socket;
mod users;
mod views;

pub use socket::SocketServer;

use files::{UploadedFile, upload};
use hang::Hang;

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// What the fake answered (Slack's JSON body).
    pub response: Value,
}

impl Call {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).and_then(Value::as_str).unwrap_or("")
    }

    pub fn text(&self) -> &str {
        self.param("text")
    }
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// `{"ok": false, "error": code}` with HTTP 200, as Slack answers most errors.
    Error(&'static str),
    /// HTTP 429 with `Retry-After`, as Slack rate-limits.
    RateLimited { retry_after_secs: u64 },
}

impl Call {
    pub fn is_dm(&self) -> bool {
        self.method == "chat.postMessage" && self.param("channel").starts_with('D')
    }

    pub fn thread_ts(&self) -> Option<&str> {
        self.params.get("thread_ts").and_then(Value::as_str)
    }
}

#[derive(Default)]
pub(super) struct State_ {
    calls: Vec<Call>,
    consumed: HashSet<usize>,
    messages: BTreeMap<(String, String), Value>,
    users: HashMap<String, Value>,
    /// Channels' `conversations.info`, by ID.
    channels: HashMap<String, Value>,
    usergroups: HashMap<String, Vec<String>>,
    files: BTreeMap<String, UploadedFile>,
    /// The Home tab each user was last shown.
    homes: HashMap<String, Value>,
    base_url: String,
    faults: HashMap<String, VecDeque<Fault>>,
    failing: HashMap<String, &'static str>,
    missing_channels: HashSet<String>,
    /// Channels the bot is a member of; `None`: every channel.
    member_of: Option<HashSet<String>>,
    next_ts: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    url: String,
    token: String,
    state: Arc<Mutex<State_>>,
    changed: Arc<Notify>,
    hang: Hang,
    /// Socket Mode: the connections the bot opened with `apps.connections.open`.
    pub socket: SocketServer,
}

/// The app-level token Socket Mode connects with (`apps.connections.open` takes no other).
pub const APP_TOKEN: &str = "xapp-1-A0PRODACCESS-test";

#[derive(Clone)]
pub(super) struct Shared {
    token: String,
    state: Arc<Mutex<State_>>,
    changed: Arc<Notify>,
    hang: Hang,
    socket: SocketServer,
}

impl FakeSlack {
    pub async fn start(token: &str) -> FakeSlack {
        let state = Arc::new(Mutex::new(State_ {
            next_ts: 1_700_000_000_000_100,
            ..State_::default()
        }));
        let changed = Arc::new(Notify::new());
        let socket = SocketServer::start().await;
        let hang = Hang::new(changed.clone());
        let shared = Shared {
            token: token.to_string(),
            state: state.clone(),
            changed: changed.clone(),
            hang: hang.clone(),
            socket: socket.clone(),
        };
        let router = Router::new()
            .route("/api/{method}", any(handle))
            .route("/upload/{file_id}", axum::routing::post(upload))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        state.lock().unwrap().base_url = format!("http://{addr}");
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeSlack {
            url: format!("http://{addr}/api"),
            token: token.to_string(),
            state,
            changed,
            hang,
            socket,
        }
    }

    /// The base URL to configure as `slack.api_url`.
    pub fn api_url(&self) -> &str {
        &self.url
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn fail_next(&self, method: &str, fault: Fault) {
        self.lock()
            .faults
            .entry(method.to_string())
            .or_default()
            .push_back(fault);
    }

    /// Creates or replaces a user group (`S…`) with these members.
    pub fn set_usergroup(&self, id: &str, members: &[&str]) {
        let members = members.iter().map(|m| m.to_string()).collect();
        self.lock().usergroups.insert(id.to_string(), members);
    }

    /// From now on every Web API call is read and held open with no answer, as when Slack hangs,
    /// until `stop_hanging` or until the caller gives up.
    pub fn hang(&self) {
        self.hang.set(true);
    }

    /// Slack answers again, the calls held open included.
    pub fn stop_hanging(&self) {
        self.hang.set(false);
    }

    /// How many calls of `method` are held open, unanswered, right now.
    pub fn held(&self, method: &str) -> usize {
        self.hang.held(method)
    }

    /// Waits until a call of `method` is held open; panics after 10 seconds.
    pub async fn wait_until_held(&self, method: &str) {
        self.hang.wait_until_held(method).await;
    }

    /// Every call of `method` fails with `code` from now on.
    pub fn fail_always(&self, method: &str, code: &'static str) {
        self.lock().failing.insert(method.to_string(), code);
    }

    pub fn remove_channel(&self, channel: &str) {
        self.lock().missing_channels.insert(channel.to_string());
    }

    /// A channel `conversations.info` describes, with its name and topic, created by `U0ADMIN`
    /// days before the tests' clock starts.
    pub fn add_channel(&self, id: &str, name: &str, topic: &str) {
        self.add_channel_created(id, name, topic, "U0ADMIN", 1_795_000_000);
    }

    /// A channel created by `creator` (a user ID) at `created` (Unix seconds), as Slack's
    /// `conversations.info` reports them.
    pub fn add_channel_created(
        &self,
        id: &str,
        name: &str,
        topic: &str,
        creator: &str,
        created: i64,
    ) {
        let channel = json!({
            "id": id, "name": name, "name_normalized": name, "created": created,
            "creator": creator, "is_channel": true, "is_private": false, "is_archived": false,
            "is_member": true, "num_members": 12,
            "topic": { "value": topic, "creator": creator, "last_set": created },
            "purpose": { "value": "", "creator": "", "last_set": 0 },
        });
        self.lock().channels.insert(id.to_string(), channel);
    }

    /// From now on the bot may post only in these channels (and DMs), like a bot that was invited
    /// to them and nowhere else.
    pub fn bot_member_of(&self, channels: &[&str]) {
        self.lock().member_of = Some(channels.iter().map(|c| c.to_string()).collect());
    }

    pub fn leave_channel(&self, channel: &str) {
        if let Some(channels) = self.lock().member_of.as_mut() {
            channels.remove(channel);
        }
    }

    /// Every call of `method` so far, oldest first.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    pub fn call_count(&self) -> usize {
        self.lock().calls.len()
    }

    /// The oldest call matching `test` not yet returned by `next_*`; panics after 10 seconds.
    pub async fn next_matching(&self, what: &str, test: impl Fn(&Call) -> bool) -> Call {
        let timeout = Duration::from_secs(10);
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if let Some(call) = self.take(&test) {
                    return call;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(call) => call,
            Err(_) => panic!(
                "no {what} within {timeout:?}; calls so far: {:#?}",
                self.lock()
                    .calls
                    .iter()
                    .map(|c| format!("{} {} {}", c.method, c.param("channel"), c.text()))
                    .collect::<Vec<_>>()
            ),
        }
    }

    pub async fn next_call(&self, method: &str) -> Call {
        self.next_matching(method, |c| c.method == method).await
    }

    fn take(&self, test: &impl Fn(&Call) -> bool) -> Option<Call> {
        let mut state = self.lock();
        let index = (0..state.calls.len())
            .find(|i| !state.consumed.contains(i) && test(&state.calls[*i]))?;
        state.consumed.insert(index);
        Some(state.calls[index].clone())
    }

    /// The content of every file shared, with the channel it was shared in.
    pub fn shared_files(&self) -> Vec<(String, String, Vec<u8>)> {
        self.lock()
            .files
            .values()
            .filter_map(|f| Some((f.name.clone(), f.shared_in.clone()?, f.bytes.clone()?)))
            .collect()
    }

    /// The message as it stands now, after every update.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        self.lock()
            .messages
            .get(&(channel.to_string(), ts.to_string()))
            .cloned()
    }

    /// The Home tab `user` was last shown (`views.publish`).
    pub fn home(&self, user: &str) -> Option<Value> {
        self.lock().homes.get(user).cloned()
    }

    /// The text of every message in `channel`, oldest first.
    pub fn channel_texts(&self, channel: &str) -> Vec<String> {
        self.lock()
            .messages
            .iter()
            .filter(|((c, _), _)| c == channel)
            .map(|(_, m)| m["text"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().unwrap()
    }
}

fn params(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut params = serde_json::Map::new();
    let mut add_form = |text: &str| {
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    };
    if let Some(q) = &query {
        add_form(q);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) {
            params.extend(fields);
        }
    } else if !body.is_empty() {
        add_form(&String::from_utf8_lossy(body));
    }
    Value::Object(params)
}

pub(super) struct Reply {
    status: StatusCode,
    retry_after_secs: Option<u64>,
    body: Value,
}

pub(super) fn ok(body: Value) -> Reply {
    Reply {
        status: StatusCode::OK,
        retry_after_secs: None,
        body,
    }
}

pub(super) fn slack_error(code: &str) -> Reply {
    ok(json!({ "ok": false, "error": code }))
}

async fn handle(
    State(shared): State<Shared>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.hang.hold(&method).await;
    let params = params(query, &headers, &body);
    let reply = {
        let mut state = shared.state.lock().unwrap();
        let reply = if method == "apps.connections.open" {
            open_connection(&shared, &headers)
        } else {
            respond(&shared.token, &mut state, &method, &headers, &params)
        };
        if reply.body["error"] != "not_authed" && reply.body["error"] != "invalid_auth" {
            state.calls.push(Call {
                method: method.clone(),
                params,
                response: reply.body.clone(),
            });
        }
        reply
    };
    shared.changed.notify_waiters();
    let mut response = (reply.status, Json(reply.body)).into_response();
    if let Some(secs) = reply.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.to_string().parse().unwrap());
    }
    response
}

/// A string parameter of a Web API call, empty when absent.
pub(super) fn param(params: &Value, name: &str) -> String {
    params
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// A parameter that holds JSON: sent as a string in form bodies, as a value in JSON ones.
pub(super) fn json_param(params: &Value, name: &str) -> Value {
    match params.get(name) {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// `apps.connections.open` takes the app-level token only, as Slack does.
fn open_connection(shared: &Shared, headers: &HeaderMap) -> Reply {
    match bearer(headers) {
        None => slack_error("not_authed"),
        Some(APP_TOKEN) => ok(json!({ "ok": true, "url": shared.socket.ticket_url() })),
        Some(sent) if sent == shared.token => slack_error("not_allowed_token_type"),
        Some(_) => slack_error("invalid_auth"),
    }
}

fn respond(
    token: &str,
    state: &mut State_,
    method: &str,
    headers: &HeaderMap,
    params: &Value,
) -> Reply {
    if let Some(refusal) = refused(token, state, method, headers) {
        return refusal;
    }
    match method {
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => {
            messages::write(state, method, params)
        }
        "chat.getPermalink" => messages::permalink(state, params),
        "conversations.open" => users::open_dm(state, params),
        "views.open" => views::open(params),
        "views.publish" => views::publish(state, params),
        "files.getUploadURLExternal" => files::upload_url(state, params),
        "files.completeUploadExternal" => files::complete_upload(state, params),
        "usergroups.users.list" => users::usergroup_members(state, params),
        "users.lookupByEmail" => users::by_email(state, params),
        "users.info" => users::info(state, params),
        "conversations.info" => users::channel_info(state, params),
        _ => slack_error("unknown_method"),
    }
}

/// Slack's answer before any method runs: a missing or wrong token, or a failure the test set.
fn refused(token: &str, state: &mut State_, method: &str, headers: &HeaderMap) -> Option<Reply> {
    match bearer(headers) {
        None => return Some(slack_error("not_authed")),
        Some(sent) if sent != token => return Some(slack_error("invalid_auth")),
        Some(_) => {}
    }
    if let Some(code) = state.failing.get(method) {
        return Some(slack_error(code));
    }
    let fault = state.faults.get_mut(method).and_then(VecDeque::pop_front)?;
    Some(match fault {
        Fault::Error(code) => slack_error(code),
        Fault::RateLimited { retry_after_secs } => Reply {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after_secs: Some(retry_after_secs),
            body: json!({ "ok": false, "error": "ratelimited" }),
        },
    })
}
