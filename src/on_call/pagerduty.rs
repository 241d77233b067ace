//! PagerDuty's `GET /oncalls`: the on-call entries now, with their users' emails.

use serde::Deserialize;

use super::{OnCallError, json_of};
use crate::domain::on_call::{OnCallPlace, OnCallProvider};

const PROVIDER: &str = "PagerDuty";
/// PagerDuty's largest page.
const PAGE: usize = 100;
/// Enough for every on-call entry of a few schedules; a longer answer fails the lookup.
const MAX_PAGES: usize = 10;

pub struct PagerDuty {
    http: reqwest::Client,
    api_url: String,
    token: String,
}

#[derive(Deserialize)]
struct Page {
    oncalls: Vec<Entry>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct Entry {
    user: Option<Reference>,
    schedule: Option<Reference>,
    escalation_policy: Option<Reference>,
    escalation_level: Option<u32>,
}

#[derive(Deserialize)]
struct Reference {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    /// Users carry it with `include[]=users`.
    #[serde(default)]
    email: Option<String>,
}

impl Reference {
    /// The schedule this reference names.
    fn place(&self) -> OnCallPlace {
        OnCallPlace::Schedule {
            provider: OnCallProvider::Pagerduty,
            id: self.id.clone(),
            name: self.summary.clone(),
        }
    }
}

impl PagerDuty {
    pub fn new(http: reqwest::Client, api_url: &str, token: &str) -> PagerDuty {
        PagerDuty {
            http,
            api_url: api_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// Asks once for the schedules and once for the escalation policies: PagerDuty combines
    /// the two filters so that an entry must match both.
    pub(super) async fn on_call_via(
        &self,
        schedules: &[String],
        escalation_policies: &[String],
        max_level: u32,
        email: &str,
    ) -> Result<Option<OnCallPlace>, OnCallError> {
        for (filter, ids) in [
            ("schedule_ids[]", schedules),
            ("escalation_policy_ids[]", escalation_policies),
        ] {
            if ids.is_empty() {
                continue;
            }
            for entry in self.entries(filter, ids).await? {
                // An entry that does not say its level cannot show that it is shallow enough.
                let Some(level) = entry.escalation_level else {
                    continue;
                };
                let is_them = entry
                    .user
                    .as_ref()
                    .and_then(|u| u.email.as_deref())
                    .is_some_and(|e| e.eq_ignore_ascii_case(email));
                if !is_them || level > max_level {
                    continue;
                }
                let via = match (&entry.schedule, &entry.escalation_policy) {
                    (Some(schedule), _) if filter.starts_with("schedule") => schedule.place(),
                    (_, Some(policy)) => OnCallPlace::EscalationPolicy {
                        provider: OnCallProvider::Pagerduty,
                        id: policy.id.clone(),
                        name: policy.summary.clone(),
                        level,
                    },
                    (Some(schedule), None) => schedule.place(),
                    (None, None) => OnCallPlace::Provider {
                        provider: OnCallProvider::Pagerduty,
                    },
                };
                return Ok(Some(via));
            }
        }
        Ok(None)
    }

    async fn entries(&self, filter: &str, ids: &[String]) -> Result<Vec<Entry>, OnCallError> {
        let mut entries = Vec::new();
        for page in 0..MAX_PAGES {
            let mut url = url::Url::parse(&format!("{}/oncalls", self.api_url)).map_err(|e| {
                OnCallError::Unavailable {
                    provider: PROVIDER,
                    detail: e.to_string(),
                }
            })?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("include[]", "users");
                query.append_pair("time_zone", "UTC");
                query.append_pair("limit", &PAGE.to_string());
                query.append_pair("offset", &(page * PAGE).to_string());
                for id in ids {
                    query.append_pair(filter, id);
                }
            }
            let sent = self
                .http
                .get(url)
                .header("Accept", "application/vnd.pagerduty+json;version=2")
                .header("Authorization", format!("Token token={}", self.token))
                .send()
                .await;
            let answer: Page = json_of(PROVIDER, sent).await?;
            entries.extend(answer.oncalls);
            if !answer.more {
                return Ok(entries);
            }
        }
        // A cut-off answer might have left the requester out: say so rather than "not on call".
        Err(OnCallError::Unavailable {
            provider: PROVIDER,
            detail: format!("more than {} on-call entries", MAX_PAGES * PAGE),
        })
    }
}
