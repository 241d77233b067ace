//! Session activity in sled: tree `activity` (grant id → `SessionActivity` JSON) and
//! `activity_open` (grant id → ()) for grants whose final summary is still to come. A batch's
//! activity and the audit entries of its notable requests are one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::audit::append_in;
use super::{abort, backend};
use crate::domain::activity::{CleanupStep, EndReport, SessionActivity, Tally, notable_event};
use crate::domain::audit::AuditEvent;
use crate::store::{
    ActivityStore, GrantRequests, NotableWords, SledStore, StoreError, StoreResult, clean_up,
    summarise,
};

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn load(tree: &TransactionalTree, grant: &str) -> TxResult<Option<SessionActivity>> {
    match tree.get(grant.as_bytes())? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .or_else(|e| abort(backend(e))),
        None => Ok(None),
    }
}

fn save(tree: &TransactionalTree, activity: &SessionActivity) -> TxResult<()> {
    let encoded = serde_json::to_vec(activity).or_else(|e| abort(backend(e)))?;
    tree.insert(activity.grant.as_bytes(), encoded)?;
    Ok(())
}

fn finish<T>(result: Result<T, TransactionError<StoreError>>) -> StoreResult<T> {
    match result {
        Ok(done) => Ok(done),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(backend(e)),
    }
}

impl SledStore {
    /// Changes one grant's activity record in a transaction of its own: `change` changes it and
    /// says which audit entries go with the change, or `None` to leave it as it is (then this
    /// returns false).
    async fn change_activity(
        &self,
        grant: &str,
        change: impl Fn(&mut SessionActivity) -> Option<Vec<AuditEvent>>,
    ) -> StoreResult<bool> {
        let trees = (
            &self.activity,
            &self.activity_open,
            &self.audit.entries,
            &self.audit.meta,
        );
        let changed = finish(trees.transaction(|(activity, open, entries, meta)| {
            let Some(mut record) = load(activity, grant)? else {
                return abort(StoreError::NotFound(grant.to_string()));
            };
            let Some(records) = change(&mut record) else {
                return Ok(None);
            };
            save(activity, &record)?;
            if record.summarised {
                open.remove(grant.as_bytes())?;
            }
            append_in(entries, meta, &records).map(Some)
        }))?;
        match changed {
            Some(head) => self.flush_and_announce(head).await.map(|()| true),
            None => Ok(false),
        }
    }
}

#[async_trait]
impl ActivityStore for SledStore {
    async fn record_activity(
        &self,
        batch: Vec<GrantRequests>,
        words: &NotableWords<'_>,
    ) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let trees = (
            &self.activity,
            &self.activity_open,
            &self.audit.entries,
            &self.audit.meta,
        );
        let (head, unposted) = finish(trees.transaction(|(activity, open, entries, meta)| {
            let mut events = Vec::new();
            let mut unposted = Vec::new();
            for grant in &batch {
                let mut record = load(activity, &grant.grant)?
                    .unwrap_or_else(|| SessionActivity::new(&grant.grant));
                let before = (record.total.requests, record.open_stream_count());
                for request in &grant.requests {
                    if let Some(action) = record.record(request) {
                        events.push(notable_event(&grant.about, &action, words(&action)));
                    }
                }
                if (record.total.requests, record.open_stream_count()) == before {
                    continue;
                }
                save(activity, &record)?;
                if let Some(due) = record.reply_due() {
                    open.insert(grant.grant.as_bytes(), &[])?;
                    unposted.push((grant.grant.clone(), due));
                }
            }
            Ok((append_in(entries, meta, &events)?, unposted))
        }))?;
        self.flush_and_announce(head).await?;
        Ok(unposted)
    }

    async fn activity(&self, grant: &str) -> StoreResult<Option<SessionActivity>> {
        match self.activity.get(grant.as_bytes()).map_err(backend)? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(backend),
            None => Ok(None),
        }
    }

    async fn unsummarised_activity(&self) -> StoreResult<Vec<SessionActivity>> {
        let mut found = Vec::new();
        for entry in self.activity_open.iter() {
            let (id, _) = entry.map_err(backend)?;
            let id = String::from_utf8_lossy(&id);
            if let Some(record) = self.activity(&id).await? {
                found.push(record);
            }
        }
        Ok(found)
    }

    async fn activity_replied(
        &self,
        grant: &str,
        posted: &Tally,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.change_activity(grant, |record| {
            record.replied(posted, at);
            Some(Vec::new())
        })
        .await
        .map(|_| ())
    }

    async fn activity_summarised(
        &self,
        grant: &str,
        at: DateTime<Utc>,
        report: EndReport,
        entries: Vec<AuditEvent>,
    ) -> StoreResult<()> {
        self.change_activity(grant, |record| {
            Some(summarise(record, at, &report, &entries))
        })
        .await
        .map(|_| ())
    }

    async fn activity_cleaned_up(
        &self,
        grant: &str,
        item: &str,
        step: &CleanupStep,
        entry: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        self.change_activity(grant, |record| clean_up(record, item, step, entry))
            .await
    }
}
