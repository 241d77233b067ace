//! `prod-access demo`: the real server in this process, with a simulated Slack workspace and an
//! in-memory Kubernetes API on 127.0.0.1 (the fakes the tests use), playing one story on an
//! accelerated clock and printing what each person and system sees. It uses a temporary store
//! and sends nothing beyond loopback.

mod activity;
mod transcript;
mod workspace;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::clock::{AcceleratedClock, Clock};
use crate::cluster::{Cluster, KubeCluster};
use crate::config::{Config, Secrets};
use crate::fakes::kube::FakeKube;
use crate::fakes::slack::FakeSlack;
use crate::server::Server;
use transcript::Transcript;
use workspace::{ALICE, APPROVALS, AUDIT, BOB, CAROL, DEV, Workspace};

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
    let mut t = Transcript::new(out, clock.clone());
    t.line(&format!(
        "prod-access demo: a simulated Slack workspace (alice, bob, carol) and an in-memory \
         Kubernetes API on 127.0.0.1, with the real server in between. Time runs {speed}× faster."
    ))?;
    let story = play(&workspace, &kube, clock.as_ref(), speed, &mut t).await;
    server.stop().await?;
    story?;
    verify_audit_log(&store.0, &mut t).await
}

async fn play(
    workspace: &Workspace,
    kube: &FakeKube,
    clock: &dyn Clock,
    speed: f64,
    t: &mut Transcript<'_>,
) -> anyhow::Result<()> {
    t.section("1. alice asks for access")?;
    t.says("alice", &format!("/prod-access {GRANT}"))?;
    let reply = workspace.slash(ALICE, DEV, GRANT).await?;
    t.bot_to("alice (only she sees this)", &reply)?;
    let approval = workspace
        .next_post("the approval message", APPROVALS)
        .await?;
    t.posted("#approvals", &approval.text, "[Approve] [Deny]")?;
    let grant = approval
        .grant
        .context("the approval message has no Approve button")?;

    t.section("2. bob approves; the RoleBinding is created")?;
    t.says("bob", "clicks Approve")?;
    workspace.click(BOB, "approve", &grant).await?;
    let binding = format!("prod-access-{grant}");
    let created = wait_for(speed, Duration::from_secs(10), || {
        kube.binding("payments", &binding)
    })
    .await
    .context("the RoleBinding was never created")?;
    t.yaml(
        &format!("Kubernetes: RoleBinding payments/{binding}"),
        &binding_shown(&created),
    )?;
    let granted = workspace.next_dm("the confirmation", ALICE).await?;
    t.posted("DM to alice", &granted.text, "")?;

    t.section("3. alice works; the cluster's audit webhook tells the bot what she does")?;
    let subject = created["subjects"][0]["name"].as_str().unwrap_or_default();
    let (batch, requests) = activity::batch(subject, clock.now());
    t.says(
        "alice",
        &format!("kubectl get/logs/exec/delete in payments ({requests} requests)"),
    )?;
    workspace.audit_webhook(&batch).await?;
    let events = batch["items"].as_array().map_or(0, Vec::len);
    t.event(&format!(
        "Kubernetes: the apiserver posts a batch of {events} audit events to /k8s/audit"
    ))?;
    let said = workspace
        .next_reply_saying("the activity reply", APPROVALS, "Kubernetes activity")
        .await?;
    t.posted("#approvals, in the request's thread", &said, "")?;

    t.section("4. time passes: a reminder, then the access expires on its own")?;
    let reminder = workspace.next_dm("the reminder", ALICE).await?;
    t.posted("DM to alice", &reminder.text, "[Extend] [Drop now]")?;
    let expires_at = created["metadata"]["annotations"]["prod-access/expires-at"]
        .as_str()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&chrono::Utc));
    wait_for(speed, Duration::from_secs(25 * 60), || {
        kube.binding("payments", &binding).is_none().then_some(())
    })
    .await
    .context("the expired RoleBinding was never deleted")?;
    let lag = expires_at.map(|at| (clock.now() - at).num_milliseconds() as f64 / 1000.0);
    t.event(&match lag {
        Some(lag) => format!(
            "Kubernetes: RoleBinding payments/{binding} deleted, {lag:.1} s (simulated) after it expired"
        ),
        None => format!("Kubernetes: RoleBinding payments/{binding} deleted"),
    })?;
    let expired = workspace.next_dm("the expiry notice", ALICE).await?;
    t.posted("DM to alice", &expired.text, "")?;
    let summary = workspace
        .next_reply_saying("the session summary", APPROVALS, "Session summary")
        .await?;
    t.posted("#approvals, in the request's thread", &summary, "")?;

    t.section("5. carol gets read access; bob revokes it early")?;
    let ask = "view orders 2h checking a refund";
    t.says("carol", &format!("/prod-access {ask}"))?;
    workspace.slash(CAROL, DEV, ask).await?;
    let approval = workspace
        .next_post("the approval message", APPROVALS)
        .await?;
    let second = approval.grant.context("no Approve button")?;
    t.posted("#approvals", &approval.text, "[Approve] [Deny]")?;
    t.says("bob", "clicks Approve")?;
    workspace.click(BOB, "approve", &second).await?;
    let binding = format!("prod-access-{second}");
    wait_for(speed, Duration::from_secs(10), || {
        kube.binding("orders", &binding)
    })
    .await
    .context("the RoleBinding was never created")?;
    t.event(&format!("Kubernetes: RoleBinding orders/{binding} created"))?;
    t.says("bob", &format!("/prod-access revoke {second}"))?;
    let reply = workspace
        .slash(BOB, DEV, &format!("revoke {second}"))
        .await?;
    t.bot_to("bob", &reply)?;
    wait_for(speed, Duration::from_secs(10), || {
        kube.binding("orders", &binding).is_none().then_some(())
    })
    .await
    .context("the revoked RoleBinding was never deleted")?;
    t.event(&format!("Kubernetes: RoleBinding orders/{binding} deleted"))?;
    let active = workspace.next_dm("the confirmation", CAROL).await?;
    t.posted("DM to carol", &active.text, "")?;
    let told = workspace.next_dm("the revocation notice", CAROL).await?;
    t.posted("DM to carol", &told.text, "")?;

    t.section("6. what the audit channel saw")?;
    for post in workspace.posts_in(AUDIT) {
        t.line(&format!("  #audit: {post}"))?;
    }
    Ok(())
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
    t.section("7. the tamper-evident audit log (prod-access audit verify / export)")?;
    let log = crate::cli::audit::open_store(store)?;
    let mut exported = Vec::new();
    crate::cli::audit::export(&log, &Default::default(), &mut exported).await?;
    for line in String::from_utf8_lossy(&exported).lines() {
        let entry: serde_json::Value = serde_json::from_str(line)?;
        let actor = entry["actor"]["user"].as_str().map(workspace::name_of);
        t.line(&format!(
            "  #{:<2} {:<10} {:<9} grant {}  hash {}…",
            entry["seq"],
            entry["kind"].as_str().unwrap_or_default(),
            actor.unwrap_or("(the bot)"),
            entry["grant"].as_str().unwrap_or("-"),
            &entry["hash"].as_str().unwrap_or_default()[..12],
        ))?;
    }
    t.line(&format!("  {}", crate::cli::audit::verify(&log).await?))?;
    t.line("")?;
    t.line("That was the whole lifecycle. To run it for real: README.md, \"Quick start\".")
}
