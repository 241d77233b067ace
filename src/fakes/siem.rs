//! A SIEM's webhook endpoint on 127.0.0.1: records every delivery attempt (headers and body),
//! and can be down (503) or refuse each entry's first attempts (500), to test retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq_header: Option<u64>,
    pub timestamp: Option<i64>,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub accepted: bool,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Receiver {
    attempts: Vec<Delivery>,
    down: bool,
    /// Attempts to refuse for each entry (by its seq header) before accepting it.
    refuse_first: usize,
    refused: HashMap<u64, usize>,
}

#[derive(Clone)]
pub struct WebhookReceiver {
    url: String,
    state: Arc<Mutex<Receiver>>,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let state = Arc::new(Mutex::new(Receiver::default()));
        let router = Router::new()
            .route("/hooks/prod-access", post(receive))
            .with_state(state.clone());
        let base = super::serve_on_loopback(router).await;
        WebhookReceiver {
            url: format!("{base}/hooks/prod-access"),
            state,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// While down, every delivery gets 503.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Refuse the first `attempts` deliveries of every entry with 500.
    pub fn refuse_first_attempts(&self, attempts: usize) {
        self.state.lock().unwrap().refuse_first = attempts;
    }

    pub fn attempts(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().attempts.clone()
    }

    /// The deliveries answered 200, in the order they came.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.attempts().into_iter().filter(|d| d.accepted).collect()
    }

    pub fn accepted_seqs(&self) -> Vec<u64> {
        self.accepted()
            .iter()
            .map(|d| d.json()["seq"].as_u64().unwrap())
            .collect()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let seq_header = header("x-prod-access-seq").and_then(|s| s.parse().ok());
    let mut state = state.lock().unwrap();
    let refuse_first = state.refuse_first;
    let refuse = match seq_header {
        _ if state.down => true,
        Some(seq) => {
            let refused = state.refused.entry(seq).or_default();
            let refuse = *refused < refuse_first;
            if refuse {
                *refused += 1;
            }
            refuse
        }
        None => true,
    };
    let status = match (state.down, refuse) {
        (true, _) => StatusCode::SERVICE_UNAVAILABLE,
        (false, true) => StatusCode::INTERNAL_SERVER_ERROR,
        (false, false) => StatusCode::OK,
    };
    state.attempts.push(Delivery {
        seq_header,
        timestamp: header("x-prod-access-timestamp").and_then(|s| s.parse().ok()),
        signature: header("x-prod-access-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
        accepted: status == StatusCode::OK,
    });
    status
}
