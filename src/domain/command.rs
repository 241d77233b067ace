//! Parsing of the text typed after `/prod-access`.

use std::time::Duration;

/// What the user asked for, before it is checked against the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Request(RequestArgs),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestArgs {
    pub role: String,
    pub namespace: String,
    pub duration: Duration,
    pub reason: String,
}

/// Why the text could not be understood; rendered for the user with what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("`{0}` is not a duration")]
    BadDuration(String),
    #[error("the duration must be longer than zero")]
    ZeroDuration,
}

impl ParseError {
    /// A stable key the templates use to explain the problem.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Missing(_) => "missing",
            ParseError::BadDuration(_) => "bad_duration",
            ParseError::ZeroDuration => "zero_duration",
        }
    }
}

/// Parses `<role> <namespace> <duration> <reason…>` or `help`.
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let text = text.trim();
    let mut words = text.split_whitespace();
    let Some(role) = words.next() else {
        return Ok(Command::Help);
    };
    if role.eq_ignore_ascii_case("help") {
        return Ok(Command::Help);
    }
    let namespace = words.next().ok_or(ParseError::Missing("namespace"))?;
    let duration_text = words.next().ok_or(ParseError::Missing("duration"))?;
    let duration = parse_duration(duration_text)?;
    let reason = words.collect::<Vec<_>>().join(" ");
    if reason.is_empty() {
        return Err(ParseError::Missing("reason"));
    }
    Ok(Command::Request(RequestArgs {
        role: role.to_string(),
        namespace: namespace.to_string(),
        duration,
        reason,
    }))
}

/// Accepts humantime's forms (`30m`, `2h`, `1d`, `1h30m`); a bare number is refused
/// because minutes-or-hours would be a guess.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let duration =
        humantime::parse_duration(text).map_err(|_| ParseError::BadDuration(text.to_string()))?;
    if duration.is_zero() {
        return Err(ParseError::ZeroDuration);
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> RequestArgs {
        match parse(text) {
            Ok(Command::Request(args)) => args,
            other => panic!("expected a request from {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_full_request_is_parsed() {
        let args = request("edit payments 2h fixing stuck queue");
        assert_eq!(args.role, "edit");
        assert_eq!(args.namespace, "payments");
        assert_eq!(args.duration, Duration::from_secs(2 * 3600));
        assert_eq!(args.reason, "fixing stuck queue");
    }

    #[test]
    fn extra_whitespace_is_folded_in_the_reason() {
        let args = request("  view   orders  30m   INC-123    stuck\tqueue ");
        assert_eq!(args.namespace, "orders");
        assert_eq!(args.duration, Duration::from_secs(30 * 60));
        assert_eq!(args.reason, "INC-123 stuck queue");
    }

    #[test]
    fn compound_and_day_durations_are_accepted() {
        assert_eq!(
            request("edit a 1h30m r").duration,
            Duration::from_secs(5400)
        );
        assert_eq!(request("edit a 1d r").duration, Duration::from_secs(86400));
    }

    #[test]
    fn empty_text_and_help_ask_for_help() {
        assert_eq!(parse(""), Ok(Command::Help));
        assert_eq!(parse("   "), Ok(Command::Help));
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse("HELP me"), Ok(Command::Help));
    }

    #[test]
    fn missing_parts_are_named() {
        assert_eq!(parse("edit"), Err(ParseError::Missing("namespace")));
        assert_eq!(parse("edit payments"), Err(ParseError::Missing("duration")));
        assert_eq!(
            parse("edit payments 2h"),
            Err(ParseError::Missing("reason"))
        );
    }

    #[test]
    fn bad_durations_are_refused() {
        assert_eq!(
            parse("edit payments soon because"),
            Err(ParseError::BadDuration("soon".into()))
        );
        assert_eq!(
            parse("edit payments 2 because"),
            Err(ParseError::BadDuration("2".into()))
        );
        assert_eq!(
            parse("edit payments -1h because"),
            Err(ParseError::BadDuration("-1h".into()))
        );
        assert_eq!(
            parse("edit payments 0s because"),
            Err(ParseError::ZeroDuration)
        );
    }

    proptest::proptest! {
        #[test]
        fn the_parser_never_panics(text in "\\PC*") {
            let _ = parse(&text);
        }

        #[test]
        fn well_formed_requests_round_trip(
            role in "[a-z][a-z0-9-]{0,15}",
            namespace in "[a-z][a-z0-9-]{0,15}",
            minutes in 1u64..10_000,
            reason in "[A-Za-z0-9-]{1,10}( [A-Za-z0-9-]{1,10}){0,5}",
        ) {
            proptest::prop_assume!(role != "help");
            let args = request(&format!("{role} {namespace} {minutes}m {reason}"));
            proptest::prop_assert_eq!(args.role, role);
            proptest::prop_assert_eq!(args.namespace, namespace);
            proptest::prop_assert_eq!(args.duration, Duration::from_secs(minutes * 60));
            proptest::prop_assert_eq!(args.reason, reason);
        }
    }
}
