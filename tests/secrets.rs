//! Secrets never appear in logs or in chat: the bot token, the signing secret and the tokens of
//! kubeconfig files. The whole flow runs with its logs captured at `debug` for prod-access and at
//! the production default for everything else.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use support::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_chat_message() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Both formats the bot logs in (text, and JSON with `PROD_ACCESS_LOG_FORMAT=json`), each
    // line written twice into one capture.
    let logs = Captured::default();
    let (text, json) = (logs.clone(), logs.clone());
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            "info,sled=warn,hyper=warn,prod_access=debug",
        ))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || text.clone())
                .with_ansi(false),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_span_list(true)
                .with_writer(move || json.clone()),
        )
        .init();

    let h = Harness::start().await;
    // A request, an approval with a kubeconfig, a refused click, an expiry: every path that logs.
    let grant = h.requested_grant("view payments 1h INC-50").await;
    h.click(MALLORY, "approve", &grant).await;
    h.click(BOB, "approve", &grant).await;
    assert_says(&h.next_audit().await, "Access granted");
    for _ in 0..500 {
        if !h.slack.shared_files().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, _, file) = h
        .slack
        .shared_files()
        .pop()
        .expect("the kubeconfig was sent");
    let issued = h.kube.tokens().pop().expect("a token was issued").3;
    assert!(String::from_utf8(file).unwrap().contains(&issued));
    h.clock.advance(Duration::hours(1));
    assert_says(&h.next_audit().await, "expired and was removed");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("access requested") && logs.contains("\"message\":\"access requested\""),
        "the capture works, in both formats: {logs}"
    );
    let chat: String = [
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "files.completeUploadExternal",
    ]
    .iter()
    .flat_map(|m| h.slack.calls(m))
    .map(|c| c.params.to_string())
    .collect();
    for (what, secret) in [
        ("the bot token", BOT_TOKEN),
        ("the signing secret", SIGNING_SECRET),
        ("the kubeconfig token", issued.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} is in the logs");
        assert!(!chat.contains(secret), "{what} is in a chat message");
    }
}
