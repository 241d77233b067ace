//! The real server serving Teams: a fake Bot Framework (connector, member directory, signed
//! activities) and a fake Kubernetes API on 127.0.0.1, and a manual clock.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prod_access::clock::{Clock, ManualClock};
use prod_access::config::Secrets;
use serde_json::{Value, json};

use super::bot::{RunningBot, cluster_of};
use super::fake_teams::{FakeTeams, TEAMS_APP_ID, TEAMS_APP_PASSWORD, TENANT};
use super::{FakeKube, WEBHOOK_SECRET, init, t0};

pub const T_APPROVALS: &str = "19:approvals0123456789abcdef@thread.tacv2";
pub const T_AUDIT: &str = "19:auditlog0123456789abcdef@thread.tacv2";
/// The team of both channels (its General channel's conversation ID, as Teams gives it).
/// An incident channel, listed by its conversation ID.
pub const T_INCIDENT: &str = "19:incident0123456789abcdef@thread.tacv2";
pub const T_TEAM: &str = "19:team0123456789abcdef@thread.tacv2";
/// alice's chat with the bot, where she types her requests.
pub const ALICE_CHAT: &str = "a:1alice-chat-with-prod-access";
pub const T_ALICE: &str = "29:1alice-teams-id";
pub const T_BOB: &str = "29:1bob-teams-id";
pub const T_CAROL: &str = "29:1carol-teams-id";
/// In the team, but not an approver.
pub const T_MALLORY: &str = "29:1mallory-teams-id";
/// The chat in which `teams_id` types to the bot (`ALICE_CHAT` for alice).
pub fn chat_with_bot(teams_id: &str) -> String {
    let name = teams_id
        .trim_start_matches("29:1")
        .trim_end_matches("-teams-id");
    format!("a:1{name}-chat-with-prod-access")
}
/// In Teams, the bot opens 1:1 conversations with this id (the fake's naming).
pub fn personal_chat(teams_id: &str) -> String {
    format!("a:personal-{teams_id}")
}

pub struct TeamsHarness {
    pub teams: FakeTeams,
    pub kube: FakeKube,
    pub clock: Arc<ManualClock>,
    pub bot: RunningBot,
    http: reqwest::Client,
    next_id: AtomicU64,
    /// (conversation, activity id) of what the stories' `next_*` have returned.
    pub(super) taken: Mutex<HashSet<(String, String)>>,
    /// The card the last click a story made was answered with.
    pub last_click_answer: Mutex<Value>,
}

fn config_yaml(teams: &FakeTeams, store: &std::path::Path) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
store_path: {store}
teams:
  app_id: {TEAMS_APP_ID}
  tenant_id: {TENANT}
  approvals_channel: "{T_APPROVALS}"
  audit_channel: "{T_AUDIT}"
  service_url: {service_url}
  openid_metadata_url: {metadata}
  token_url: {token_url}
identity:
  allowed_email_domains: [example.com]
kubernetes:
  subject_prefix: "oidc:"
policy:
  approvers: [bob@example.com, Carol@Example.com]
  incidents:
    channels: ["{T_INCIDENT}"]
    reference_pattern: "INC-[0-9]+"
  requests:
    review_timeout: 1h
    reminder_before: 10m
  roles:
    edit:
      cluster_role: edit
      namespaces: [payments, orders]
      max_duration: 4h
      cleanup: {{ restart_pods: true, delete_leftovers: true }}
    view:
      cluster_role: view
      namespaces: [payments]
      max_duration: 8h
    emergency:
      cluster_role: admin
      namespaces: [payments, orders]
      max_duration: 4h
      approvals: 2
      break_glass: {{ max_duration: 1h, requesters: [alice@example.com] }}
"#,
        store = store.display(),
        service_url = teams.service_url(),
        metadata = teams.metadata_url(),
        token_url = teams.token_url(),
    )
}

