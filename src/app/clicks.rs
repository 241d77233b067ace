//! Buttons on the bot's messages: Slack's are answered in the background (a refusal goes to the
//! clicker alone); Teams' Adaptive Card actions are answered with the card as it now stands.

use std::sync::Arc;

use tracing::{error, info, warn};

use super::{Action, App, Applied, Asks, Click};
use crate::chat::Message;
use crate::domain::grant::{Event, Grant};

impl App {
    /// Takes a button click in the background (Slack wants its answer within 3 seconds);
    /// shutdown waits for it to finish. `channel` is `None` for a click on the App Home.
    pub fn spawn_click(self: &Arc<Self>, click: Click, user: String, channel: Option<String>) {
        let app = Arc::clone(self);
        let task = async move {
            app.handle_click(&click, &user, channel.as_deref()).await;
            // The Home tab shows the grant as it is now.
            if channel.is_none() {
                app.publish_home(&user).await;
            }
        };
        // Acknowledged at once, decided here: in the click's request span, for its logs.
        self.tasks.spawn(tracing::Instrument::in_current_span(task));
    }

    /// Handles a click; a refused click is answered (ephemerally in its channel, by DM from the
    /// App Home) and changes nothing. A cleanup updates the summary clicked.
    pub async fn handle_click(self: &Arc<Self>, click: &Click, user: &str, channel: Option<&str>) {
        let refusal = match self.decide_click(click, user).await {
            Ok(message) => return self.update_clicked_summary(click, &message).await,
            Err(refusal) => refusal,
        };
        let chat = &self.adapters.chat;
        let told = match channel {
            Some(channel) => chat.post_ephemeral(channel, user, &refusal).await,
            None => chat.dm(user, &refusal).await.map(|_| ()),
        };
        if let Err(e) = told {
            warn!(grant = %click.grant_id, user, error = %e, "could not tell the user why their click was refused");
        }
    }

    /// Applies a click and returns the message it acted on as it now stands (Teams shows it in
    /// place of the clicked card), or the refusal to show the clicker.
    pub async fn click_for_card(
        self: &Arc<Self>,
        click: &Click,
        user: &str,
    ) -> Result<Message, Message> {
        let answer = self.decide_click(click, user).await;
        if let Ok(message) = &answer {
            self.update_clicked_summary(click, message).await;
        }
        answer
    }

    /// After a cleanup, the summary clicked shows it to everyone (who handled the item, its
    /// button gone); a summary that cannot be updated keeps its buttons, and a second click is
    /// told who handled it.
    async fn update_clicked_summary(&self, click: &Click, summary: &Message) {
        let (Some(at), Asks::Cleanup { .. }) = (&click.message, &click.asks) else {
            return;
        };
        if let Err(e) = self.adapters.chat.update(at, summary).await {
            warn!(grant = %click.grant_id, error = %e, "could not update the summary after a cleanup");
        }
    }

    async fn decide_click(self: &Arc<Self>, click: &Click, user: &str) -> Result<Message, Message> {
        let grant_id = click.grant_id.as_str();
        let action = match &click.asks {
            Asks::Grant(action) => *action,
            Asks::Cleanup { how, item } => {
                let outcome = self.clean_up(grant_id, item, user, *how).await;
                return self.cleanup_answer(outcome, grant_id);
            }
        };
        let grant = self.decide(grant_id, user, action).await?;
        let card = match action {
            Action::Approve | Action::Deny => self.templates.approval_message(&grant),
            Action::ApproveExtension | Action::DenyExtension => {
                self.templates.extension_message(&grant)
            }
            Action::Extend => self.templates.command_done("extend", &grant),
            Action::Drop => self.templates.command_done("revoke", &grant),
            Action::Review => {
                let report = self.end_report_of(&grant.id).await;
                let approvers = self.policy.approvers_for(&grant.role);
                (self.templates).review_message_with(&grant, approvers, report.as_ref())
            }
        };
        card.map_err(|e| {
            error!(grant = grant_id, error = %e, "could not render the refreshed card");
            crate::templates::last_resort()
        })
    }

    /// What a sender the chat platform cannot name is told.
    pub fn unidentified_sender(&self) -> Message {
        self.templates.unidentified_sender().unwrap_or_else(|e| {
            error!(error = %e, "could not render the unidentified-sender text");
            crate::templates::last_resort()
        })
    }

    /// Decides and persists a click: the grant after it, or the refusal to show the clicker.
    async fn decide(
        self: &Arc<Self>,
        grant_id: &str,
        user: &str,
        action: Action,
    ) -> Result<Grant, Message> {
        let event = match action {
            Action::Approve => Event::Approve {
                approver: user.into(),
            },
            Action::Deny => Event::Deny {
                approver: user.into(),
            },
            Action::ApproveExtension => Event::ApproveExtension {
                approver: user.into(),
            },
            Action::DenyExtension => Event::DenyExtension {
                approver: user.into(),
            },
            Action::Drop => Event::Revoke { by: user.into() },
            Action::Review => Event::Review { by: user.into() },
            Action::Extend => {
                let secs = match self.adapters.store.get(grant_id).await {
                    Ok(Some(grant)) => self.reminder_extension(&grant).map_or(0, |d| d.as_secs()),
                    _ => 0,
                };
                Event::RequestExtension {
                    by: user.into(),
                    secs,
                }
            }
        };
        let refusal = match self.apply_event(grant_id, &event).await {
            Ok(Applied::Done(grant)) => return Ok(grant),
            Ok(Applied::Rejected(grant, rejection)) => {
                info!(
                    grant = grant_id,
                    user,
                    reason = rejection.kind(),
                    "click refused"
                );
                self.templates
                    .action_refused(&rejection, &grant, &self.policy)
            }
            Ok(Applied::Unknown) => self.templates.unknown_grant(grant_id),
            Err(e) => {
                error!(grant = grant_id, user, error = %e, "click failed");
                self.templates.internal_error_on_action(grant_id)
            }
        };
        Err(refusal.unwrap_or_else(|e| {
            error!(error = %e, "could not render a refusal");
            crate::templates::last_resort()
        }))
    }

    /// What the reminder's Extend button asks for: the role's default, within what is left.
    pub(super) fn reminder_extension(&self, grant: &Grant) -> Option<std::time::Duration> {
        let role = self.policy.roles.get(&grant.role)?;
        if !role.extensions.allowed {
            return None;
        }
        let left = grant
            .max_secs(&self.policy)
            .saturating_sub(grant.duration_secs);
        let by = role.default_duration().as_secs().min(left);
        (by > 0).then(|| std::time::Duration::from_secs(by))
    }
}
