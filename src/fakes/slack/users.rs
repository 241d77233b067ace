//! The fake Slack's people and places: profiles (`users.info`, `users.lookupByEmail`), user
//! groups (`usergroups.users.list`), direct-message channels (`conversations.open`) and channels
//! (`conversations.info`).

use serde_json::{Value, json};

use super::{FakeSlack, Reply, State_, ok, param, slack_error};

/// `conversations.open` for one user: their DM channel, `D` + their ID.
pub(super) fn open_dm(state: &State_, params: &Value) -> Reply {
    let users = match params.get("users") {
        Some(Value::Array(users)) => users
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect::<Vec<_>>(),
        Some(Value::String(users)) => users.split(',').map(String::from).collect(),
        _ => vec![],
    };
    match users.as_slice() {
        [] => slack_error("users_list_not_supplied"),
        [user] if state.users.contains_key(user) => {
            ok(json!({ "ok": true, "channel": { "id": format!("D{user}") } }))
        }
        [_] => slack_error("user_not_found"),
        _ => slack_error("not_implemented"),
    }
}

pub(super) fn usergroup_members(state: &State_, params: &Value) -> Reply {
    match state.usergroups.get(&param(params, "usergroup")) {
        Some(members) => ok(json!({ "ok": true, "users": members })),
        None => slack_error("no_such_subteam"),
    }
}

pub(super) fn by_email(state: &State_, params: &Value) -> Reply {
    let email = param(params, "email");
    let found = state
        .users
        .values()
        .find(|u| u["profile"]["email"].as_str() == Some(email.as_str()));
    match found {
        Some(user) => ok(json!({ "ok": true, "user": user })),
        None => slack_error("users_not_found"),
    }
}

pub(super) fn info(state: &State_, params: &Value) -> Reply {
    match state.users.get(&param(params, "user")) {
        Some(user) => ok(json!({ "ok": true, "user": user })),
        None => slack_error("user_not_found"),
    }
}

pub(super) fn channel_info(state: &State_, params: &Value) -> Reply {
    match state.channels.get(&param(params, "channel")) {
        Some(channel) => ok(json!({ "ok": true, "channel": channel })),
        None => slack_error("channel_not_found"),
    }
}

impl FakeSlack {
    /// A member of the workspace, as `users.info` shows them: confirmed when they have an email.
    pub fn add_user(&self, id: &str, name: &str, email: Option<&str>) {
        let mut profile = json!({ "real_name": name, "display_name": name });
        if let Some(email) = email {
            profile["email"] = json!(email);
        }
        let user = json!({
            "id": id, "team_id": "T0FAKE", "name": name, "real_name": name, "deleted": false,
            "is_bot": false, "is_app_user": false, "is_admin": false, "is_owner": false,
            "is_restricted": false, "is_ultra_restricted": false, "is_stranger": false,
            "is_email_confirmed": email.is_some(), "tz": "Europe/Berlin", "profile": profile,
        });
        self.lock().users.insert(id.to_string(), user);
    }

    /// Changes fields of a user as Slack would show them from now on, e.g.
    /// `{"deleted": true}`, `{"is_restricted": true}` or `{"profile": {"email": …}}`
    /// (a `profile` object is merged into the profile).
    pub fn update_user(&self, id: &str, changes: Value) {
        let mut state = self.lock();
        let Some(user) = state.users.get_mut(id) else {
            panic!("the fake Slack has no user {id}");
        };
        let Value::Object(changes) = changes else {
            panic!("update_user takes a JSON object");
        };
        for (key, value) in changes {
            match (key.as_str(), value) {
                ("profile", Value::Object(fields)) => {
                    for (field, value) in fields {
                        user["profile"][field] = value;
                    }
                }
                (_, value) => user[key] = value,
            }
        }
    }

    /// The user as `users.info` would show them now.
    pub fn user(&self, id: &str) -> Value {
        self.lock().users.get(id).cloned().unwrap_or(Value::Null)
    }
}
