//! The fake Slack's Socket Mode: `apps.connections.open` (app-level token only) hands out a
//! `ws://127.0.0.1` URL; each connection gets Slack's `hello`, then the envelopes tests send,
//! and must acknowledge each by its `envelope_id` within 10 seconds, as Slack requires. Like
//! Slack, it spreads envelopes over the open connections (in turn, here), so with several
//! replicas each gets its share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
pub(super) struct Sockets {
    /// The connections open now, by number: a sender of frames to each.
    open: HashMap<u64, mpsc::UnboundedSender<String>>,
    next_connection: u64,
    next_envelope: u64,
    /// Envelopes sent so far: the next goes to the open connection this many turns on.
    sent: usize,
    /// Envelopes sent and not yet acknowledged.
    waiting: HashMap<String, oneshot::Sender<Value>>,
    /// Every acknowledgement received, as sent.
    pub(super) acks: Vec<Value>,
    /// Connections opened so far (each `apps.connections.open` URL used).
    pub(super) connections: u64,
}

#[derive(Clone)]
pub struct SocketServer {
    pub(super) url: String,
    pub(super) state: Arc<Mutex<Sockets>>,
}

impl SocketServer {
    pub(super) async fn start() -> SocketServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/link", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Sockets::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        SocketServer { url, state }
    }

    /// A fresh URL for `apps.connections.open`.
    pub(super) fn ticket_url(&self) -> String {
        let mut state = self.state.lock().unwrap();
        state.next_envelope += 1;
        format!("{}/?ticket={}", self.url, state.next_envelope)
    }

    /// Sends an envelope of `kind` (`slash_commands`, `interactive`, `events_api`) to the open
    /// connection whose turn it is and returns its acknowledgement; panics if there is none within 10 seconds.
    pub async fn send(&self, kind: &str, payload: Value, accepts_response_payload: bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let (id, acked) = loop {
            {
                let mut state = self.state.lock().unwrap();
                let mut open: Vec<u64> = state.open.keys().copied().collect();
                open.sort_unstable();
                if !open.is_empty() {
                    let turn = open[state.sent % open.len()];
                    state.sent += 1;
                    let socket = state.open[&turn].clone();
                    state.next_envelope += 1;
                    let id = format!("env-{:08}", state.next_envelope);
                    let (tx, rx) = oneshot::channel();
                    state.waiting.insert(id.clone(), tx);
                    let envelope = json!({
                        "envelope_id": id, "type": kind, "payload": payload,
                        "accepts_response_payload": accepts_response_payload,
                        "retry_attempt": 0, "retry_reason": "",
                    });
                    if socket.send(envelope.to_string()).is_ok() {
                        break (id, rx);
                    }
                    state.waiting.remove(&id);
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no Socket Mode connection within 10s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        match tokio::time::timeout(Duration::from_secs(10), acked).await {
            Ok(Ok(ack)) => ack,
            _ => panic!("envelope {id} ({kind}) was not acknowledged within 10s"),
        }
    }

    pub fn open_connections(&self) -> usize {
        self.state.lock().unwrap().open.len()
    }
}

async fn serve(stream: tokio::net::TcpStream, state: Arc<Mutex<Sockets>>) {
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (tx, mut outgoing) = mpsc::unbounded_channel::<String>();
    let number = {
        let mut state = state.lock().unwrap();
        state.next_connection += 1;
        state.connections += 1;
        let number = state.next_connection;
        state.open.insert(number, tx);
        number
    };
    let hello = json!({
        "type": "hello", "num_connections": number,
        "debug_info": { "host": "applink-fake", "build_number": 118, "approximate_connection_time": 18060 },
        "connection_info": { "app_id": "A0PRODACCESS" },
    });
    if socket.send(Message::text(hello.to_string())).await.is_ok() {
        loop {
            tokio::select! {
                frame = outgoing.recv() => match frame {
                    Some(frame) => if socket.send(Message::text(frame)).await.is_err() { break },
                    None => break,
                },
                incoming = socket.next() => match incoming {
                    Some(Ok(Message::Text(text))) => acknowledge(&state, &text),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    state.lock().unwrap().open.remove(&number);
}

fn acknowledge(state: &Arc<Mutex<Sockets>>, text: &str) {
    let Ok(ack) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let mut state = state.lock().unwrap();
    state.acks.push(ack.clone());
    if let Some(id) = ack["envelope_id"].as_str()
        && let Some(waiter) = state.waiting.remove(id)
    {
        let _ = waiter.send(ack);
    }
}
