//! Opsgenie's who-is-on-call: `GET /v2/schedules/{name}/on-calls?flat=true`, whose recipients
//! are the on-call users' usernames (their emails).

use serde::Deserialize;

use super::{OnCallError, json_of};
use crate::domain::on_call::{OnCallPlace, OnCallProvider};

const PROVIDER: &str = "Opsgenie";

pub struct Opsgenie {
    http: reqwest::Client,
    api_url: String,
    key: String,
}

#[derive(Deserialize)]
struct Answer {
    data: OnCalls,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnCalls {
    #[serde(default)]
    on_call_recipients: Vec<String>,
}

impl Opsgenie {
    pub fn new(http: reqwest::Client, api_url: &str, key: &str) -> Opsgenie {
        Opsgenie {
            http,
            api_url: api_url.trim_end_matches('/').to_string(),
            key: key.to_string(),
        }
    }

    pub(super) async fn on_call_via(
        &self,
        schedules: &[String],
        email: &str,
    ) -> Result<Option<OnCallPlace>, OnCallError> {
        for schedule in schedules {
            let mut url = url::Url::parse(&self.api_url).map_err(|e| OnCallError::Unavailable {
                provider: PROVIDER,
                detail: e.to_string(),
            })?;
            url.path_segments_mut()
                .map_err(|()| OnCallError::Unavailable {
                    provider: PROVIDER,
                    detail: "the API URL cannot take a path".into(),
                })?
                .pop_if_empty()
                .extend(["v2", "schedules", schedule, "on-calls"]);
            url.query_pairs_mut()
                .append_pair("scheduleIdentifierType", "name")
                .append_pair("flat", "true");
            let sent = self
                .http
                .get(url)
                .header("Authorization", format!("GenieKey {}", self.key))
                .send()
                .await;
            let answer: Answer = json_of(PROVIDER, sent).await?;
            if answer
                .data
                .on_call_recipients
                .iter()
                .any(|r| r.eq_ignore_ascii_case(email))
            {
                return Ok(Some(OnCallPlace::Schedule {
                    provider: OnCallProvider::Opsgenie,
                    id: schedule.clone(),
                    name: None,
                }));
            }
        }
        Ok(None)
    }
}
