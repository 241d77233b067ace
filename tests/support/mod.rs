//! Test harness: the real server and router, a fake Slack and a fake Kubernetes API on
//! 127.0.0.1, a manual clock, and requests signed the way Slack signs them.
#![allow(dead_code, unused_imports)]

pub mod audit_log;
mod bot;
pub mod child_bot;
pub mod crash_drill;
pub mod driver;
pub use prod_access::fakes::kube as fake_kube;
pub use prod_access::fakes::slack as fake_slack;
pub use prod_access::fakes::teams as fake_teams;
mod grant_objects;
mod incident_harness;
pub mod kube_audit;
pub mod payloads;
pub mod replicas;
pub mod session_activity;
mod slack_input;
pub mod socket_mode;
mod standard_config;
pub mod teams_harness;

use std::collections::BTreeMap;
use std::sync::{Arc, Once};

use chrono::{DateTime, TimeZone, Utc};
pub use prod_access::app::RETRY_POLICY;
use prod_access::clock::ManualClock;
use prod_access::config::{Config, Secrets};
use serde_json::Value;

pub use audit_log::{audit_command, audit_entries, audit_kinds};
pub use bot::RunningBot;
use bot::cluster_of;
pub use driver::{Alice, Bob, Carol, Channel, Driver, Mallory, Person, wait_for};
pub use fake_kube::{FakeKube, KubeFault};
pub use fake_slack::{FakeSlack, Fault};
pub use grant_objects::{GrantObjects, managed_binding};
pub use incident_harness::*;
pub use kube_audit::{K8S_AUDIT_TOKEN, K8S_AUDIT_TOKEN_US, KubeCall, event_list, kube_call};
pub use payloads::*;
pub use prod_access::fakes::on_call::{self as fake_on_call, FakeOnCall};
pub use prod_access::fakes::siem::WebhookReceiver;
use standard_config::config_yaml;
pub use standard_config::slack_basics;
pub use teams_harness::*;

pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const BOT_TOKEN: &str = "xoxb-test-token";
pub const WEBHOOK_SECRET: &str = "audit-webhook-test-secret";
pub const APPROVALS: &str = "C0APPROVALS";
pub const AUDIT: &str = "C0AUDIT";
pub const DEV_CHANNEL: &str = "C0DEV";
pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
pub const CAROL: &str = "U0CAROL";
pub const MALLORY: &str = "U0MALLORY";
pub const DANA: &str = "U0DANA";
pub const ERIN: &str = "U0ERIN";
pub const ONCALL: &str = "S0ONCALL";
pub const ONCALL_CHANNEL: &str = "C0ONCALL";
/// An incident channel by its name (`inc-*`), with a PagerDuty link in its topic.
pub const INCIDENT_CHANNEL: &str = "C0INC42";
pub const INCIDENT_TOPIC: &str = "Paged: https://acme.pagerduty.com/incidents/Q1ABC2DEF | IC: Dana";
/// An incident channel (by name) the bot was not invited to.
pub const UNINVITED_INCIDENT: &str = "C0INC99";
/// An incident channel the policy lists by ID.
pub const WAR_ROOM: &str = "C0WARROOM";
/// The incident tool's bot user: channels it creates are incident channels.
pub const INCIDENT_BOT: &str = "U0INCIDENTBOT";

pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Changes the stopped bot's audit entry 2 after the fact, as someone with access to the store
/// could: it now says carol acted. The chain no longer verifies from there.
pub fn credit_entry_2_to_carol(store: &std::path::Path) {
    let db = open_raw_store(store);
    let audit = db.open_tree("audit").unwrap();
    let key = 2u64.to_be_bytes();
    let mut entry: serde_json::Value =
        serde_json::from_slice(&audit.get(key).unwrap().unwrap()).unwrap();
    entry["actor"]["user"] = "U0CAROL".into();
    audit
        .insert(key, serde_json::to_vec(&entry).unwrap())
        .unwrap();
    db.flush().unwrap();
}

