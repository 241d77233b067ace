//! Approval → binding when each SubjectAccessReview takes as long as a real apiserver's may: the
//! questions of standing access are asked before the binding is created, so their latency is on
//! the path from the click to the access.

use std::time::{Duration, Instant};

use super::child::{APPROVER, Bot};
use super::scenarios::{Out, grant_in, request_number, signed, world};
use super::{BenchOptions, Stats};
use crate::fakes::kube::KubeFault;
use crate::fakes::slack::requests::{form, interaction_payload_in};

const REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
/// What each review takes at the fake apiserver.
const REVIEW_LATENCY: Duration = Duration::from_millis(10);
/// Grants approved one after another.
const GRANTS: usize = 30;

/// Click → RoleBinding POST, one grant at a time, every review answered after `REVIEW_LATENCY`.
pub async fn click_to_binding(_o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let w = world("review-latency", GRANTS).await?;
    w.kube.on_path(REVIEWS, KubeFault::None, REVIEW_LATENCY);
    let bot = Bot::start(&w.dir, w.port).await?;
    let http = reqwest::Client::new();
    let mut lags = Vec::new();
    for n in 0..GRANTS {
        let answer = signed(&http, bot.url("/slack/commands"), request_number(n))
            .send()
            .await?
            .text()
            .await?;
        let grant = grant_in(&answer).ok_or_else(|| anyhow::anyhow!("no grant in {answer}"))?;
        let payload = interaction_payload_in(APPROVER, "C0APPROVALS", "approve", &grant);
        let clicked = std::time::SystemTime::now();
        let body = form(&[("payload", &payload.to_string())]);
        signed(&http, bot.url("/slack/interactions"), body)
            .send()
            .await?;
        let name = format!("prod-access-{grant}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while w.kube.created_at("payments", &name).is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if let Some(created) = w.kube.created_at("payments", &name) {
            lags.push(created.duration_since(clicked).unwrap_or_default());
        }
    }
    writeln!(
        out,
        "\n== click → RoleBinding POST, {GRANTS} grants one at a time, each SubjectAccessReview taking {} ms\n{}",
        REVIEW_LATENCY.as_millis(),
        Stats::of(lags).shown()
    )?;
    bot.stop().await
}
