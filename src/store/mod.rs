//! Durable grant state. The application sees only this trait; sled is the embedded default.

mod sled_store;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::grant::Grant;

pub use sled_store::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the grant first; reload and decide again.
    #[error("grant {id} changed concurrently (expected version {expected})")]
    Conflict { id: String, expected: u64 },
    #[error("grant {0} already exists")]
    AlreadyExists(String),
    #[error("grant {0} not found")]
    NotFound(String),
    #[error("store: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new grant; durable when this returns.
    async fn insert(&self, grant: &Grant) -> StoreResult<()>;
    async fn get(&self, id: &str) -> StoreResult<Option<Grant>>;
    /// Replaces the grant if its stored version is still `expected_version` (compare-and-swap);
    /// durable when this returns.
    async fn replace(&self, expected_version: u64, next: &Grant) -> StoreResult<()>;
    /// Grants whose next deadline (review timeout, reminder, expiry) is at or before `at`,
    /// earliest first.
    async fn due(&self, at: DateTime<Utc>) -> StoreResult<Vec<Grant>>;
    /// The earliest next deadline of any grant.
    async fn next_deadline(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Grants that are not finished (requested, approved or active).
    async fn open_grants(&self) -> StoreResult<Vec<Grant>>;
    /// Grants with effects still to carry out.
    async fn with_pending_effects(&self) -> StoreResult<Vec<Grant>>;
}
