//! Fake PagerDuty and Opsgenie REST APIs on 127.0.0.1, one server: PagerDuty's `GET /oncalls`
//! under `/pagerduty` and Opsgenie's `GET /v2/schedules/{id}/on-calls` under `/opsgenie`,
//! answering with the real response shapes, checking each service's `Authorization` scheme,
//! recording every call, and able to fail (HTTP 5xx) or be slow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub const PAGERDUTY_TOKEN: &str = "pd-test-token";
pub const OPSGENIE_KEY: &str = "genie-test-key";

/// One person on call in PagerDuty.
#[derive(Debug, Clone)]
pub struct PagerDutyOnCall {
    pub email: String,
    pub schedule: Option<(String, String)>,
    pub escalation_policy: (String, String),
    pub level: u32,
}

#[derive(Debug, Clone)]
pub struct OnCallRequest {
    pub path: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct Services {
    pagerduty: Vec<PagerDutyOnCall>,
    /// Opsgenie schedules by name: the usernames on call now.
    opsgenie: HashMap<String, Vec<String>>,
    calls: Vec<OnCallRequest>,
    /// Answer every call with this status (a 5xx outage, say).
    failing: Option<u16>,
    delay: Option<Duration>,
}

#[derive(Clone)]
pub struct FakeOnCall {
    base: String,
    state: Arc<Mutex<Services>>,
}

impl FakeOnCall {
    pub async fn start() -> FakeOnCall {
        let state = Arc::new(Mutex::new(Services::default()));
        let router = Router::new()
            .route("/pagerduty/oncalls", get(pagerduty_oncalls))
            .route(
                "/opsgenie/v2/schedules/{schedule}/on-calls",
                get(opsgenie_on_calls),
            )
            .with_state(state.clone());
        FakeOnCall {
            base: super::serve_on_loopback(router).await,
            state,
        }
    }

    pub fn pagerduty_url(&self) -> String {
        format!("{}/pagerduty", self.base)
    }

    pub fn opsgenie_url(&self) -> String {
        format!("{}/opsgenie", self.base)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Services) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// `email` is on call at `level` of escalation policy `policy`, through `schedule`.
    pub fn pagerduty_on_call(
        &self,
        email: &str,
        schedule: Option<(&str, &str)>,
        policy: (&str, &str),
        level: u32,
    ) {
        self.with(|s| {
            s.pagerduty.push(PagerDutyOnCall {
                email: email.into(),
                schedule: schedule.map(|(id, name)| (id.into(), name.into())),
                escalation_policy: (policy.0.into(), policy.1.into()),
                level,
            })
        });
    }

    /// Who is on call now in the Opsgenie schedule `name`.
    pub fn opsgenie_on_call(&self, name: &str, usernames: &[&str]) {
        self.with(|s| {
            s.opsgenie.insert(
                name.into(),
                usernames.iter().map(|u| u.to_string()).collect(),
            )
        });
    }

    /// Every call from now on is answered with `status` (`None`: answered normally).
    pub fn fail_with(&self, status: Option<u16>) {
        self.with(|s| s.failing = status);
    }

    pub fn delay(&self, delay: Option<Duration>) {
        self.with(|s| s.delay = delay);
    }

