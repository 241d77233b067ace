//! Who did what, for the audit log: the actor's Slack user ID and the email on their profile.
//! Emails are looked up before a decision is taken (never under a grant's lock) and remembered
//! for an hour, so a busy approver costs one `users.info` call, not one per click.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::App;
use crate::domain::audit::AuditEvent;

/// How long a looked-up email is used before it is looked up again.
const REMEMBERED_FOR: chrono::Duration = chrono::Duration::hours(1);

/// User → (email, when it was looked up).
type Remembered = HashMap<String, (Option<String>, DateTime<Utc>)>;

#[derive(Default)]
pub(super) struct EmailCache(Mutex<Remembered>);

impl App {
    /// The email on `user`'s Slack profile, or `None` when there is none or Slack cannot say.
    pub(super) async fn email_of(&self, user: &str) -> Option<String> {
        self.email_of_within(user, Duration::from_secs(10)).await
    }

    /// The email remembered for `user`, without waiting for Slack: when none is, it is looked up
    /// in the background for next time and the entry made now names the user by ID alone.
    pub(super) fn email_without_waiting(self: &Arc<Self>, user: &str) -> Option<String> {
        if let Some((email, at)) = self.emails.lock().get(user)
            && self.now() - *at < REMEMBERED_FOR
        {
            return email.clone();
        }
        let (app, user) = (Arc::clone(self), user.to_string());
        self.tasks.spawn(async move { app.email_of(&user).await });
        None
    }

    /// As `email_of`, waiting at most `wait` for Slack.
    pub(super) async fn email_of_within(&self, user: &str, wait: Duration) -> Option<String> {
        let now = self.now();
        if let Some((email, at)) = self.emails.lock().get(user)
            && now - *at < REMEMBERED_FOR
        {
            return email.clone();
        }
        match tokio::time::timeout(wait, self.adapters.chat.user_email(user)).await {
            Ok(Ok(email)) => {
                self.emails
                    .lock()
                    .insert(user.to_string(), (email.clone(), now));
                email
            }
            Ok(Err(e)) => {
                warn!(user, error = %e, "cannot look up an email for the audit log");
                None
            }
            Err(_) => {
                warn!(
                    user,
                    "no email from the chat platform in time for the audit log"
                );
                None
            }
        }
    }
}

impl App {
    /// Keeps an email a profile lookup gave, for the audit log.
    pub(super) fn remember_email(&self, user: &str, email: Option<String>) {
        self.emails
            .lock()
            .insert(user.to_string(), (email, self.now()));
    }
}

impl EmailCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Puts `email` on the events whose actor is `user`.
pub(super) fn record_email(journal: &mut [AuditEvent], user: &str, email: Option<&str>) {
    for event in journal {
        if let Some(actor) = event.actor.as_mut().filter(|a| a.user == user) {
            actor.email = email.map(str::to_string);
        }
    }
}
