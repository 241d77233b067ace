//! `prod-access demo`: the real server in this process, with a simulated Slack workspace and an
//! in-memory Kubernetes API on 127.0.0.1 (the fakes the tests use), playing one story on an
//! accelerated clock and printing what each person and system sees. It uses a temporary store
//! and sends nothing beyond loopback.

mod activity;
mod story;
mod transcript;
mod workspace;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use minijinja::context;

use crate::clock::AcceleratedClock;
use crate::cluster::{Cluster, KubeCluster};
use crate::config::{Config, Secrets};
use crate::fakes::kube::FakeKube;
use crate::fakes::slack::FakeSlack;
use crate::server::Server;
use story::Story;
use transcript::Transcript;
use workspace::{APPROVALS, AUDIT, BOB, Workspace};

/// How much faster than real time the demo's clock runs unless `--speed` says otherwise.
pub const DEFAULT_SPEED: f64 = 300.0;

const GRANT: &str = "edit payments 20m INC-123 fixing the stuck payments queue";

fn config_yaml(slack: &FakeSlack, store: &std::path::Path) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
store_path: "{store}"
slack:
  api_url: {api_url}
  approvals_channel: {APPROVALS}
  audit_channel: {AUDIT}
identity:
  allowed_email_domains: [example.com]
kubernetes:
  subject_prefix: "oidc:"
audit:
  digest_schedule: "off"
policy:
  approvers: [{BOB}]
  requests:
    review_timeout: 1h
    reminder_before: 5m
  roles:
    edit:
      cluster_role: edit
      namespaces: [payments, orders]
      max_duration: 4h
      reason: {{ ticket: "INC-[0-9]+" }}
    view:
      cluster_role: view
      namespaces: [payments, orders]
      max_duration: 8h
      reason: {{ required: false }}
"#,
        store = store.display(),
        api_url = slack.api_url(),
    )
}

/// A store directory of its own, removed when the demo ends (however it ends).
struct TempStore(std::path::PathBuf);

impl TempStore {
    fn new() -> anyhow::Result<TempStore> {
        let unique = format!(
            "prod-access-demo-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempStore(path))
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Plays the story, writing the transcript to `out`.
pub async fn run(speed: f64, out: &mut (dyn std::io::Write + Send)) -> anyhow::Result<()> {
    anyhow::ensure!(
        speed.is_finite() && speed >= 1.0,
        "--speed must be at least 1 (real time); {speed} is not"
    );
    let slack = FakeSlack::start(workspace::BOT_TOKEN).await;
    let kube = FakeKube::start(&["payments", "orders", "prod-access"]).await;
    for object in activity::objects_left() {
        kube.put_object(&object);
    }
    let store = TempStore::new()?;
    let config = Config::parse(&config_yaml(&slack, &store.0)).map_err(anyhow::Error::msg)?;
    let clock = AcceleratedClock::new(chrono::Utc::now(), speed);
    let secrets = Secrets {
        slack_bot_token: Some(workspace::BOT_TOKEN.into()),
        slack_signing_secret: Some(workspace::SIGNING_SECRET.into()),
        k8s_audit_token: Some(activity::TOKEN.into()),
        ..Secrets::default()
    };
    let cluster: Arc<dyn Cluster> = Arc::new(KubeCluster::new(kube.client()));
    let clusters = BTreeMap::from([(crate::domain::grant::DEFAULT_CLUSTER.to_string(), cluster)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = Server::start(&config, &secrets, clusters, clock.clone(), listener).await?;
    let workspace = Workspace::new(slack, format!("http://{}", server.addr()));
    let mut t = Transcript::new(out, clock.clone())?;
    t.say("intro", context! { speed => speed.to_string() })?;
    let story = Story {
        workspace: &workspace,
        kube: &kube,
        clock: clock.as_ref(),
        speed,
        t: &mut t,
    }
    .play()
    .await;
    server.stop().await?;
    story?;
    verify_audit_log(&store.0, &mut t).await
}

/// Polls `probe` until it gives a value; `simulated` is how much simulated time it may take.
async fn wait_for<T>(
    speed: f64,
    simulated: Duration,
    probe: impl Fn() -> Option<T>,
) -> anyhow::Result<T> {
    let real = simulated.div_f64(speed) + Duration::from_secs(10);
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = probe() {
            return Ok(found);
        }
        anyhow::ensure!(started.elapsed() < real, "gave up after {real:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The binding as `kubectl get -o yaml` shows it, without the fields only the server cares for.
fn binding_shown(binding: &serde_json::Value) -> serde_json::Value {
    let mut shown = binding.clone();
    if let Some(metadata) = shown["metadata"].as_object_mut() {
        for server_side in [
            "managedFields",
            "uid",
            "resourceVersion",
            "creationTimestamp",
        ] {
            metadata.remove(server_side);
        }
    }
    shown
}

async fn verify_audit_log(store: &std::path::Path, t: &mut Transcript<'_>) -> anyhow::Result<()> {
    t.scene("scene_audit_log")?;
    let location = crate::config::StoreLocation::Sled(store.to_path_buf());
    let log = crate::cli::audit::open_store(&location).await?;
    let mut exported = Vec::new();
    crate::cli::audit::export(&*log, &Default::default(), &mut exported).await?;
    for line in String::from_utf8_lossy(&exported).lines() {
        let entry: serde_json::Value = serde_json::from_str(line)?;
        let actor = match entry["actor"]["user"].as_str() {
            Some(user) => workspace::name_of(user).to_string(),
            None => t.words("the_bot", context! {})?,
        };
        // Padded into columns, so the entries read as a table.
        t.item(
            "audit_entry",
            context! {
                seq => format!("{:<2}", entry["seq"]),
                kind => format!("{:<10}", entry["kind"].as_str().unwrap_or_default()),
                actor => format!("{actor:<9}"),
                grant => entry["grant"].as_str().unwrap_or("-"),
                hash => &entry["hash"].as_str().unwrap_or_default()[..12],
            },
        )?;
    }
    t.line(&format!("  {}", crate::cli::audit::verify(&*log).await?))?;
    t.line("")?;
    t.say("the_end", context! {})
}