/// The stopped bot's sled database, opened directly (to damage it). sled keeps its file lock a
/// moment after the last handle is dropped, so this waits for it as the bot's own open does.
pub fn open_raw_store(path: &std::path::Path) -> sled::Db {
    for _ in 0..60 {
        match sled::open(path) {
            Ok(db) => return db,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    sled::open(path).unwrap()
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

/// How Slack reaches the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Signed HTTP requests to `/slack/commands` and `/slack/interactions`.
    Http,
    /// Envelopes over the WebSockets the bot opens (`SLACK_APP_TOKEN` set).
    Socket,
}

pub struct Harness {
    pub mode: Mode,
    pub slack: FakeSlack,
    pub kube: FakeKube,
    /// The `us` cluster of `start_multi_cluster`.
    pub second_kube: Option<FakeKube>,
    pub clock: Arc<ManualClock>,
    pub bot: RunningBot,
    /// PagerDuty and Opsgenie, for `start_for_incidents`.
    pub on_call: Option<FakeOnCall>,
    /// With two clusters, `us` is given no audit webhook token at the next (re)start.
    pub us_without_audit_token: bool,
    http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(None, "").await
    }

    /// Slack in `mode`; the configuration is the same.
    pub async fn start_in(mode: Mode) -> Harness {
        Harness::start_in_mode(mode, None, "").await
    }

    /// With every audit entry sent to the webhook at `url`.
    pub async fn start_with_webhook(url: &str) -> Harness {
        let audit = format!("audit:\n  webhook:\n    url: {url}\n");
        Harness::start_with(None, &audit).await
    }

    /// Two clusters, `eu` (served by `kube`) and `us` (by `second_kube`); `edit` applies to
    /// both, `view` only to `eu`.
    pub async fn start_multi_cluster() -> Harness {
        let us = FakeKube::start(&["payments", "orders", "prod-access"]).await;
        Harness::start_with(Some(us), "").await
    }

    /// As `start_multi_cluster`, with `us` given its own kubeconfig settings (server
    /// `https://api.us.example.com:6443`, cluster `us-prod`) and a `token` role issuing
    /// kubeconfigs only there.
    pub async fn start_multi_cluster_with_kubeconfigs() -> Harness {
        let us = FakeKube::start(&["payments", "orders", "prod-access"]).await;
        let clusters = "clusters:\n  eu: {}\n  us:\n    kubeconfig:\n      server: https://api.us.example.com:6443\n      certificate_authority_data: VVMtQ0EK\n      cluster_name: us-prod\n";
        let token_role = "    token:\n      cluster_role: view\n      namespaces: [payments]\n      max_duration: 1h\n      kubeconfig: true\n      clusters: [us]\n";
        Harness::start_full(Mode::Http, Some(us), clusters, token_role, None).await
    }

    /// With `extra_roles` (policy roles, indented as under `roles:`) added to the standard ones.
    pub async fn start_with_roles(extra_roles: &str) -> Harness {
        Harness::start_full(Mode::Http, None, "", extra_roles, None).await
    }

    /// The standard bot with `extra_yaml`'s top-level configuration keys added.
    pub async fn start_with_config(extra_yaml: &str) -> Harness {
        Harness::start_in_mode(Mode::Http, None, extra_yaml).await
    }

    /// `extra_yaml`: top-level configuration keys added to the standard ones.
    async fn start_with(second_kube: Option<FakeKube>, extra_yaml: &str) -> Harness {
        Harness::start_in_mode(Mode::Http, second_kube, extra_yaml).await
    }

    async fn start_in_mode(mode: Mode, second_kube: Option<FakeKube>, extra_yaml: &str) -> Harness {
        Harness::start_full(mode, second_kube, extra_yaml, "", None).await
    }

    /// `extra_roles`: policy roles added to the standard ones; `on_call`: its tokens are set.
    async fn start_full(
        mode: Mode,
        second_kube: Option<FakeKube>,
        extra_yaml: &str,
        extra_roles: &str,
        on_call: Option<FakeOnCall>,
    ) -> Harness {
        init();
        let slack = FakeSlack::start(BOT_TOKEN).await;
        slack.add_user(ALICE, "alice", Some("alice@example.com"));
        slack.add_user(BOB, "bob", Some("bob@example.com"));
        slack.add_user(CAROL, "carol", Some("carol@example.com"));
        slack.add_user(MALLORY, "mallory", Some("mallory@example.com"));
        slack.add_user(DANA, "dana", Some("dana@example.com"));
        slack.add_user(ERIN, "erin", Some("erin@example.com"));
        slack.set_usergroup(ONCALL, &[ERIN]);
        slack.add_channel(INCIDENT_CHANNEL, "inc-42-payments-down", INCIDENT_TOPIC);
        slack.add_channel(DEV_CHANNEL, "dev", "Deploys and chatter");
        slack.add_channel(UNINVITED_INCIDENT, "inc-99-db", "");
        slack.bot_member_of(&[
            APPROVALS,
            AUDIT,
            DEV_CHANNEL,
            ONCALL_CHANNEL,
            INCIDENT_CHANNEL,
            WAR_ROOM,
        ]);
        let kube = FakeKube::start(&["payments", "orders", "prod-access"]).await;
        let store = tempfile::tempdir().unwrap();
        let mut yaml = config_yaml(slack.api_url(), store.path());
        if second_kube.is_some() {
            if !extra_yaml.contains("clusters:") {
                yaml.push_str("clusters:\n  eu: {}\n  us: {}\n");
            }
            yaml = yaml.replace(
                "      kubeconfig: true\n",
                "      kubeconfig: true\n      clusters: [eu]\n",
            );
        }
        yaml.push_str(extra_yaml);
        yaml = yaml.replace("  roles:\n", &format!("  roles:\n{extra_roles}"));
        let mut harness = Harness {
            mode,
            slack,
            kube,
            second_kube,
            clock: ManualClock::new(t0()),
            bot: RunningBot::new(&yaml, store),
            on_call,
            us_without_audit_token: false,
            http: reqwest::Client::new(),
        };
        harness.start_server().await;
        harness
    }

    /// Starts the bot on the harness's store, with the Slack secrets of its mode.
    pub(super) async fn start_server(&mut self) {
        let secrets = Secrets {
            slack_bot_token: Some(BOT_TOKEN.into()),
            // Socket Mode needs no signing secret: nothing is served to Slack over HTTP.
            slack_signing_secret: (self.mode == Mode::Http).then(|| SIGNING_SECRET.into()),
            slack_app_token: (self.mode == Mode::Socket).then(|| fake_slack::APP_TOKEN.into()),
            audit_webhook_secret: Some(WEBHOOK_SECRET.into()),
            teams_app_password: None,
            pagerduty_token: self
                .on_call
                .as_ref()
                .map(|_| fake_on_call::PAGERDUTY_TOKEN.into()),
            opsgenie_api_key: self
                .on_call
                .as_ref()
                .map(|_| fake_on_call::OPSGENIE_KEY.into()),
            // One cluster: the single token; two: each its own.
            k8s_audit_token: self.second_kube.is_none().then(|| K8S_AUDIT_TOKEN.into()),
            k8s_audit_cluster_tokens: match &self.second_kube {
                None => Default::default(),
                Some(_) => [
                    ("PROD_ACCESS_K8S_AUDIT_TOKEN_EU", K8S_AUDIT_TOKEN),
                    ("PROD_ACCESS_K8S_AUDIT_TOKEN_US", K8S_AUDIT_TOKEN_US),
                ]
                .into_iter()
                .filter(|(var, _)| !(self.us_without_audit_token && var.ends_with("_US")))
                .map(|(var, token)| (var.to_string(), token.to_string()))
                .collect(),
            },
        };
        let clusters = match &self.second_kube {
            None => BTreeMap::from([("default".to_string(), cluster_of(&self.kube))]),
            Some(us) => BTreeMap::from([
                ("eu".to_string(), cluster_of(&self.kube)),
                ("us".to_string(), cluster_of(us)),
            ]),
        };
        self.bot.start(&secrets, clusters, self.clock.clone()).await;
    }

    /// Requests access and returns the new grant's id, taken from the approval message button.
    pub async fn request(&self, user: &str, text: &str) -> String {
        let (status, reply) = self.slash(user, text).await;
        assert_eq!(status, 200, "{reply}");
        assert!(
            reply["text"]
                .as_str()
                .unwrap_or("")
                .contains("was sent for approval"),
            "{reply}"
        );
        self.request_posted().await
    }

    /// Waits for the next approval message and returns its grant id.
    pub async fn request_posted(&self) -> String {
        let posted = self
            .slack
            .next_matching("approval message", |c| {
                c.method == "chat.postMessage"
                    && c.response["ok"] == true
                    && button_value(&c.params, "approve").is_some()
            })
            .await;
        button_value(&posted.params, "approve").unwrap()
    }

    /// The next post to the audit channel.
    pub async fn next_audit(&self) -> fake_slack::Call {
        self.slack
            .next_matching("audit post", |c| {
                c.method == "chat.postMessage" && c.param("channel") == AUDIT
            })
            .await
    }

    /// The next direct message to `user`.
    pub async fn next_dm(&self, user: &str) -> fake_slack::Call {
        let channel = format!("D{user}");
        self.slack
            .next_matching("direct message", |c| {
                c.is_dm() && c.param("channel") == channel
            })
            .await
    }

    /// The next reply in the thread of the approval message.
    pub async fn next_thread_reply(&self) -> fake_slack::Call {
        self.slack
            .next_matching("thread reply", |c| c.thread_ts().is_some())
            .await
    }

    /// Where the approval message of `grant` was posted (the post Slack took).
    pub fn approval_post(&self, grant: &str) -> fake_slack::Call {
        self.slack
            .calls("chat.postMessage")
            .into_iter()
            .find(|c| {
                c.response["ok"] == true
                    && button_value(&c.params, "approve").as_deref() == Some(grant)
            })
            .expect("approval message posted")
    }

    /// The approval message of `grant` as it stands now in the fake Slack.
    pub fn approval_message(&self, grant: &str) -> Value {
        let post = self.approval_post(grant);
        let ts = post.response["ts"].as_str().expect("the post succeeded");
        self.slack.message(post.param("channel"), ts).unwrap()
    }
}

/// Waits until `calls` (how many calls the fakes have had) stays the same for a while.
pub async fn until_quiet<T: PartialEq>(calls: impl Fn() -> T) {
    let quiet = std::time::Duration::from_millis(150);
    let mut last = calls();
    for _ in 0..200 {
        tokio::time::sleep(quiet).await;
        let now = calls();
        if now == last {
            return;
        }
        last = now;
    }
    panic!("the bot never settled");
}

/// Fails with the whole text unless `text` says every one of `phrases`.
#[track_caller]
pub fn assert_says_each(text: &str, phrases: &[&str]) {
    for phrase in phrases {
        assert!(text.contains(phrase), "expected {phrase:?} in: {text}");
    }
}

/// Fails with the whole text when `call`'s text does not contain `phrase`.
#[track_caller]
pub fn assert_says(call: &fake_slack::Call, phrase: &str) {
    assert!(
        call.text().contains(phrase),
        "expected {phrase:?} in: {}",
        call.text()
    );
}
