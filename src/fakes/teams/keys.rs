//! The Bot Framework's signing side: RSA keys generated here, and the OpenID metadata and JWKS
//! that publish them, on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::teams::auth::ISSUER;
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, rand_core::OsRng};
use serde_json::{Value, json};

/// A key as the Bot Framework holds it: a private half to sign with, a JWK to publish.
pub struct SigningKey {
    pub kid: String,
    pub private: EncodingKey,
    pub jwk: Value,
}

pub fn key(kid: &str, endorsements: &[&str]) -> SigningKey {
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
pub struct Metadata {
    pub url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

pub async fn metadata_server() -> Metadata {
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
    pub fn publish(&self, key: &SigningKey) {
        self.keys.lock().unwrap().push(key.jwk.clone());
    }
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
