//! Several replicas of the real `prod-access` binary on one PostgreSQL database, each in its
//! own folder with its own port and log, and the fakes they share.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::child_bot::{Bot, free_port};
use super::crash_drill::write_drill_config;
use super::*;

pub const REPLICAS: usize = 3;
/// How late a revocation may be across a failover (the goal is 5 s).
pub const FAILOVER_GRACE: Duration = Duration::from_secs(5);

/// A replica's folder: its configuration (its own port, the shared database) and its log.
fn write_replica(dir: &Path, port: u16, slack: &FakeSlack, kube: &FakeKube) {
    let store = "store: { postgres: { url_env: DATABASE_URL } }";
    write_drill_config(dir, port, store, slack, kube);
}

/// `prod-access audit verify` on the database, as an operator runs it; panics unless the chain
/// holds.
pub fn audit_verifies(config: &Path, database_url: &str) {
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args(["audit", "verify", "--config"])
        .arg(config)
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    let errors = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{said}{errors}");
    assert!(said.contains("audit log intact"), "{said}");
}

pub struct Replicas {
    pub dirs: Vec<PathBuf>,
    ports: Vec<u16>,
    /// Where each replica's log stood when its current run started.
    log_starts: Vec<usize>,
    pub bots: Vec<Option<Bot>>,
    pub database_url: String,
    /// Slack over Socket Mode (`SLACK_APP_TOKEN` set) rather than HTTP.
    socket_mode: bool,
    _root: tempfile::TempDir,
}

impl Replicas {
    pub async fn start(database_url: String, slack: &FakeSlack, kube: &FakeKube) -> Replicas {
        Replicas::start_in(database_url, slack, kube, false).await
    }

    pub async fn start_in(
        database_url: String,
        slack: &FakeSlack,
        kube: &FakeKube,
        socket_mode: bool,
    ) -> Replicas {
        let root = tempfile::tempdir().unwrap();
        let mut replicas = Replicas {
            dirs: Vec::new(),
            ports: Vec::new(),
            log_starts: Vec::new(),
            bots: Vec::new(),
            database_url,
            socket_mode,
            _root: root,
        };
        for n in 0..REPLICAS {
            let dir = replicas._root.path().join(format!("replica-{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            let port = free_port();
            write_replica(&dir, port, slack, kube);
            replicas.dirs.push(dir);
            replicas.ports.push(port);
            replicas.bots.push(None);
            replicas.log_starts.push(0);
            replicas.restart(n).await;
        }
        replicas
    }

    pub async fn restart(&mut self, n: usize) {
        self.log_starts[n] = self.log_of(n).len();
        let mut env = vec![("DATABASE_URL", self.database_url.as_str())];
        if self.socket_mode {
            env.push(("SLACK_APP_TOKEN", fake_slack::APP_TOKEN));
        }
        self.bots[n] = Some(Bot::start_with(&self.dirs[n], self.ports[n], &env).await);
    }

    pub fn bot(&self, n: usize) -> &Bot {
        self.bots[n].as_ref().expect("running")
    }

    pub fn log_of(&self, n: usize) -> String {
        std::fs::read_to_string(self.dirs[n].join("bot.log")).unwrap_or_default()
    }

    /// Whether replica `n`'s current run says it leads (and has not said it stopped).
    pub fn leads(&self, n: usize) -> bool {
        if self.bots[n].is_none() {
            return false;
        }
        let log = self.log_of(n);
        let run = &log[self.log_starts[n].min(log.len())..];
        let took = run.rfind("this replica leads");
        took.is_some() && took > run.rfind("no longer leading")
    }

    /// The replica that leads now, among those running (waits up to 10 s for exactly one).
    pub async fn leader(&self) -> usize {
        let started = Instant::now();
        loop {
            let leading: Vec<usize> = (0..REPLICAS).filter(|&n| self.leads(n)).collect();
            if let [one] = leading.as_slice() {
                return *one;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "not exactly one leader: {leading:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn logs(&self) -> String {
        (0..REPLICAS)
            .map(|n| format!("--- replica {n}\n{}", self.log_of(n)))
            .collect()
    }
}

pub async fn fakes() -> (FakeSlack, FakeKube) {
    init();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    for (id, name) in [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")] {
        slack.add_user(id, name, Some(&format!("{name}@example.com")));
    }
    slack.bot_member_of(&[APPROVALS, AUDIT, DEV_CHANNEL]);
    let kube = FakeKube::start(&["payments", "orders"]).await;
    (slack, kube)
}
