//! People who left: the platform's events (Slack `user_change`, Teams `membersRemoved`) and a
//! periodic look-up of everyone holding or waiting for access end what belongs to those who are
//! gone, so no grant outlives its holder's account.

use std::collections::BTreeSet;
use std::sync::Arc;

use tracing::{error, info, warn};

use super::{App, AppError, Applied};
use crate::chat::Platform;
use crate::domain::departure::Departure;
use crate::domain::grant::{Event, GrantState};

impl App {
    /// Ends `user`'s live access and withdraws their open requests, each recorded with `why`.
    pub async fn requester_left(
        self: &Arc<Self>,
        user: &str,
        why: Departure,
    ) -> Result<usize, AppError> {
        let mut ended = 0;
        for grant in self.adapters.store.open_grants().await? {
            if grant.requester != user || !why.ends_access_to(&grant.role, &self.policy) {
                continue;
            }
            let event = Event::RequesterGone { why };
            if let Applied::Done(g) = self.apply_event(&grant.id, &event).await? {
                info!(grant = %g.id, user, why = why.as_str(), "the requester left; access ended");
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// The same in the background: platforms want their events acknowledged at once.
    pub fn spawn_requester_left(self: &Arc<Self>, user: String, why: Departure) {
        let app = Arc::clone(self);
        self.tasks.spawn(async move {
            if let Err(e) = app.requester_left(&user, why).await {
                warn!(user, error = %e, "could not end the access of someone who left; the periodic check will");
            }
        });
    }

    /// Looks up everyone who holds or waits for access and ends what belongs to those who are
    /// gone: it covers events that never arrived. A look-up that fails changes nothing.
    pub async fn check_requesters(self: &Arc<Self>) -> Result<usize, AppError> {
        // One check at a time: each lookup may wait on a slow chat platform.
        let Ok(_running) = self.requester_check.try_lock() else {
            return Ok(0);
        };
        let open = self.adapters.store.open_grants().await?;
        let people: BTreeSet<String> = open
            .into_iter()
            .filter(|g| {
                matches!(
                    g.state,
                    GrantState::Requested | GrantState::Approved | GrantState::Active
                )
            })
            .map(|g| g.requester)
            .collect();
        let mut gone = Vec::new();
        for user in &people {
            if let Some(why) = self.departure_of(user).await {
                gone.push((user.clone(), why));
            }
        }
        // Everyone unknown at once is the lookup failing (the bot removed from its team, a
        // wrong conversation), not everyone leaving: ending every grant would be the outage.
        let unknown =
            |why: &Departure| matches!(why, Departure::Unknown | Departure::RemovedFromTeam);
        if people.len() > 1
            && gone.len() == people.len()
            && gone.iter().all(|(_, why)| unknown(why))
        {
            error!(
                people = people.len(),
                "the chat platform knows none of the requesters: ending nobody's access; check the bot's membership of the approvals channel's team"
            );
            return Ok(0);
        }
        let mut ended = 0;
        for (user, why) in gone {
            ended += self.requester_left(&user, why).await?;
        }
        Ok(ended)
    }

    /// Whether `user` has left, as the platform says now; `None` when they have not, or when it
    /// cannot say.
    async fn departure_of(&self, user: &str) -> Option<Departure> {
        match self.adapters.chat.user_profile(user).await {
            Ok(profile) => Departure::of_standing(profile.standing),
            // Teams looks people up in the bot's team: unknown there means removed from it.
            Err(e) if e.is_unknown_user() => Some(match self.templates.platform() {
                Platform::Teams => Departure::RemovedFromTeam,
                Platform::Slack => Departure::Unknown,
            }),
            Err(e) => {
                warn!(user, error = %e, "cannot look up a requester; checked again at the next pass");
                None
            }
        }
    }

    /// The periodic check in the background, when a platform says someone left without saying
    /// who they are to prod-access (Teams names only their Teams id).
    pub fn spawn_check_requesters(self: &Arc<Self>) {
        let app = Arc::clone(self);
        self.tasks.spawn(async move {
            match app.check_requesters().await {
                Ok(0) => {}
                Ok(ended) => info!(ended, "ended the grants of requesters who left"),
                Err(e) => warn!(error = %e, "could not check whether requesters are still members"),
            }
        });
    }
}
