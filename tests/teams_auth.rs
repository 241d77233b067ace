//! Who may call the Teams endpoint: tokens as the Bot Framework signs them, checked against
//! keys from a local OpenID metadata server, with keys generated here.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use prod_access::chat::teams::auth::{AuthError, BotAuth, ISSUER};
use prod_access::clock::ManualClock;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, rand_core::OsRng};
use serde_json::{Value, json};
use support::*;

const APP_ID: &str = "00000000-0000-0000-0000-0000000a11ce";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";

/// A key as the Bot Framework holds it: a private half to sign with, a JWK to publish.
struct SigningKey {
    kid: String,
    private: EncodingKey,
    jwk: Value,
}

fn key(kid: &str, endorsements: &[&str]) -> SigningKey {
    let private = RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
    let public = private.to_public_key();
    let b64 = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
    SigningKey {
        kid: kid.into(),
        private: EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
        jwk: json!({
            "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid,
            "n": b64(public.n().to_bytes_be()), "e": b64(public.e().to_bytes_be()),
            "endorsements": endorsements,
        }),
    }
}

/// The OpenID metadata and the JWKS it points to; counts how often the keys were fetched.
#[derive(Clone)]
struct Metadata {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn metadata_server() -> Metadata {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Metadata {
        url: format!("{base}/v1/.well-known/openidconfiguration"),
        keys: Arc::new(Mutex::new(Vec::new())),
        fetches: Arc::new(AtomicUsize::new(0)),
    };
    let jwks_uri = format!("{base}/v1/.well-known/keys");
    let router = axum::Router::new()
        .route(
            "/v1/.well-known/openidconfiguration",
            get(move || {
                let jwks_uri = jwks_uri.clone();
                async move {
                    Json(json!({
                        "issuer": ISSUER, "authorization_endpoint": "https://invalid.botframework.com",
                        "jwks_uri": jwks_uri, "id_token_signing_alg_values_supported": ["RS256"],
                        "token_endpoint_auth_methods_supported": ["private_key_jwt"]
                    }))
                }
            }),
        )
        .route(
            "/v1/.well-known/keys",
            get(|State(m): State<Metadata>| async move {
                m.fetches.fetch_add(1, Ordering::SeqCst);
                Json(json!({ "keys": *m.keys.lock().unwrap() }))
            }),
        )
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    state
}

impl Metadata {
    fn publish(&self, key: &SigningKey) {
        self.keys.lock().unwrap().push(key.jwk.clone());
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

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
