//! How many requests one person may make in a window of time, so a script or a stuck key cannot
//! flood the approvers. Only accepted requests count; a refused one costs nothing.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests one person may make within `per`.
    pub requests: u32,
    #[serde(with = "super::duration_serde::required")]
    #[schemars(with = "String", example = "1h")]
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            requests: 10,
            per: Duration::from_secs(3600),
        }
    }
}

/// When each person's recent requests were accepted.
#[derive(Debug, Default)]
pub struct RequestLog(HashMap<String, VecDeque<DateTime<Utc>>>);

impl RequestLog {
    /// Counts a request by `user` at `now` if `limit` allows it; otherwise tells when the next
    /// one will be allowed, and counts nothing.
    pub fn admit(
        &mut self,
        user: &str,
        now: DateTime<Utc>,
        limit: &RateLimit,
    ) -> Result<(), DateTime<Utc>> {
        let window = chrono::Duration::from_std(limit.per).unwrap_or(chrono::Duration::MAX);
        let recent = self.0.entry(user.to_string()).or_default();
        while recent.front().is_some_and(|at| *at + window <= now) {
            recent.pop_front();
        }
        if recent.len() >= limit.requests as usize {
            let oldest = recent.front().copied().unwrap_or(now);
            return Err(oldest.checked_add_signed(window).unwrap_or(now));
        }
        recent.push_back(now);
        Ok(())
    }

    /// Counts a request `user` made at `at` through another replica, whatever the limit: it
    /// was admitted there.
    pub fn note(&mut self, user: &str, at: DateTime<Utc>) {
        let recent = self.0.entry(user.to_string()).or_default();
        let place = recent.partition_point(|earlier| *earlier <= at);
        recent.insert(place, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{minutes, t0};

    const THREE_PER_HOUR: RateLimit = RateLimit {
        requests: 3,
        per: Duration::from_secs(3600),
    };

    #[test]
    fn requests_admitted_by_other_replicas_count_against_the_limit() {
        let mut log = RequestLog::default();
        log.note("UALICE", t0() + minutes(5));
        log.note("UALICE", t0());
        assert_eq!(
            log.admit("UALICE", t0() + minutes(10), &THREE_PER_HOUR),
            Ok(())
        );
        assert_eq!(
            log.admit("UALICE", t0() + minutes(20), &THREE_PER_HOUR),
            Err(t0() + minutes(60)),
            "two elsewhere and one here make three"
        );
        assert_eq!(
            log.admit("UBOB", t0() + minutes(20), &THREE_PER_HOUR),
            Ok(())
        );
    }

    #[test]
    fn the_limit_is_per_person_and_the_window_slides() {
        let mut log = RequestLog::default();
        for m in [0, 10, 20] {
            assert_eq!(
                log.admit("UALICE", t0() + minutes(m), &THREE_PER_HOUR),
                Ok(())
            );
        }
        // The fourth within the hour is refused until the first leaves the window.
        assert_eq!(
            log.admit("UALICE", t0() + minutes(30), &THREE_PER_HOUR),
            Err(t0() + minutes(60))
        );
        assert_eq!(
            log.admit("UBOB", t0() + minutes(30), &THREE_PER_HOUR),
            Ok(())
        );
        assert_eq!(
            log.admit("UALICE", t0() + minutes(59), &THREE_PER_HOUR),
            Err(t0() + minutes(60)),
            "a refused request does not count"
        );
        assert_eq!(
            log.admit("UALICE", t0() + minutes(60), &THREE_PER_HOUR),
            Ok(())
        );
        assert_eq!(
            log.admit("UALICE", t0() + minutes(61), &THREE_PER_HOUR),
            Err(t0() + minutes(70))
        );
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut log = RequestLog::default();
        let none = RateLimit {
            requests: 0,
            per: Duration::from_secs(60),
        };
        assert!(log.admit("UALICE", t0(), &none).is_err());
    }
}
