//! The bot under measurement: the real `prod-access serve` in its own process (this binary),
//! configured against the fakes on loopback, with its start-up time and memory read from
//! `/proc`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::fakes::kube::FakeKube;
use crate::fakes::slack::FakeSlack;

pub const BOT_TOKEN: &str = "xoxb-bench-token";
pub const SIGNING_SECRET: &str = "bench-signing-secret";
pub const APPROVER: &str = "U0BOB";

/// A directory of its own for one run's store and files, removed afterwards.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn new(name: &str) -> anyhow::Result<WorkDir> {
        let unique = format!("prod-access-bench-{name}-{}", uuid::Uuid::new_v4().simple());
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path)?;
        Ok(WorkDir(path))
    }

    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Has the bot in `dir` keep its state in the PostgreSQL database whose URL is `DATABASE_URL`
/// instead of its sled directory.
pub fn use_postgres(dir: &WorkDir) -> anyhow::Result<()> {
    let path = dir.0.join("config.yaml");
    let config = std::fs::read_to_string(&path)?;
    let config = config
        .lines()
        .map(|line| match line.starts_with("store_path:") {
            true => "store: { postgres: { url_env: DATABASE_URL } }",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(path, config)?;
    Ok(())
}

/// Writes the bot's configuration (one role, rate limit out of the way) and kubeconfig.
pub fn write_files(
    dir: &WorkDir,
    port: u16,
    slack: &FakeSlack,
    kube: &FakeKube,
) -> anyhow::Result<()> {
    let config = format!(
        r#"
listen: 127.0.0.1:{port}
store_path: "{store}"
slack:
  api_url: {api}
  approvals_channel: C0APPROVALS
  audit_channel: C0AUDIT
identity:
  allowed_email_domains: [example.com]
kubernetes:
  subject_prefix: "oidc:"
audit:
  digest_schedule: "off"
policy:
  approvers: [{APPROVER}]
  requests:
    review_timeout: 8h
    rate_limit: {{ requests: 1000000, per: 1h }}
  roles:
    edit:
      cluster_role: edit
      namespaces: [payments]
      max_duration: 8h
"#,
        store = dir.store().display(),
        api = slack.api_url(),
    );
    std::fs::write(dir.0.join("config.yaml"), config)?;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{ name: fake, cluster: {{ server: \"{}\" }} }}]\n\
         users: [{{ name: bot, user: {{}} }}]\n\
         contexts: [{{ name: fake, context: {{ cluster: fake, user: bot }} }}]\ncurrent-context: fake\n",
        kube.url()
    );
    std::fs::write(dir.0.join("kubeconfig"), kubeconfig)?;
    Ok(())
}

pub struct Bot {
    child: tokio::process::Child,
    pub port: u16,
    /// From spawning the process to its first healthy answer.
    pub started_in: Duration,
}

impl Bot {
    /// Starts `prod-access serve` on `dir`'s files and waits until it answers `/healthz`.
    pub async fn start(dir: &WorkDir, port: u16) -> anyhow::Result<Bot> {
        Bot::start_with(dir, port, &[], false).await
    }

    /// Like `start`, with `env` set and, when `one_core` (and `taskset` is there), every thread
    /// of the bot on CPU 0 only.
    pub async fn start_with(
        dir: &WorkDir,
        port: u16,
        env: &[(&str, &str)],
        one_core: bool,
    ) -> anyhow::Result<Bot> {
        let log = std::fs::File::create(dir.0.join("bot.log"))?;
        let spawned = Instant::now();
        let exe = std::env::current_exe()?;
        let mut command = if one_core {
            let mut taskset = tokio::process::Command::new("taskset");
            taskset.args(["--cpu-list", "0"]).arg(exe);
            taskset
        } else {
            tokio::process::Command::new(exe)
        };
        let child = command
            .args(["serve", "--config"])
            .arg(dir.0.join("config.yaml"))
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("KUBECONFIG", dir.0.join("kubeconfig"))
            .env("RUST_LOG", "warn")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start prod-access serve")?;
        let http = reqwest::Client::new();
        let health = format!("http://127.0.0.1:{port}/healthz");
        for _ in 0..12_000 {
            if http
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Bot {
                    child,
                    port,
                    started_in: spawned.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let log = std::fs::read_to_string(dir.0.join("bot.log")).unwrap_or_default();
        anyhow::bail!("the bot did not start within a minute: {log}")
    }

    /// Waits until `/readyz` says the start-up work is done (the pre-flight against the cluster
    /// answered and every permission is there).
    pub async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        for _ in 0..3_000 {
            let ready = http.get(self.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::bail!("the bot never became ready")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// (resident now, peak resident) in bytes, from `/proc/<pid>/status`.
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let pid = self.child.id().context("the bot has exited")?;
        proc_memory(Path::new(&format!("/proc/{pid}/status")))
    }

    /// Ends the process at once (SIGKILL), as a crashed node would.
    pub async fn kill9(mut self) {
        let _ = self.child.kill().await;
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SIGTERM: the bot finishes what is in flight and flushes its store.
            let _ = tokio::process::Command::new("kill")
                .arg(pid.to_string())
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = self.child.kill().await;
        Ok(())
    }
}

fn proc_memory(status: &Path) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(status).with_context(|| {
        format!(
            "cannot read {} (memory is measured on Linux)",
            status.display()
        )
    })?;
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|k| k * 1024)
            .unwrap_or(0)
    };
    Ok((kib("VmRSS:"), kib("VmHWM:")))
}

/// A port nothing listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
