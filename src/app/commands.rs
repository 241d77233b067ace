//! `/prod-access …`: every subcommand answers the person who typed it, ephemerally.

use std::sync::Arc;

use std::collections::HashMap;

use tracing::{error, info, warn};

use super::{App, AppError, Applied, EffectError};
use crate::chat::Message;
use crate::templates::FormProblem;

/// What the request form's fields held when it was submitted.
#[derive(Debug, Clone, Default)]
pub struct RequestForm {
    pub role: String,
    pub namespace: String,
    pub duration: String,
    pub reason: String,
    /// The channel the form was opened from, for the confirmation.
    pub channel: String,
}

use crate::domain::break_glass;
use crate::domain::command::{self, Command, ParseError, Part};
use crate::domain::grant::{Event, Grant, GrantState};
use crate::domain::lifecycle::NewRequest;
use crate::domain::policy::RequestRefusal;

impl App {
    /// Handles `/prod-access …` and returns the ephemeral reply for the person who typed it, or
    /// `None` when a form was opened instead.
    pub async fn handle_command(
        self: &Arc<Self>,
        user: &str,
        channel: &str,
        text: &str,
        trigger_id: &str,
    ) -> Option<Message> {
        // Teams has no forms: a bare command is answered with how to type one.
        if self.templates.platform() == crate::chat::Platform::Slack
            && command::parse(text) == Ok(Command::Form)
        {
            match self.open_form(channel, trigger_id).await {
                Ok(()) => return None,
                Err(e) => warn!(error = %e, user, "could not open the request form"),
            }
        }
        Some(match self.try_command(user, channel, text).await {
            Ok(reply) => reply,
            Err(e) => {
                error!(error = %e, user, "command failed; nothing was changed");
                self.templates
                    .internal_error_on_request(&self.policy)
                    .unwrap_or_else(|_| crate::templates::last_resort())
            }
        })
    }

    /// What a slash command is answered when nothing can be done now (the store is away), as
    /// its ephemeral response body.
    pub fn command_unavailable_reply(&self) -> Option<serde_json::Value> {
        let mut body = self
            .templates
            .internal_error_on_request(&self.policy)
            .ok()?
            .0;
        if let serde_json::Value::Object(fields) = &mut body {
            fields.insert("response_type".into(), serde_json::json!("ephemeral"));
        }
        Some(body)
    }

    async fn open_form(&self, channel: &str, trigger_id: &str) -> Result<(), EffectError> {
        let view = self.templates.request_modal(&self.policy, channel)?;
        self.adapters.chat.open_modal(trigger_id, &view).await?;
        Ok(())
    }

    /// Handles a submitted request form. Returns the inline errors (field → text) to show, or an
    /// empty map when the request was accepted.
    pub async fn handle_form(
        self: &Arc<Self>,
        user: &str,
        form: RequestForm,
    ) -> HashMap<String, String> {
        let problem = match self.submit_form(user, &form).await {
            Ok(None) => return HashMap::new(),
            Ok(Some(problem)) => problem,
            Err(e) => {
                error!(error = %e, user, "form submission failed; nothing was stored");
                FormProblem::Internal
            }
        };
        match self.templates.form_error(&problem) {
            Ok((field, text)) => HashMap::from([(field, text)]),
            Err(e) => {
                error!(error = %e, "could not render a form error");
                HashMap::from([(
                    "role".to_string(),
                    crate::templates::last_resort_text().to_string(),
                )])
            }
        }
    }