impl TeamsHarness {
    pub async fn start() -> TeamsHarness {
        init();
        let teams = FakeTeams::start().await;
        teams.add_member(T_ALICE, "Alice", "alice@example.com");
        teams.add_member(T_BOB, "Bob", "bob@example.com");
        teams.add_member(T_CAROL, "Carol", "carol@example.com");
        teams.add_member(T_MALLORY, "Mallory", "mallory@example.com");
        for conversation in [T_APPROVALS, T_AUDIT, T_TEAM, T_INCIDENT] {
            teams.add_conversation(conversation);
        }
        for person in [T_ALICE, T_BOB, T_CAROL, T_MALLORY] {
            teams.add_conversation(&chat_with_bot(person));
        }
        let kube = FakeKube::start(&["payments", "orders"]).await;
        let store = tempfile::tempdir().unwrap();
        let bot = RunningBot::new(&config_yaml(&teams, store.path()), store);
        let mut harness = TeamsHarness {
            teams,
            kube,
            clock: ManualClock::new(t0()),
            bot,
            http: reqwest::Client::new(),
            next_id: AtomicU64::new(1),
            taken: Mutex::default(),
            last_click_answer: Mutex::default(),
        };
        harness.start_server().await;
        harness
    }

    /// Starts the bot on the harness's store, with the Teams app's secrets.
    pub(super) async fn start_server(&mut self) {
        let secrets = Secrets {
            teams_app_password: Some(TEAMS_APP_PASSWORD.into()),
            audit_webhook_secret: Some(WEBHOOK_SECRET.into()),
            k8s_audit_token: Some(super::K8S_AUDIT_TOKEN.into()),
            ..Secrets::default()
        };
        let clusters = BTreeMap::from([("default".to_string(), cluster_of(&self.kube))]);
        self.bot.start(&secrets, clusters, self.clock.clone()).await;
    }

