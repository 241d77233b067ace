//! Streams every audit entry to a webhook (a SIEM), in order, at least once. The audit log is
//! the outbox: a stored cursor says how far delivery got, so entries written while the
//! receiver was down, or before a restart, are sent once it answers again. Each POST carries
//! one entry exactly as stored, so the receiver can check the hash chain itself, and an
//! HMAC-SHA256 signature over the timestamp and body.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::{error, info, warn};

use crate::clock::SharedClock;
use crate::domain::audit::StoredEntry;
use crate::domain::retry::RetryPolicy;
use crate::store::AuditLog;

/// The cursor's name in the store.
pub const CURSOR: &str = "webhook";
pub const SIGNATURE_HEADER: &str = "x-prod-access-signature";
pub const TIMESTAMP_HEADER: &str = "x-prod-access-timestamp";
pub const SEQ_HEADER: &str = "x-prod-access-seq";

/// A delivery that gets no answer within this counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Entries read from the log at a time.
const PAGE: usize = 100;
/// Failures in a row after which each further one is logged as an error, not a warning.
const LOUD_AFTER: u32 = 5;

/// 2 s doubling up to 5 minutes, each wait between half and all of that.
const BACKOFF: RetryPolicy = RetryPolicy::DEFAULT;

/// `v1=` and the hex HMAC-SHA256, keyed with the secret, of `<timestamp>.<body>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone)]
pub struct WebhookSink {
    url: String,
    secret: String,
    http: reqwest::Client,
    log: Arc<dyn AuditLog>,
    clock: SharedClock,
}

impl WebhookSink {
    pub fn new(
        url: &str,
        secret: &str,
        log: Arc<dyn AuditLog>,
        clock: SharedClock,
    ) -> anyhow::Result<WebhookSink> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .user_agent(concat!("prod-access/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookSink {
            url: url.to_string(),
            secret: secret.to_string(),
            http,
            log,
            clock,
        })
    }

    /// Delivers forever: each entry after the cursor in turn, retrying a failed one with backoff
    /// (nothing after it is sent first), then waits for the next.
    pub async fn run(self) {
        let mut failures = 0u32;
        loop {
            match self.deliver_pending().await {
                Ok(delivered) => {
                    failures = 0;
                    self.log.wait_for_entry_after(delivered).await;
                }
                Err(e) => {
                    failures += 1;
                    let wait = BACKOFF.delay(failures, fastrand::f64());
                    if failures >= LOUD_AFTER {
                        error!(url = %self.url, failures, error = %e, "audit webhook keeps failing; entries wait in the store");
                    } else {
                        warn!(url = %self.url, failures, error = %e, "audit webhook delivery failed; will retry");
                    }
                    let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                    self.clock.sleep_until(self.clock.now() + wait).await;
                }
            }
        }
    }

    /// Sends every durable entry after the cursor, in order, moving the cursor after each;
    /// stops at the first that fails. Returns how far delivery got.
    async fn deliver_pending(&self) -> Result<u64, String> {
        loop {
            let delivered = self.log.cursor(CURSOR).await.map_err(|e| e.to_string())?;
            let durable = self.log.durable_seq();
            if delivered >= durable {
                return Ok(delivered);
            }
            let page = self
                .log
                .entries_after(delivered, PAGE)
                .await
                .map_err(|e| e.to_string())?;
            let mut expected = delivered + 1;
            for entry in page.iter().take_while(|e| e.key <= durable) {
                // A gap or a damaged entry is never skipped: the receiver would miss it silently.
                if entry.key != expected
                    || entry.json.get("seq").and_then(|s| s.as_u64()) != Some(expected)
                {
                    return Err(format!(
                        "audit entry {expected} is missing or damaged in the store; delivery waits (run `prod-access audit verify`)"
                    ));
                }
                self.deliver(entry).await?;
                self.log
                    .set_cursor(CURSOR, entry.key)
                    .await
                    .map_err(|e| e.to_string())?;
                expected += 1;
            }
            if expected == delivered + 1 {
                return Err(format!(
                    "audit entry {expected} is missing from the store; delivery waits (run `prod-access audit verify`)"
                ));
            }
            info!(url = %self.url, up_to = expected - 1, "audit entries delivered");
        }
    }

    async fn deliver(&self, entry: &StoredEntry) -> Result<(), String> {
        let body = serde_json::to_vec(&entry.json).map_err(|e| e.to_string())?;
        let timestamp = self.clock.now().timestamp();
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature(&self.secret, timestamp, &body))
            .header(SEQ_HEADER, entry.key.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| format!("entry {}: {e}", entry.key))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("entry {}: HTTP {status}", entry.key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_body() {
        // Computed with: echo -n '1700000000.{"seq":1}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature("key", 1_700_000_000, br#"{"seq":1}"#),
            "v1=0a1f5b8adbe2984a21599ee5f2fa952e616d6ecfab0c51137690ca2d5bed933e"
        );
    }
}
