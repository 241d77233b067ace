//! Why an endpoint refuses a request, and the one place that says which HTTP status each reason
//! gets: the Slack, Teams and apiserver endpoints and the replay check all answer through it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A refusal with its reason, for the caller's logs (machines read it; no person does).
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// No credentials, or ones that do not check out: a bad or replayed signature, a missing
    /// or unknown token.
    Unauthenticated(String),
    /// Who sent it checks out, but this bot does not serve them here: another Bot Framework
    /// channel, another tenant, a sender it cannot name.
    NotServed(String),
    /// The body is not what the endpoint takes.
    Malformed(String),
    /// The bot cannot take it now (shutting down, a lookup failed); sending it again may work.
    Unavailable(String),
    /// Accepted but not kept: the sender must send it again, after `retry_after_secs`.
    NotStored { why: String, retry_after_secs: u32 },
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::NotServed(_) => StatusCode::FORBIDDEN,
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            // The apiserver's webhook client retries a 500 with Retry-After.
            Refusal::NotStored { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn reason(&self) -> &str {
        match self {
            Refusal::Unauthenticated(why)
            | Refusal::NotServed(why)
            | Refusal::Malformed(why)
            | Refusal::Unavailable(why)
            | Refusal::NotStored { why, .. } => why,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut answer = (self.status(), format!("{}\n", self.reason())).into_response();
        if let Refusal::NotStored {
            retry_after_secs, ..
        } = self
        {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_status_and_says_why() {
        let cases = [
            (Refusal::Unauthenticated("a".into()), 401),
            (Refusal::NotServed("b".into()), 403),
            (Refusal::Malformed("c".into()), 400),
            (Refusal::Unavailable("d".into()), 503),
        ];
        for (refusal, status) in cases {
            let why = refusal.reason().to_string();
            let answer = refusal.into_response();
            assert_eq!(answer.status().as_u16(), status, "{why}");
            assert!(answer.headers().get(header::RETRY_AFTER).is_none());
        }
    }

    #[test]
    fn what_was_not_stored_is_asked_for_again() {
        let answer = Refusal::NotStored {
            why: "store down".into(),
            retry_after_secs: 5,
        }
        .into_response();
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.headers()[header::RETRY_AFTER], "5");
    }
}
