//! Session activity in PostgreSQL: table `activity` (grant id → `SessionActivity` JSON, and
//! whether its final summary is still to come). A batch's activity and the audit entries of its
//! notable requests are one transaction; each record is locked while it changes, so two replicas
//! taking batches about the same grant add to it one after the other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::audit::append_in;
use super::{PostgresStore, backend};
use crate::domain::activity::{CleanupStep, EndReport, SessionActivity, Tally, notable_event};
use crate::domain::audit::AuditEvent;
use crate::store::{
    ActivityStore, GrantRequests, NotableWords, StoreError, StoreResult, clean_up, summarise,
};

/// The grant's activity record, locked until the transaction ends; `None` when there is none.
async fn load(
    tx: &mut Transaction<'_, Postgres>,
    grant: &str,
) -> StoreResult<Option<SessionActivity>> {
    let body: Option<String> =
        sqlx::query_scalar("SELECT body FROM activity WHERE grant_id = $1 FOR UPDATE")
            .bind(grant)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?;
    body.map(|b| serde_json::from_str(&b).map_err(backend))
        .transpose()
}

/// Writes the record; `reply_due` marks it as still to be summarised.
async fn save(
    tx: &mut Transaction<'_, Postgres>,
    record: &SessionActivity,
    reply_due: bool,
) -> StoreResult<()> {
    let body = serde_json::to_string(record).map_err(backend)?;
    sqlx::query(
        "INSERT INTO activity (grant_id, body, unsummarised) VALUES ($1, $2, $3)
         ON CONFLICT (grant_id) DO UPDATE SET body = excluded.body,
             unsummarised = (activity.unsummarised OR excluded.unsummarised) AND NOT $4",
    )
    .bind(&record.grant)
    .bind(body)
    .bind(reply_due)
    .bind(record.summarised)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Makes sure the grant has a row to lock: two replicas must not both start its record from
/// nothing. True when this call made it (and it is to be removed if nothing is added).
async fn claim(tx: &mut Transaction<'_, Postgres>, grant: &str) -> StoreResult<bool> {
    let body = serde_json::to_string(&SessionActivity::new(grant)).map_err(backend)?;
    let made = sqlx::query(
        "INSERT INTO activity (grant_id, body, unsummarised) VALUES ($1, $2, FALSE)
         ON CONFLICT (grant_id) DO NOTHING",
    )
    .bind(grant)
    .bind(body)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(made.rows_affected() == 1)
}

impl PostgresStore {
    /// Changes one grant's activity record in a transaction of its own: `change` changes it and
    /// says which audit entries go with the change, or `None` to leave it as it is (then this
    /// returns false).
    async fn change_activity(
        &self,
        grant: &str,
        change: impl Fn(&mut SessionActivity) -> Option<Vec<AuditEvent>>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let Some(mut record) = load(&mut tx, grant).await? else {
            return Err(StoreError::NotFound(grant.to_string()));
        };
        let Some(records) = change(&mut record) else {
            return Ok(false);
        };
        save(&mut tx, &record, false).await?;
        let appended = append_in(&mut tx, &records).await?;
        self.follower
            .tell_in(&mut tx, &format!("activity {grant}"))
            .await?;
        tx.commit().await.map_err(backend)?;
        self.follower.announce(appended.head);
        Ok(true)
    }
}

#[async_trait]
impl ActivityStore for PostgresStore {
    async fn record_activity(
        &self,
        mut batch: Vec<GrantRequests>,
        words: &NotableWords<'_>,
    ) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // Rows are locked in one order by every replica, so two batches cannot deadlock.
        batch.sort_by(|a, b| a.grant.cmp(&b.grant));
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut events = Vec::new();
        let mut unposted = Vec::new();
        for grant in &batch {
            let made = claim(&mut tx, &grant.grant).await?;
            let mut record = load(&mut tx, &grant.grant)
                .await?
                .unwrap_or_else(|| SessionActivity::new(&grant.grant));
            let before = (record.total.requests, record.open_stream_count());
            for request in &grant.requests {
                if let Some(action) = record.record(request) {
                    events.push(notable_event(&grant.about, &action, words(&action)));
                }
            }
            if (record.total.requests, record.open_stream_count()) == before {
                if made {
                    sqlx::query("DELETE FROM activity WHERE grant_id = $1")
                        .bind(&grant.grant)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                continue;
            }
            let due = record.reply_due();
            save(&mut tx, &record, due.is_some()).await?;
            self.follower
                .tell_in(&mut tx, &format!("activity {}", grant.grant))
                .await?;
            if let Some(due) = due {
                unposted.push((grant.grant.clone(), due));
            }
        }
        let appended = append_in(&mut tx, &events).await?;
        tx.commit().await.map_err(backend)?;
        self.follower.announce(appended.head);
        Ok(unposted)
    }

    async fn activity(&self, grant: &str) -> StoreResult<Option<SessionActivity>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM activity WHERE grant_id = $1")
                .bind(grant)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        body.map(|b| serde_json::from_str(&b).map_err(backend))
            .transpose()
    }

    async fn unsummarised_activity(&self) -> StoreResult<Vec<SessionActivity>> {
        let bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM activity WHERE unsummarised ORDER BY grant_id")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(backend))
            .collect()
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
