//! Deadlines: review timeouts, reminders and expiry reach each grant as a `Tick` at their
//! time, and effects whose retry is due are run again. `jobs::deadlines` calls this on time.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{error, info};

use super::{App, AppError, Applied};
use crate::domain::grant::Event;

impl App {
    /// Sends `Tick` to every grant whose next deadline has passed (timeouts, reminders, expiry)
    /// and runs the outbox of every grant whose retry is due, each in its own task, so a grant
    /// that is busy (its lock held by slow I/O) delays no other.
    pub async fn tick_due(self: &Arc<Self>) -> Result<(), AppError> {
        let now = self.now();
        for grant in self.adapters.store.due(now).await? {
            let state_due = grant.state_deadline().is_some_and(|at| at <= now);
            let retry_due = grant.retry.as_ref().is_some_and(|r| r.next_at <= now);
            if state_due {
                let app = Arc::clone(self);
                self.tasks.spawn(async move {
                    match app.apply_event(&grant.id, &Event::Tick).await {
                        Ok(Applied::Done(g)) => {
                            info!(grant = %g.id, state = g.state.as_str(), "deadline reached");
                            return;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            error!(grant = %grant.id, error = %e, "could not handle a deadline")
                        }
                    }
                    if retry_due {
                        app.spawn_drive(grant.id);
                    }
                });
            } else if retry_due {
                self.spawn_drive(grant.id);
            }
        }
        Ok(())
    }

    pub(crate) async fn next_deadline(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        Ok(self.adapters.store.next_deadline().await?)
    }
}