    async fn submit_form(
        self: &Arc<Self>,
        user: &str,
        form: &RequestForm,
    ) -> Result<Option<FormProblem>, AppError> {
        let duration = match form.duration.trim() {
            "" => None,
            text => match command::parse_duration(text) {
                Ok(d) => Some(d),
                Err(e) => return Ok(Some(FormProblem::Parse(e))),
            },
        };
        let args = command::RequestArgs {
            role: form.role.trim().to_string(),
            namespace: form.namespace.trim().to_string(),
            duration,
            reason: form.reason.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        let terms = match self.policy.evaluate(&args, &self.cluster_names()) {
            Ok(terms) => terms,
            Err(refusal) => return Ok(Some(FormProblem::Policy(refusal))),
        };
        let reply = match self.create_grant(user, &form.channel, &args, terms).await? {
            Ok(reply) => reply,
            Err(refusal) => return Ok(Some(FormProblem::Policy(refusal))),
        };
        // The form closes on success; the confirmation goes by DM, which works wherever the form
        // was opened (an ephemeral post fails in channels the bot is not in).
        let (app, user) = (Arc::clone(self), user.to_string());
        self.tasks.spawn(async move {
            if let Err(e) = app.adapters.chat.dm(&user, &reply).await {
                warn!(error = %e, user, "could not confirm a request made with the form");
            }
        });
        Ok(None)
    }

    async fn try_command(
        self: &Arc<Self>,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Result<Message, AppError> {
        let templates = &self.templates;
        let command = match command::parse(text) {
            Ok(command) => command,
            Err(e) => return Ok(templates.parse_refused(&e, &self.policy)?),
        };
        match command {
            Command::Help => Ok(templates.help(&self.policy)?),
            Command::Form => {
                let missing = ParseError::Missing(Part::RoleAndNamespace);
                Ok(templates.parse_refused(&missing, &self.policy)?)
            }
            Command::Request(args) => self.submit(user, channel, &args).await,
            Command::List => self.list(user).await,
            Command::Status { grant } => match self.adapters.store.get(&grant).await? {
                // Ids are posted in channels: to anyone else, a grant they may not see does
                // not exist.
                Some(g) if !self.may_see(&g, user).await => {
                    info!(grant = %g.id, user, "status refused: not the requester, an approver or an auditor");
                    Ok(templates.unknown_grant(&grant)?)
                }
                Some(g) => {
                    let activity = self.activity_of(&g.id).await?;
                    Ok(templates.status_with_activity(&g, activity.as_ref())?)
                }
                None => Ok(templates.unknown_grant(&grant)?),
            },
            Command::Cancel { grant } => {
                self.act(&grant, user, "cancel", Event::Cancel { by: user.into() })
                    .await
            }
            Command::Revoke { grant } => {
                self.act(&grant, user, "revoke", Event::Revoke { by: user.into() })
                    .await
            }
            Command::Extend { grant, by } => {
                let event = Event::RequestExtension {
                    by: user.into(),
                    secs: by.as_secs(),
                };
                self.act(&grant, user, "extend", event).await
            }
        }
    }

    async fn submit(
        self: &Arc<Self>,
        user: &str,
        channel: &str,
        args: &command::RequestArgs,
    ) -> Result<Message, AppError> {
        let created = match self.policy.evaluate(args, &self.cluster_names()) {
            Ok(terms) => self.create_grant(user, channel, args, terms).await?,
            Err(refusal) => Err(refusal),
        };
        match created {
            Ok(reply) => Ok(reply),
            Err(refusal) => Ok(self.templates.policy_refused(&refusal, &self.policy)?),
        }
    }

    /// Counts a request against the requester's rate limit, or refuses it.
    fn admit_request(&self, user: &str) -> Result<(), RequestRefusal> {
        let limit = &self.policy.requests.rate_limit;
        let mut log = self.request_log.lock().unwrap_or_else(|p| p.into_inner());
        log.admit(user, self.now(), limit).map_err(|next_at| {
            info!(user, "request refused: rate limit");
            RequestRefusal::RateLimited {
                max: limit.requests,
                per: limit.per,
                next_at,
            }
        })
    }

    /// Stores a new grant the policy accepted and starts its effects; returns the confirmation,
    /// or why the request is refused after all (a break-glass role where no incident is shown,
    /// the rate limit), with nothing stored.
    async fn create_grant(
        self: &Arc<Self>,
        user: &str,
        channel: &str,
        args: &command::RequestArgs,
        terms: crate::domain::policy::GrantTerms,
    ) -> Result<Result<Message, RequestRefusal>, AppError> {
        let (identity, place) = tokio::join!(
            self.identity_for_request(user, &terms.role),
            self.incident_context(channel, &args.reason)
        );
        let identity = match identity {
            Ok(identity) => identity,
            Err(refusal) => return Ok(Err(RequestRefusal::Identity(refusal))),
        };
        if terms.break_glass.is_some()
            && let Err(refusal) = break_glass::admit(&terms.role, &place, &self.policy.incidents)
        {
            info!(user, role = %terms.role, channel, why = refusal.kind(), "break-glass request refused");
            return Ok(Err(refusal));
        }
        let incident = place.ok();
        if let Err(refusal) = self.admit_request(user) {
            return Ok(Err(refusal));
        }
        let mut grant = Grant::request(
            NewRequest {
                id: new_grant_id(),
                requester: user,
                requested_in: channel,
                identity,
                incident,
                reason: &args.reason,
                terms,
            },
            self.now(),
            &self.policy,
        );
        let email = self.email_of(user).await;
        super::actors::record_email(&mut grant.journal, user, email.as_deref());
        self.templates.word_journal(&mut grant.journal);
        let reply = self
            .templates
            .request_received(&grant, self.policy.approvers_for(&grant.role))?;
        self.adapters.store.insert(&grant).await?;
        self.note_written(&grant);
        info!(grant = %grant.id, user, role = %grant.role, scope = ?grant.scope, "access requested");
        self.scheduler_wake.notify_one();
        self.spawn_drive(grant.id);
        Ok(Ok(reply))
    }

    /// The user's open grants, and the requests (and extensions) they may decide.
    async fn list(&self, user: &str) -> Result<Message, AppError> {
        let (mine, waiting) = self.mine_and_waiting(user).await?;
        Ok(self.templates.list(&mine, &waiting)?)
    }

    /// The user's open grants, and the requests (and extensions) waiting for them to decide,
    /// oldest first.
    pub(super) async fn mine_and_waiting(
        &self,
        user: &str,
    ) -> Result<(Vec<Grant>, Vec<Grant>), AppError> {
        let open = self.adapters.store.open_grants().await?;
        let (mut mine, mut waiting) = (Vec::new(), Vec::new());
        let mut policies: HashMap<String, crate::domain::policy::Policy> = HashMap::new();
        for grant in open {
            if grant.requester == user {
                mine.push(grant);
            } else if self.awaits(&grant, user) {
                // One lookup per role, not per grant: group lookups are rate-limited by Slack.
                if !policies.contains_key(&grant.role) {
                    let policy = self.policy_for(&grant.role).await;
                    policies.insert(grant.role.clone(), policy);
                }
                if policies[&grant.role].may_approve(&grant.role, user) {
                    waiting.push(grant);
                }
            }
        }
        mine.sort_by_key(|g| g.requested_at);
        waiting.sort_by_key(|g| g.requested_at);
        Ok((mine, waiting))
    }

    /// Whether `user` may see `grant`'s details: its requester, its approvers and the policy's
    /// auditors, with user groups as they are now.
    async fn may_see(&self, grant: &Grant, user: &str) -> bool {
        grant.requester == user
            || self
                .policy_for(&grant.role)
                .await
                .may_see(&grant.role, user)
    }

    /// Whether `approver` still has a decision to make on `grant`.
    fn awaits(&self, grant: &Grant, approver: &str) -> bool {
        let decided = |approvals: &[crate::domain::grant::Decision]| {
            approvals.iter().any(|a| a.by == approver)
        };
        match grant.state {
            GrantState::Requested => !decided(&grant.approvals),
            GrantState::Active => grant
                .pending_extension()
                .is_some_and(|x| !decided(&x.approvals)),
            _ => false,
        }
    }

    async fn act(
        self: &Arc<Self>,
        grant_id: &str,
        user: &str,
        action: &str,
        event: Event,
    ) -> Result<Message, AppError> {
        Ok(match self.apply_event(grant_id, &event).await? {
            Applied::Done(grant) => {
                info!(grant = grant_id, user, action, "subcommand applied");
                self.templates.command_done(action, &grant)?
            }
            // A refusal would tell a stranger who asked for what: to them the grant is unknown.
            Applied::Rejected(grant, _) if !self.may_see(&grant, user).await => {
                self.templates.unknown_grant(grant_id)?
            }
            Applied::Rejected(grant, rejection) => {
                self.templates
                    .action_refused(&rejection, &grant, &self.policy)?
            }
            Applied::Unknown => self.templates.unknown_grant(grant_id)?,
        })
    }
}

/// Short, lowercase and label-safe, so it fits Kubernetes names and labels.
fn new_grant_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}
