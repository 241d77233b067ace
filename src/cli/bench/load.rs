//! Open-loop load: requests sent on a fixed schedule (not waiting for the previous answer), each
//! timed from when it was due, so a slow server cannot hide its queueing; and a bare axum
//! handler answering 200, measured the same way in the same run, to compare with.

use std::time::{Duration, Instant};

use super::Stats;

/// One open-loop run: when each request was due, and what came back.
pub struct Run {
    /// When request `i` was due (and sent).
    pub due: Vec<std::time::SystemTime>,
    /// Per request: its latency and body if it was answered 2xx.
    pub answers: Vec<Option<(Duration, String)>>,
}

impl Run {
    pub fn stats(&self) -> Stats {
        Stats::of(self.answers.iter().flatten().map(|(d, _)| *d).collect())
    }

    pub fn failed(&self) -> usize {
        self.answers.iter().filter(|a| a.is_none()).count()
    }
}

/// Sends `count` requests at `rate` per second, built by `request(i)`.
pub async fn open_loop<F>(rate: u32, count: usize, request: F) -> Run
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let (start, start_wall) = (Instant::now(), std::time::SystemTime::now());
    let mut tasks = Vec::with_capacity(count);
    let mut due_at = Vec::with_capacity(count);
    for i in 0..count {
        let offset = interval.mul_f64(i as f64);
        let due = start + offset;
        tokio::time::sleep_until(due.into()).await;
        due_at.push(start_wall + offset);
        let sent = request(i).send();
        tasks.push(tokio::spawn(async move {
            let response = sent.await.ok().filter(|r| r.status().is_success())?;
            let latency = due.elapsed();
            Some((latency, response.text().await.unwrap_or_default()))
        }));
    }
    let mut answers = Vec::with_capacity(count);
    for task in tasks {
        answers.push(task.await.ok().flatten());
    }
    Run {
        due: due_at,
        answers,
    }
}

/// A bare axum server on loopback that answers every POST with 200 and a tiny JSON body.
pub async fn bare_handler() -> anyhow::Result<String> {
    let router = axum::Router::new().route(
        "/slack/commands",
        axum::routing::post(|| async { axum::Json(serde_json::json!({ "text": "ok" })) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}"))
}
