//! Who may call `POST /teams/messages`: only the Bot Framework, proven by the JWT in the
//! `Authorization` header. As Microsoft's "Authenticate requests from the Bot Connector service"
//! requires, the token must be RS256, issued by `https://api.botframework.com` for this bot's
//! app id, within its validity (5 minutes' skew), signed with a key from the JWKS that the OpenID
//! metadata names, that key endorsed for the activity's channel, and carry the activity's
//! `serviceUrl`. Keys are cached and fetched again when a token names a key the cache lacks
//! (Microsoft rolls them) or after a day.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::clock::SharedClock;

/// The Bot Framework's OpenID metadata (public cloud).
pub const DEFAULT_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
pub const ISSUER: &str = "https://api.botframework.com";

/// Clock skew allowed on `exp` and `nbf`.
const SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// Keys are fetched again at least this often.
const KEYS_KEPT_FOR: chrono::Duration = chrono::Duration::hours(24);
/// An unknown `kid` fetches the keys again at most this often, so forged tokens cannot make the
/// bot hammer the metadata endpoint.
const REFRESH_AT_MOST_EVERY: chrono::Duration = chrono::Duration::seconds(30);
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a request is refused (401).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    NoToken,
    #[error("the token cannot be read: {0}")]
    Malformed(String),
    #[error("the token is signed with {0:?}, not RS256")]
    WrongAlgorithm(String),
    #[error("the token names no signing key, or one the Bot Framework does not publish")]
    UnknownKey,
    #[error("the signing key is not endorsed for channel `{0}`")]
    NotEndorsed(String),
    #[error("the token does not hold: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for service URL `{token}`, the activity says `{activity}`")]
    WrongServiceUrl { token: String, activity: String },
    #[error("the signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

#[derive(Debug, Deserialize)]
struct Claims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default, rename = "serviceurl")]
    service_url: Option<String>,
}

struct SigningKey {
    key: DecodingKey,
    endorsements: Vec<String>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, SigningKey>,
    fetched_at: Option<DateTime<Utc>>,
    /// The last fetch, successful or not: an outage must not turn every request into a fetch.
    attempted_at: Option<DateTime<Utc>>,
}

pub struct BotAuth {
    app_id: String,
    metadata_url: String,
    http: reqwest::Client,
    clock: SharedClock,
    cache: Mutex<KeyCache>,
}

impl BotAuth {
    pub fn new(app_id: &str, metadata_url: &str, clock: SharedClock) -> anyhow::Result<BotAuth> {
        Ok(BotAuth {
            app_id: app_id.to_string(),
            metadata_url: metadata_url.to_string(),
            http: reqwest::Client::builder().timeout(FETCH_TIMEOUT).build()?,
            clock,
            cache: Mutex::new(KeyCache::default()),
        })
    }

    /// Checks the `Authorization` header of an activity from `channel_id` (e.g. `msteams`) that
    /// says it came through `service_url`.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        channel_id: &str,
        service_url: &str,
    ) -> Result<(), AuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NoToken)?;
        let header = decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::WrongAlgorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let claims = {
            let mut cache = self.cache.lock().await;
            self.refresh_if_needed(&mut cache, &kid).await?;
            let signing = cache.keys.get(&kid).ok_or(AuthError::UnknownKey)?;
            if !signing.endorsements.iter().any(|e| e == channel_id) {
                return Err(AuthError::NotEndorsed(channel_id.to_string()));
            }
            let mut validation = Validation::new(Algorithm::RS256);
            validation.set_issuer(&[ISSUER]);
            validation.set_audience(&[&self.app_id]);
            // Times are checked below against the application's clock.
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.required_spec_claims = ["exp", "iss", "aud"].map(String::from).into();
            decode::<Claims>(token, &signing.key, &validation)
                .map_err(|e| AuthError::Invalid(e.to_string()))?
                .claims
        };
        let now = self.clock.now().timestamp();
        if now > claims.exp + SKEW.num_seconds() {
            return Err(AuthError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now + SKEW.num_seconds() < nbf) {
            return Err(AuthError::NotYetValid);
        }
        match claims.service_url {
            Some(url) if same_service_url(&url, service_url) => Ok(()),
            Some(url) => Err(AuthError::WrongServiceUrl {
                token: url,
                activity: service_url.to_string(),
            }),
            None => Err(AuthError::Invalid("no `serviceurl` claim".into())),
        }
    }

    async fn refresh_if_needed(&self, cache: &mut KeyCache, kid: &str) -> Result<(), AuthError> {
        let now = self.clock.now();
        let stale = cache.fetched_at.is_none_or(|at| now - at >= KEYS_KEPT_FOR);
        let unknown = !cache.keys.contains_key(kid);
        let may_fetch = cache
            .attempted_at
            .is_none_or(|at| now - at >= REFRESH_AT_MOST_EVERY);
        if !(stale || unknown) || !may_fetch {
            return Ok(());
        }
        cache.attempted_at = Some(now);
        match self.fetch_keys().await {
            Ok(keys) => {
                info!(keys = keys.len(), "Bot Framework signing keys fetched");
                cache.keys = keys;
                cache.fetched_at = Some(now);
                Ok(())
            }
            // Keys that are merely old still verify; without any, nothing can.
            Err(e) if !cache.keys.is_empty() => {
                warn!(error = %e, "cannot refresh the Bot Framework signing keys; using the cached ones");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, SigningKey>, AuthError> {
        let unavailable = |e: String| AuthError::KeysUnavailable(e);
        let metadata: Value = self
            .get_json(&self.metadata_url)
            .await
            .map_err(unavailable)?;
        let jwks_uri = metadata["jwks_uri"]
            .as_str()
            .ok_or_else(|| unavailable("the OpenID metadata has no jwks_uri".into()))?;
        let jwks: Value = self.get_json(jwks_uri).await.map_err(unavailable)?;
        let mut keys = HashMap::new();
        for jwk in jwks["keys"].as_array().into_iter().flatten() {
            let text = |name: &str| jwk[name].as_str();
            let (Some(kid), Some("RSA"), Some(n), Some(e)) =
                (text("kid"), text("kty"), text("n"), text("e"))
            else {
                continue;
            };
            let Ok(key) = DecodingKey::from_rsa_components(n, e) else {
                continue;
            };
            let endorsements = jwk["endorsements"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            keys.insert(kid.to_string(), SigningKey { key, endorsements });
        }
        Ok(keys)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url}: {e}"))
    }
}

/// Service URLs compare without a trailing slash (Teams sends both spellings).
fn same_service_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}
