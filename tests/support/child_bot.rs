//! The real `prod-access` binary run as a child process: the files it is started with in a
//! folder (`config.yaml`, a `kubeconfig` for the fake cluster) and `serve` with the tests'
//! Slack secrets; a run of it (`Bot`), killed or stopped at will, and where it listens.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use chrono::Utc;

use super::{BOT_TOKEN, FakeKube, SIGNING_SECRET, command_body, interaction_body, slack_signed};

/// Writes `dir/kubeconfig`, pointing at `kube` with no credentials.
pub fn write_kubeconfig(dir: &Path, kube: &FakeKube) {
    let kubeconfig = format!(
        r#"apiVersion: v1
kind: Config
clusters: [{{ name: fake, cluster: {{ server: "{}" }} }}]
users: [{{ name: bot, user: {{}} }}]
contexts: [{{ name: fake, context: {{ cluster: fake, user: bot }} }}]
current-context: fake
"#,
        kube.url()
    );
    std::fs::write(dir.join("kubeconfig"), kubeconfig).unwrap();
}

/// `prod-access serve` with `dir/config.yaml` and `dir/kubeconfig`, its output to `log`.
pub fn spawn_serve(dir: &Path, log: std::fs::File) -> Child {
    spawn_serve_with(dir, log, &[])
}

/// `spawn_serve`, with more environment (a replica's `DATABASE_URL`).
pub fn spawn_serve_with(dir: &Path, log: std::fs::File, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .envs(env.iter().copied())
        .args(["serve", "--config"])
        .arg(dir.join("config.yaml"))
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("RUST_LOG", "prod_access=info")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// One run of the binary; the store, configuration and port outlive it.
pub struct Bot {
    child: Child,
    dir: PathBuf,
    pub endpoint: Endpoint,
}

/// Where the bot listens, whichever run of it is there (or none, between a kill and a restart).
#[derive(Clone)]
pub struct Endpoint {
    port: u16,
    http: reqwest::Client,
}

impl Bot {
    /// Starts `prod-access serve` in `dir` (its output appended to `dir/bot.log`) and waits until
    /// it answers `/healthz` on `port`.
    pub async fn start(dir: &Path, port: u16) -> Bot {
        Self::start_with(dir, port, &[]).await
    }

    /// `start`, with more environment.
    pub async fn start_with(dir: &Path, port: u16, env: &[(&str, &str)]) -> Bot {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("bot.log"))
            .unwrap();
        let child = spawn_serve_with(dir, log, env);
        let bot = Bot {
            child,
            dir: dir.to_path_buf(),
            endpoint: Endpoint {
                port,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap(),
            },
        };
        for _ in 0..500 {
            let health = bot
                .endpoint
                .http
                .get(bot.endpoint.url("/healthz"))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return bot;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the bot did not start: {}", bot.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bot.log")).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits (at most 20 s) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..2000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no exit within 20 s of SIGTERM: {}", self.log());
    }
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn post(
        &self,
        path: &str,
        body: String,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let request = self.http.post(self.url(path));
        let now = (SIGNING_SECRET, Utc::now().timestamp());
        let form = "application/x-www-form-urlencoded";
        slack_signed(request, form, body, now).send().await
    }

    /// `/prod-access <text>`; `None` when the bot did not answer (it was killed meanwhile).
    pub async fn slash(&self, user: &str, text: &str) -> Option<String> {
        let reply = self
            .post("/slack/commands", command_body(user, text))
            .await
            .ok()?;
        let body: serde_json::Value = reply.json().await.ok()?;
        body["text"].as_str().map(str::to_string)
    }

    pub async fn click(&self, user: &str, action: &str, grant: &str) -> bool {
        self.post("/slack/interactions", interaction_body(user, action, grant))
            .await
            .is_ok_and(|r| r.status().is_success())
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Taken first by each test of `processes.rs`, so they run one at a time: each starts real bots
/// (and some a PostgreSQL) on the same two cores, and another's load would disturb the timing
/// they check (a drill's revocation deadline, a request caught in flight by SIGTERM).
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ALONE.lock().await
}
