//! Exactly one replica at a time runs the background work (deadlines, the reconciler, the
//! digest, the SIEM webhook, the activity reports): the one holding a PostgreSQL advisory lock,
//! taken on a connection of its own. PostgreSQL releases it the moment that connection ends, so
//! when the leader dies (even by SIGKILL: its socket closes) another replica takes over within
//! `TRY_EVERY`. A replica that cannot reach the database for `CHECK_EVERY` gives the lead up.
//! With a store one process owns (sled), that process always leads.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tracing::{info, warn};

/// The advisory lock's key: "prodaccs" as a number, so it does not collide with a lock of
/// another program sharing the database.
const LOCK_KEY: i64 = 0x7072_6f64_6163_6373;
/// How often a replica that does not lead tries to.
const TRY_EVERY: Duration = Duration::from_millis(500);
/// How often the leader checks that its connection, and so its lock, still stands.
const CHECK_EVERY: Duration = Duration::from_secs(1);

pub enum Leadership {
    /// The only process on its store.
    Alone,
    /// One of the replicas on this PostgreSQL database.
    Postgres(Box<PgConnectOptions>),
}

/// This replica leads until `lost` returns.
pub enum Lead {
    Alone,
    Postgres(PgConnection),
}

impl Leadership {
    /// Waits until this replica leads.
    pub async fn acquire(&self) -> Lead {
        let options = match self {
            Leadership::Alone => return Lead::Alone,
            Leadership::Postgres(options) => options,
        };
        let mut said_waiting = false;
        loop {
            match try_lock(options).await {
                Ok(Some(connection)) => {
                    info!("this replica leads the background work");
                    return Lead::Postgres(connection);
                }
                Ok(None) if !said_waiting => {
                    info!("another replica leads the background work; standing by");
                    said_waiting = true;
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "cannot reach the database to lead"),
            }
            tokio::time::sleep(TRY_EVERY).await;
        }
    }
}

/// A connection holding the lock, or `None` while another replica holds it.
async fn try_lock(options: &PgConnectOptions) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut connection = options.connect().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut connection)
        .await?;
    if locked {
        Ok(Some(connection))
    } else {
        let _ = connection.close().await;
        Ok(None)
    }
}

impl Lead {
    /// Returns when this replica no longer leads: never for the only process.
    pub async fn lost(&mut self) {
        let connection = match self {
            Lead::Alone => return std::future::pending().await,
            Lead::Postgres(connection) => connection,
        };
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let check = tokio::time::timeout(CHECK_EVERY, connection.ping()).await;
            if !matches!(check, Ok(Ok(()))) {
                warn!("lost the connection holding the lead; stopping the background work");
                return;
            }
        }
    }
}
