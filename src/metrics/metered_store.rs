//! The store, counted: every call by operation and result (`ok`, `conflict`, `not_found`,
//! `error`) and timed, without touching what it does or answers.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Metrics;
use crate::domain::activity::{CleanupStep, EndReport, SessionActivity, Tally};
use crate::domain::audit::{AuditEntry, AuditEvent, ChainHead, StoredEntry};
use crate::domain::grant::Grant;
use crate::store::{
    ActivityStore, AuditLog, ChangedElsewhere, GrantRequests, GrantStore, NotableWords,
    SeenRequests, Sighting, StoreError, StoreResult,
};

/// One of the store's traits, with its calls counted and timed.
pub struct MeteredStore<T: ?Sized> {
    inner: Arc<T>,
    metrics: Arc<Metrics>,
}

impl<T: ?Sized> MeteredStore<T> {
    pub fn new(inner: Arc<T>, metrics: Arc<Metrics>) -> Self {
        MeteredStore { inner, metrics }
    }

    async fn call<R>(
        &self,
        operation: &'static str,
        call: impl Future<Output = StoreResult<R>>,
    ) -> StoreResult<R> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(StoreError::Conflict { .. } | StoreError::AlreadyExists(_)) => "conflict",
            Err(StoreError::NotFound(_)) => "not_found",
            Err(StoreError::Backend(_)) => "error",
        };
        self.metrics
            .store_call(operation, outcome, started.elapsed());
        result
    }
}

#[async_trait]
impl<T: GrantStore + ?Sized> GrantStore for MeteredStore<T> {
    async fn insert(&self, grant: &Grant) -> StoreResult<()> {
        self.call("insert", self.inner.insert(grant)).await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Grant>> {
        self.call("get", self.inner.get(id)).await
    }

    async fn replace(&self, expected_version: u64, next: &Grant) -> StoreResult<()> {
        self.call("replace", self.inner.replace(expected_version, next))
            .await
    }

    async fn due(&self, at: DateTime<Utc>) -> StoreResult<Vec<Grant>> {
        self.call("due", self.inner.due(at)).await
    }

    async fn next_deadline(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.call("next_deadline", self.inner.next_deadline()).await
    }

    async fn open_grants(&self) -> StoreResult<Vec<Grant>> {
        self.call("open_grants", self.inner.open_grants()).await
    }

    async fn unreviewed(&self) -> StoreResult<Vec<Grant>> {
        self.call("unreviewed", self.inner.unreviewed()).await
    }

    async fn with_pending_effects(&self) -> StoreResult<Vec<Grant>> {
        self.call("with_pending_effects", self.inner.with_pending_effects())
            .await
    }

    async fn claim_outbox(&self, id: &str, lease: std::time::Duration) -> StoreResult<bool> {
        self.call("claim_outbox", self.inner.claim_outbox(id, lease))
            .await
    }

    async fn release_outbox(&self, id: &str) -> StoreResult<()> {
        self.call("release_outbox", self.inner.release_outbox(id))
            .await
    }

    fn changes_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<ChangedElsewhere>> {
        self.inner.changes_elsewhere()
    }
}

#[async_trait]
impl<T: AuditLog + ?Sized> AuditLog for MeteredStore<T> {
    async fn append(&self, events: Vec<AuditEvent>) -> StoreResult<Vec<AuditEntry>> {
        self.call("append", self.inner.append(events)).await
    }

    async fn entries_after(&self, seq: u64, limit: usize) -> StoreResult<Vec<StoredEntry>> {
        self.call("entries_after", self.inner.entries_after(seq, limit))
            .await
    }

    async fn entries_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<AuditEntry>> {
        self.call("entries_since", self.inner.entries_since(since))
            .await
    }

    async fn head(&self) -> StoreResult<Option<ChainHead>> {
        self.call("head", self.inner.head()).await
    }

    fn durable_seq(&self) -> u64 {
        self.inner.durable_seq()
    }

    // A wait for the next entry, not a call: timing it would say how quiet the log was.
    async fn wait_for_entry_after(&self, seq: u64) {
        self.inner.wait_for_entry_after(seq).await
    }

    async fn cursor(&self, name: &str) -> StoreResult<u64> {
        self.call("cursor", self.inner.cursor(name)).await
    }

    async fn set_cursor(&self, name: &str, seq: u64) -> StoreResult<()> {
        self.call("set_cursor", self.inner.set_cursor(name, seq))
            .await
    }
}

#[async_trait]
impl<T: ActivityStore + ?Sized> ActivityStore for MeteredStore<T> {
    async fn record_activity(
        &self,
        batch: Vec<GrantRequests>,
        words: &NotableWords<'_>,
    ) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        self.call("record_activity", self.inner.record_activity(batch, words))
            .await
    }

    async fn activity(&self, grant: &str) -> StoreResult<Option<SessionActivity>> {
        self.call("activity", self.inner.activity(grant)).await
    }

    async fn unsummarised_activity(&self) -> StoreResult<Vec<SessionActivity>> {
        self.call("unsummarised_activity", self.inner.unsummarised_activity())
            .await
    }

    async fn activity_replied(
        &self,
        grant: &str,
        posted: &Tally,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.call(
            "activity_replied",
            self.inner.activity_replied(grant, posted, at),
        )
        .await
    }

    async fn activity_summarised(
        &self,
        grant: &str,
        at: DateTime<Utc>,
        report: EndReport,
        entries: Vec<AuditEvent>,
    ) -> StoreResult<()> {
        self.call(
            "activity_summarised",
            self.inner.activity_summarised(grant, at, report, entries),
        )
        .await
    }

    async fn activity_cleaned_up(
        &self,
        grant: &str,
        item: &str,
        step: &CleanupStep,
        entry: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        self.call(
            "activity_cleaned_up",
            self.inner.activity_cleaned_up(grant, item, step, entry),
        )
        .await
    }
}

#[async_trait]
impl<T: SeenRequests + ?Sized> SeenRequests for MeteredStore<T> {
    async fn first_sighting(
        &self,
        signature: &[u8],
        keep_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Sighting> {
        self.call(
            "first_sighting",
            self.inner.first_sighting(signature, keep_until, now),
        )
        .await
    }
}