    fn activity_id(&self) -> String {
        format!("1f{:010}", self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    /// The thread a message typed in `channel` starts, as Teams names it.
    pub fn thread_of(channel: &str) -> String {
        format!("{channel};messageid=1700000000000001")
    }

    /// An activity as the Bot Connector sends it, from Teams user `from` in `conversation`.
    pub fn activity(&self, from: &str, conversation: &str, kind: &str) -> Value {
        let personal = conversation.starts_with("a:");
        // In a channel, Teams names the thread: `<channel>;messageid=<root>`, and says the team.
        let (conversation, channel_data) = if personal {
            (
                conversation.to_string(),
                json!({ "tenant": { "id": TENANT } }),
            )
        } else {
            (
                TeamsHarness::thread_of(conversation),
                json!({
                    "tenant": { "id": TENANT },
                    "team": { "id": T_TEAM, "name": "Platform" },
                    "channel": { "id": conversation }
                }),
            )
        };
        json!({
            "type": kind,
            "id": self.activity_id(),
            "timestamp": self.clock.now().to_rfc3339(),
            "serviceUrl": self.teams.service_url(),
            "channelId": "msteams",
            "from": { "id": from, "aadObjectId": format!("aad-{from}") },
            "conversation": {
                "id": conversation,
                "conversationType": if personal { "personal" } else { "channel" },
                "tenantId": TENANT,
                "isGroup": !personal
            },
            "recipient": { "id": format!("28:{TEAMS_APP_ID}"), "name": "prod-access" },
            "channelData": channel_data,
            "locale": "en-US"
        })
    }

    /// POSTs `activity` to `/teams/messages` with the Bot Framework's token (or `authorization`).
    pub async fn deliver(
        &self,
        activity: &Value,
        authorization: Option<String>,
    ) -> reqwest::Response {
        let authorization =
            authorization.unwrap_or_else(|| self.teams.authorization(self.clock.now()));
        self.http
            .post(self.bot.url("/teams/messages"))
            .header("authorization", authorization)
            .json(activity)
            .send()
            .await
            .unwrap()
    }

    /// `from` types `text` in `conversation` (stored in the fake, so the bot can reply to it).
    pub async fn say(&self, from: &str, conversation: &str, text: &str) -> u16 {
        let mut activity = self.activity(from, conversation, "message");
        activity["text"] = json!(text);
        activity["textFormat"] = json!("plain");
        let id = activity["id"].as_str().unwrap().to_string();
        let thread = activity["conversation"]["id"].as_str().unwrap().to_string();
        self.teams.receive(&thread, &id, &activity);
        self.deliver(&activity, None).await.status().as_u16()
    }

    /// `from` clicks the card button `verb` for `grant`; returns the invoke's status and body.
    pub async fn click(&self, from: &str, verb: &str, grant: &str) -> (u16, Value) {
        self.click_with(from, verb, json!({ "grant": grant })).await
    }

    /// `from` clicks the action `verb` whose data is `data`.
    pub async fn click_with(&self, from: &str, verb: &str, data: Value) -> (u16, Value) {
        self.click_on_card(from, (T_APPROVALS, None), verb, data)
            .await
    }

    /// `from` clicks the action `verb`, whose data is `data`, on the card of activity `card` (when
    /// given) in `channel`.
    pub async fn click_on_card(
        &self,
        from: &str,
        (channel, card): (&str, Option<&str>),
        verb: &str,
        data: Value,
    ) -> (u16, Value) {
        let mut activity = self.activity(from, channel, "invoke");
        if let Some(card) = card {
            activity["replyToId"] = json!(card);
        }
        activity["name"] = json!("adaptiveCard/action");
        activity["value"] = json!({
            "action": { "type": "Action.Execute", "verb": verb, "data": data },
            "trigger": "manual"
        });
        let response = self.deliver(&activity, None).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `conversation` holds more than `seen` activities and returns the next one's
    /// text (as it stands now).
    /// Waits for an activity in `conversation` whose text says `phrase`.
    pub async fn showing(&self, conversation: &str, phrase: &str) -> Value {
        for _ in 0..500 {
            let found = self
                .teams
                .conversation(conversation)
                .into_iter()
                .find(|(_, a)| activity_text(a).contains(phrase));
            if let Some((_, activity)) = found {
                return activity;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "{conversation} never said {phrase}: {:#?}",
            self.teams.conversation(conversation)
        );
    }

    pub async fn next_in(&self, conversation: &str, seen: usize) -> String {
        for _ in 0..500 {
            let activities = self.teams.conversation(conversation);
            if activities.len() > seen {
                return activity_text(&activities[seen].1);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "nothing new in {conversation}: {:#?}",
            self.teams.conversation(conversation)
        );
    }

    /// Waits until the approval card of `grant` satisfies `test`, and returns all its text.
    pub async fn card_showing(&self, grant: &str, test: impl Fn(&str) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..500 {
            if let Some((_, card)) =
                self.teams
                    .conversation(T_APPROVALS)
                    .into_iter()
                    .find(|(_, a)| {
                        a.to_string().contains(&format!("\"grant\":\"{grant}\""))
                            || activity_text(a).contains(grant)
                    })
            {
                if test(&activity_text(&card)) {
                    return card;
                }
                last = card;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the card of {grant} never showed what was expected: {last:#}");
    }
}

/// Every text of an activity: its `text` and every string in its Adaptive Cards.
pub fn activity_text(activity: &Value) -> String {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = vec![activity["text"].as_str().unwrap_or("").to_string()];
    collect(&activity["attachments"], &mut out);
    out.join("\n")
}

/// The Action.Execute buttons of an activity's cards: (verb, grant).
pub fn card_actions(activity: &Value) -> Vec<(String, String)> {
    fn collect(value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => {
                if map.get("type") == Some(&json!("Action.Execute")) {
                    out.push((
                        map["verb"].as_str().unwrap_or("").to_string(),
                        map["data"]["grant"].as_str().unwrap_or("").to_string(),
                    ));
                }
                map.values().for_each(|v| collect(v, out));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    collect(activity, &mut out);
    out
}