    pub fn calls(&self) -> Vec<OnCallRequest> {
        self.with(|s| s.calls.clone())
    }
}

fn decoded(query: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Records the call and decides whether it is answered at all: an injected failure or a wrong
/// credential is answered here.
async fn admit(
    state: &Arc<Mutex<Services>>,
    path: String,
    query: Vec<(String, String)>,
    headers: &HeaderMap,
    expected_auth: &str,
    unauthorized: Value,
) -> Option<Response> {
    let delay = state.lock().unwrap().delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let authorization = header(headers, "authorization");
    let mut s = state.lock().unwrap();
    let answer = match (s.failing, authorization.as_deref() == Some(expected_auth)) {
        (Some(status), _) => Some((
            StatusCode::from_u16(status).unwrap(),
            json!({ "error": { "message": "Service Unavailable" } }),
        )),
        (None, false) => Some((StatusCode::UNAUTHORIZED, unauthorized)),
        (None, true) => None,
    };
    s.calls.push(OnCallRequest {
        path,
        query,
        authorization,
        accept: header(headers, "accept"),
        status: answer.as_ref().map_or(200, |(status, _)| status.as_u16()),
    });
    answer.map(|(status, body)| (status, axum::Json(body)).into_response())
}

async fn pagerduty_oncalls(
    State(state): State<Arc<Mutex<Services>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = decoded(query);
    let unauthorized = json!({ "error": { "message": "Authentication failed", "code": 2006 } });
    let expected = format!("Token token={PAGERDUTY_TOKEN}");
    if let Some(refused) = admit(
        &state,
        "/oncalls".into(),
        pairs.clone(),
        &headers,
        &expected,
        unauthorized,
    )
    .await
    {
        return refused;
    }
    let values = |key: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let number = |key: &str, default: usize| {
        values(key)
            .first()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (schedules, policies) = (values("schedule_ids[]"), values("escalation_policy_ids[]"));
    let with_users = values("include[]").iter().any(|v| v == "users");
    let (limit, offset) = (number("limit", 25).min(100), number("offset", 0));
    let everyone = state.lock().unwrap().pagerduty.clone();
    // PagerDuty applies both filters: an entry must match each one given.
    let matching: Vec<&PagerDutyOnCall> = everyone
        .iter()
        .filter(|o| {
            schedules.is_empty()
                || o.schedule
                    .as_ref()
                    .is_some_and(|(id, _)| schedules.contains(id))
        })
        .filter(|o| policies.is_empty() || policies.contains(&o.escalation_policy.0))
        .collect();
    let reference = |kind: &str, id: &str, name: &str| {
        json!({
            "id": id, "type": format!("{kind}_reference"), "summary": name,
            "self": format!("https://api.pagerduty.com/{kind}s/{id}"),
            "html_url": format!("https://acme.pagerduty.com/{kind}s/{id}"),
        })
    };
    let oncalls: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .enumerate()
        .map(|(i, o)| {
            let user_id = format!("PUSER{i}");
            let name = o.email.split('@').next().unwrap_or_default();
            let user = if with_users {
                json!({
                    "id": user_id, "type": "user", "summary": name, "name": name,
                    "email": o.email, "time_zone": "Etc/UTC",
                    "self": format!("https://api.pagerduty.com/users/{user_id}"),
                })
            } else {
                reference("user", &user_id, name)
            };
            json!({
                "escalation_policy": reference("escalation_policy", &o.escalation_policy.0, &o.escalation_policy.1),
                "escalation_level": o.level,
                "schedule": o.schedule.as_ref().map(|(id, name)| reference("schedule", id, name)),
                "user": user,
                "start": "2026-11-23T00:00:00Z",
                "end": "2026-11-30T00:00:00Z",
            })
        })
        .collect();
    axum::Json(json!({
        "oncalls": oncalls,
        "limit": limit,
        "offset": offset,
        "more": offset + limit < matching.len(),
        "total": null,
    }))
    .into_response()
}

async fn opsgenie_on_calls(
    State(state): State<Arc<Mutex<Services>>>,
    Path(schedule): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = decoded(query);
    let unauthorized =
        json!({ "message": "Could not authenticate", "took": 0.0, "requestId": "r-1" });
    let expected = format!("GenieKey {OPSGENIE_KEY}");
    let path = format!("/v2/schedules/{schedule}/on-calls");
    if let Some(refused) = admit(
        &state,
        path,
        pairs.clone(),
        &headers,
        &expected,
        unauthorized,
    )
    .await
    {
        return refused;
    }
    let by_name = pairs
        .iter()
        .any(|(k, v)| k == "scheduleIdentifierType" && v == "name");
    let flat = pairs.iter().any(|(k, v)| k == "flat" && v == "true");
    let known = state.lock().unwrap().opsgenie.get(&schedule).cloned();
    let Some(usernames) = known.filter(|_| by_name) else {
        let message = format!(
            "No schedule exists with {} [{schedule}]",
            if by_name { "name" } else { "id" }
        );
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "message": message, "took": 0.003, "requestId": "r-2" })),
        )
            .into_response();
    };
    let parent =
        json!({ "id": "d875e654-9b4e-4219-a1c5-ac6d3ba4a5f5", "name": schedule, "enabled": true });
    let data = if flat {
        json!({ "_parent": parent, "onCallRecipients": usernames })
    } else {
        let participants: Vec<Value> = usernames
            .iter()
            .map(|u| json!({ "id": format!("id-{u}"), "name": u, "type": "user" }))
            .collect();
        json!({ "_parent": parent, "onCallParticipants": participants })
    };
    axum::Json(json!({ "data": data, "took": 0.012, "requestId": "r-3" })).into_response()
}
