//! Who may call the Teams endpoint: tokens as the Bot Framework signs them, checked against
//! keys from a local OpenID metadata server, with keys generated here.

use crate::support;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use prod_access::clock::ManualClock;
use prod_access::teams::auth::{AuthError, BotAuth, ISSUER};
use serde_json::{Value, json};
use support::fake_teams::keys::{Metadata, SigningKey, key, metadata_server};
use support::*;

const APP_ID: &str = "00000000-0000-0000-0000-0000000a11ce";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";

/// A token as the Bot Framework issues it, `claims` changing the defaults.
fn token(key: &SigningKey, now: i64, claims: Value) -> String {
    let mut body = json!({
        "serviceurl": SERVICE_URL, "nbf": now - 60, "exp": now + 3600,
        "iss": ISSUER, "aud": APP_ID,
    });
    for (k, v) in claims.as_object().unwrap() {
        body[k] = v.clone();
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    format!("Bearer {}", encode(&header, &body, &key.private).unwrap())
}

async fn setup() -> (Arc<ManualClock>, Metadata, BotAuth, SigningKey) {
    init();
    let clock = ManualClock::new(t0());
    let metadata = metadata_server().await;
    let signing = key("key-1", &["msteams", "webchat"]);
    metadata.publish(&signing);
    let auth = BotAuth::new(APP_ID, &metadata.url, clock.clone()).unwrap();
    (clock, metadata, auth, signing)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_bot_framework_signed_for_this_bot_is_accepted() {
    let (_, metadata, auth, signing) = setup().await;
    let now = t0().timestamp();
    let header = token(&signing, now, json!({}));
    assert_eq!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Ok(())
    );
    // The trailing slash of the service URL does not matter; the keys are fetched once.
    let trimmed = SERVICE_URL.trim_end_matches('/');
    assert_eq!(auth.verify(Some(&header), "msteams", trimmed).await, Ok(()));
    assert_eq!(metadata.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_another_bot_issuer_service_or_channel_are_refused() {
    let (_, _, auth, signing) = setup().await;
    let now = t0().timestamp();
    let verify = |claims: Value, channel: &'static str| {
        let header = token(&signing, now, claims);
        let auth = &auth;
        async move { auth.verify(Some(&header), channel, SERVICE_URL).await }
    };
    assert!(matches!(
        verify(json!({ "aud": "another-bot" }), "msteams").await,
        Err(AuthError::Invalid(_))
    ));
    assert!(matches!(
        verify(json!({ "iss": "https://sts.windows.net/evil/" }), "msteams").await,
        Err(AuthError::Invalid(_))
    ));
    assert!(matches!(
        verify(
            json!({ "serviceurl": "https://evil.example.com/" }),
            "msteams"
        )
        .await,
        Err(AuthError::WrongServiceUrl { .. })
    ));
    assert_eq!(
        verify(json!({}), "slack").await,
        Err(AuthError::NotEndorsed("slack".into())),
        "the key is endorsed for msteams and webchat only"
    );
    assert_eq!(
        auth.verify(None, "msteams", SERVICE_URL).await,
        Err(AuthError::NoToken)
    );
    assert_eq!(
        auth.verify(Some("Basic abc"), "msteams", SERVICE_URL).await,
        Err(AuthError::NoToken)
    );
    assert!(matches!(
        auth.verify(Some("Bearer not.a.jwt"), "msteams", SERVICE_URL)
            .await,
        Err(AuthError::Malformed(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_not_before_allow_five_minutes_of_skew_on_the_bots_clock() {
    let (clock, _, auth, signing) = setup().await;
    let now = t0().timestamp();
    let header = token(&signing, now, json!({ "exp": now + 60, "nbf": now + 240 }));
    assert_eq!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Ok(()),
        "nbf within skew"
    );
    let early = token(&signing, now, json!({ "nbf": now + 600 }));
    assert_eq!(
        auth.verify(Some(&early), "msteams", SERVICE_URL).await,
        Err(AuthError::NotYetValid)
    );
    clock.advance(chrono::Duration::minutes(6));
    assert_eq!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Ok(()),
        "exp within skew"
    );
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rolled_in_after_the_last_fetch_is_fetched_when_a_token_names_it() {
    let (clock, metadata, auth, signing) = setup().await;
    let now = t0().timestamp();
    assert_eq!(
        auth.verify(
            Some(&token(&signing, now, json!({}))),
            "msteams",
            SERVICE_URL
        )
        .await,
        Ok(())
    );
    clock.advance(chrono::Duration::minutes(1));
    let rolled = key("key-2", &["msteams"]);
    metadata.publish(&rolled);
    let header = token(&rolled, now, json!({}));
    assert_eq!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Ok(())
    );
    assert_eq!(metadata.fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_nobody_published_is_refused_without_hammering_the_metadata_server() {
    let (clock, metadata, auth, _) = setup().await;
    let forger = key("key-1", &["msteams"]);
    let stranger = key("key-9", &["msteams"]);
    let now = t0().timestamp();
    // Same kid as the real key, other private key: the signature does not hold.
    let forged = token(&forger, now, json!({}));
    assert!(matches!(
        auth.verify(Some(&forged), "msteams", SERVICE_URL).await,
        Err(AuthError::Invalid(_))
    ));
    for _ in 0..5 {
        let header = token(&stranger, now, json!({}));
        assert_eq!(
            auth.verify(Some(&header), "msteams", SERVICE_URL).await,
            Err(AuthError::UnknownKey)
        );
    }
    assert_eq!(
        metadata.fetches(),
        1,
        "unknown kids within 30 s fetch the keys once"
    );
    clock.advance(chrono::Duration::seconds(31));
    let header = token(&stranger, now, json!({}));
    assert_eq!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Err(AuthError::UnknownKey)
    );
    assert_eq!(metadata.fetches(), 2);

    // A token that is not RS256 (say HS256 with a guessed secret) is refused before any key.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("key-1".into());
    let hs = encode(
        &header,
        &json!({ "iss": ISSUER, "aud": APP_ID, "exp": now + 60 }),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    assert!(matches!(
        auth.verify(Some(&format!("Bearer {hs}")), "msteams", SERVICE_URL)
            .await,
        Err(AuthError::WrongAlgorithm(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_metadata_cannot_be_fetched_requests_are_refused_without_a_fetch_each() {
    init();
    let clock = ManualClock::new(t0());
    // Nothing listens here: every fetch fails at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1/.well-known/openidconfiguration");
    let auth = BotAuth::new(APP_ID, &url, clock.clone()).unwrap();
    let signing = key("key-1", &["msteams"]);
    let header = token(&signing, t0().timestamp(), json!({}));
    assert!(matches!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Err(AuthError::KeysUnavailable(_))
    ));
    // Within 30 s there is no new fetch; the key is simply unknown.
    assert_eq!(
        auth.verify(Some(&header), "msteams", SERVICE_URL).await,
        Err(AuthError::UnknownKey)
    );
}
