//! Replay protection for Slack's signed requests. A v0 signature covers the request's
//! timestamp and body, and slack-morphism accepts it for five minutes either side of now; this
//! takes each signature once within that time, remembering it in the store before the request
//! is acted on. It runs after the signature check, so only Slack's own requests are remembered.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;
use tracing::{error, warn};

use crate::http::refusal::Refusal;
use crate::store::{SeenRequests, Sighting};

/// What the replay check of one route needs: where signatures are remembered, and what the
/// route answers when they cannot be (the store is away).
#[derive(Clone)]
pub struct ReplayGuard {
    pub seen: Arc<dyn SeenRequests>,
    /// A 200 answer with this body (a slash command's ephemeral "something went wrong, try
    /// again", from the templates); `None`: 503.
    pub unavailable_reply: Option<serde_json::Value>,
}

/// Axum middleware (`middleware::from_fn_with_state`): refuses a request whose signature was
/// already taken with 401, as the signature check refuses a stale one. When the store cannot
/// say, nothing is done: the route's `unavailable_reply` is the answer (a slash command is told
/// to try again: Slack shows a refused one only as "failed"), else 503.
pub async fn refuse_replays(
    State(guard): State<ReplayGuard>,
    request: Request,
    next: Next,
) -> Response {
    let seen = &guard.seen;
    let Some((signature, signed_at)) = signed(request.headers()) else {
        // The signature check before this lets no such request through.
        return Refusal::Unauthenticated("no signature".into()).into_response();
    };
    // The signature check judges age by this machine's clock; so must the memory of it.
    let now = Utc::now();
    let path = request.uri().path().to_string();
    match seen
        .first_sighting(signature.as_bytes(), accepted_until(signed_at), now)
        .await
    {
        Ok(Sighting::First) => next.run(request).await,
        Ok(Sighting::Replay { first_seen }) => {
            warn!(
                %path, %signed_at, %first_seen,
                "refused a replayed Slack request: its signature was already taken once"
            );
            Refusal::Unauthenticated("this signature was already taken once".into()).into_response()
        }
        Err(e) => {
            error!(%path, error = %e, "cannot record a Slack request as taken; refused it");
            match &guard.unavailable_reply {
                Some(reply) => Json(reply.clone()).into_response(),
                None => Refusal::Unavailable("cannot record the request as taken".into())
                    .into_response(),
            }
        }
    }
}

fn signed(headers: &HeaderMap) -> Option<(&str, DateTime<Utc>)> {
    let header = |name| headers.get(name)?.to_str().ok();
    let signature = header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER)?;
    let timestamp = header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP)?;
    let signed_at = DateTime::from_timestamp(timestamp.parse().ok()?, 0)?;
    Some((signature, signed_at))
}

/// The last moment a signature made at `signed_at` is accepted (the check refuses it only
/// once more than the maximum age has passed, so one second is added).
fn accepted_until(signed_at: DateTime<Utc>) -> DateTime<Utc> {
    signed_at + Duration::seconds(SlackEventSignatureVerifier::MAX_TIMESTAMP_AGE_SECONDS + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_remembered_past_the_last_second_slack_morphism_accepts_it() {
        let signed_at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            accepted_until(signed_at),
            DateTime::from_timestamp(1_700_000_301, 0).unwrap()
        );
    }

    #[test]
    fn the_signature_and_its_time_are_read_from_slacks_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-slack-signature", "v0=abc".parse().unwrap());
        assert_eq!(signed(&headers), None);
        headers.insert("x-slack-request-timestamp", "1700000000".parse().unwrap());
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(signed(&headers), Some(("v0=abc", at)));
        headers.insert("x-slack-request-timestamp", "soon".parse().unwrap());
        assert_eq!(signed(&headers), None);
    }
}
