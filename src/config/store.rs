//! Where the bot keeps its state: the embedded sled store in a directory (`store_path`, the
//! default: one replica), or a PostgreSQL database shared by several replicas
//! (`store: { postgres: { url_env: DATABASE_URL } }`). The database URL, with its password,
//! comes from the environment, never from the file.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

/// `store`: a backend other than the embedded one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreSettings {
    /// PostgreSQL, for several replicas.
    Postgres(PostgresSettings),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// The environment variable holding the URL (`postgres://user:password@host/db`, with
    /// `?sslmode=verify-full&sslrootcert=/path/ca.crt` for TLS).
    #[serde(default = "default_url_env")]
    pub url_env: String,
}

fn default_url_env() -> String {
    "DATABASE_URL".into()
}

/// The store the configuration chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// sled, in this directory (created if missing).
    Sled(PathBuf),
    /// PostgreSQL, at the URL in this environment variable.
    Postgres { url_env: String },
}

impl StoreLocation {
    /// From the file's `store_path` and `store`: exactly one of them.
    pub(super) fn of(
        store_path: Option<PathBuf>,
        store: Option<StoreSettings>,
    ) -> Result<StoreLocation, String> {
        match (store_path, store) {
            (Some(path), None) => Ok(StoreLocation::Sled(path)),
            (None, Some(StoreSettings::Postgres(pg))) => Ok(StoreLocation::Postgres {
                url_env: pg.url_env,
            }),
            (Some(_), Some(_)) => Err(
                "give either `store_path` (the embedded store) or `store: { postgres: … }`, not both"
                    .into(),
            ),
            (None, None) => Err(
                "missing `store_path` (a directory for the embedded store), or `store: { postgres: { url_env: DATABASE_URL } }`"
                    .into(),
            ),
        }
    }

    /// The PostgreSQL URL from the environment.
    pub fn postgres_url(url_env: &str) -> anyhow::Result<String> {
        std::env::var(url_env).map_err(|_| {
            anyhow::anyhow!(
                "store.postgres.url_env is {url_env}: that environment variable must hold the database URL"
            )
        })
    }
}
