//! The HTTP server's limits, against the real binary over real TCP: a connection that never
//! finishes its request head is closed, and SIGTERM answers the request in flight and exits
//! within the grace period even with such a connection open.

use crate::support;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use chrono::Utc;
use support::child_bot::{spawn_serve, write_kubeconfig};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the test waits for something that should happen at once; far longer than any
/// timeout the bot is given here, so reaching it means the bot never did it.
const PATIENCE: Duration = Duration::from_secs(20);

struct Bot {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Bot {
    /// The binary with `http` as the configuration's `http:` section.
    async fn start(dir: &Path, slack: &FakeSlack, kube: &FakeKube, http: &str) -> Bot {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let basics = slack_basics(&listen, &dir.join("store"), slack.api_url());
        let config = format!(
            "{basics}{http}\nkubernetes:\n  subject_prefix: \"oidc:\"\npolicy:\n  approvers: [{BOB}]\n  roles:\n    edit: {{ cluster_role: edit, namespaces: [payments], max_duration: 1h }}\n",
        );
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        write_kubeconfig(dir, kube);
        let log = dir.join("bot.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = spawn_serve(dir, out);
        let bot = Bot { child, port, log };
        bot.wait_for_log("prod-access is listening").await;
        bot
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for_log(&self, line: &str) {
        for _ in 0..1000 {
            if self.log().contains(line) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the bot never logged {line:?}:\n{}", self.log());
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
    }

    async fn exit_status(&mut self) -> std::process::ExitStatus {
        for _ in 0..(PATIENCE.as_millis() / 10) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("still running {PATIENCE:?} after SIGTERM:\n{}", self.log());
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn fakes() -> (FakeSlack, FakeKube) {
    init();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    slack.add_user(ALICE, "alice", Some("alice@example.com"));
    slack.add_user(BOB, "bob", Some("bob@example.com"));
    slack.bot_member_of(&[APPROVALS, AUDIT, DEV_CHANNEL]);
    (slack, FakeKube::start(&["payments"]).await)
}

/// Reads until the bot closes the connection; what it said, if anything.
async fn until_closed(connection: &mut TcpStream) -> String {
    let mut said = Vec::new();
    let read = tokio::time::timeout(PATIENCE, connection.read_to_end(&mut said)).await;
    match read {
        Ok(Ok(_)) => String::from_utf8_lossy(&said).into_owned(),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => String::new(),
        Ok(Err(e)) => panic!("reading failed: {e}"),
        Err(_) => panic!("the connection was still open after {PATIENCE:?}"),
    }
}

/// The head of a request that never ends: no blank line after the headers.
const UNFINISHED_HEAD: &[u8] = b"POST /slack/commands HTTP/1.1\r\nHost: prod-access\r\nX-Slack-";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_finishes_its_request_head_is_closed() {
    let _alone = support::child_bot::one_at_a_time().await;
    let (slack, kube) = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let bot = Bot::start(dir.path(), &slack, &kube, "http: { header_timeout: 1s }").await;

    let mut unfinished = bot.connect().await;
    unfinished.write_all(UNFINISHED_HEAD).await.unwrap();
    let mut silent = bot.connect().await;
    until_closed(&mut unfinished).await;
    until_closed(&mut silent).await;

    // Everyone else is still served.
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", bot.port))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_request_in_flight_and_exits_despite_a_half_open_connection() {
    let _alone = support::child_bot::one_at_a_time().await;
    let (slack, kube) = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    // The head timeout is far off: only the grace period can end the half-open connection.
    let settings = "http: { header_timeout: 1h, shutdown_grace: 2s }";
    let mut bot = Bot::start(dir.path(), &slack, &kube, settings).await;
    let mut half_open = bot.connect().await;
    half_open.write_all(UNFINISHED_HEAD).await.unwrap();

    // A slash command whose body is half sent when SIGTERM arrives.
    let body = command_body(ALICE, "edit payments 30m fixing stuck queue");
    let signed_at = Utc::now().timestamp();
    let head = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: prod-access\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Slack-Request-Timestamp: {signed_at}\r\nX-Slack-Signature: {}\r\nContent-Length: {}\r\n\r\n",
        sign(SIGNING_SECRET, signed_at, &body),
        body.len()
    );
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut in_flight = bot.connect().await;
    in_flight
        .write_all(format!("{head}{first_half}").as_bytes())
        .await
        .unwrap();

    bot.sigterm();
    bot.wait_for_log("shutting down").await;
    in_flight.write_all(second_half.as_bytes()).await.unwrap();
    let answer = until_closed(&mut in_flight).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("was sent for approval"), "{answer}");

    let status = bot.exit_status().await;
    assert!(status.success(), "{status:?}:\n{}", bot.log());
    until_closed(&mut half_open).await;
    // What the request started was done before the exit.
    let posted = slack.calls("chat.postMessage");
    assert!(
        posted
            .iter()
            .any(|c| button_value(&c.params, "approve").is_some()),
        "{posted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_maximum_wait_until_one_closes() {
    let _alone = support::child_bot::one_at_a_time().await;
    let (slack, kube) = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = "http: { header_timeout: 1h, max_connections: 1 }";
    let bot = Bot::start(dir.path(), &slack, &kube, settings).await;
    let idle = bot.connect().await;

    let url = format!("http://127.0.0.1:{}/healthz", bot.port);
    let waiting = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served beside the idle connection");
    drop(idle);
    let status = tokio::time::timeout(PATIENCE, waiting).await.unwrap();
    assert_eq!(status.unwrap().unwrap(), 200);
}
