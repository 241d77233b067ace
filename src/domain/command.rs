//! Parsing of the text typed after `/prod-access`.

use std::time::Duration;

/// What the user asked for, before it is checked against the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// Nothing but `/prod-access`, or a request missing its role or namespace: open the form.
    Form,
    Request(RequestArgs),
    List,
    Status {
        grant: String,
    },
    Cancel {
        grant: String,
    },
    Revoke {
        grant: String,
    },
    Extend {
        grant: String,
        by: Duration,
    },
}

/// Words that are subcommands and so cannot be role names.
pub const RESERVED_WORDS: &[&str] = &["help", "list", "status", "cancel", "revoke", "extend"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestArgs {
    pub role: String,
    pub namespace: String,
    /// `None`: the role's default duration.
    pub duration: Option<Duration>,
    pub reason: String,
}

/// Why the text could not be understood; rendered for the user with what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("missing {}", .0.key())]
    Missing(Part),
    #[error("`{0}` is not a duration")]
    BadDuration(String),
    #[error("the duration must be longer than zero")]
    ZeroDuration,
}

/// A part of a command that can be left out by mistake; the templates name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    GrantId,
    Duration,
    RoleAndNamespace,
}

impl Part {
    /// A stable key the templates name the part by.
    pub fn key(self) -> &'static str {
        match self {
            Part::GrantId => "grant_id",
            Part::Duration => "duration",
            Part::RoleAndNamespace => "role_and_namespace",
        }
    }
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

/// Parses `<role> <namespace> [duration] [reason…]` or a subcommand.
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(Command::Form);
    };
    let mut grant_id = || {
        words
            .next()
            .map(str::to_string)
            .ok_or(ParseError::Missing(Part::GrantId))
    };
    match first.to_ascii_lowercase().as_str() {
        "help" => return Ok(Command::Help),
        "list" => return Ok(Command::List),
        "status" => {
            return Ok(Command::Status { grant: grant_id()? });
        }
        "cancel" => {
            return Ok(Command::Cancel { grant: grant_id()? });
        }
        "revoke" => {
            return Ok(Command::Revoke { grant: grant_id()? });
        }
        "extend" => {
            let grant = grant_id()?;
            let by = words.next().ok_or(ParseError::Missing(Part::Duration))?;
            return Ok(Command::Extend {
                grant,
                by: parse_duration(by)?,
            });
        }
        _ => {}
    }
    let Some(namespace) = words.next() else {
        return Ok(Command::Form);
    };
    let mut rest = words.peekable();
    let duration = match rest.peek() {
        Some(word) if looks_like_duration(word) => {
            let duration = parse_duration(word)?;
            rest.next();
            Some(duration)
        }
        _ => None,
    };
    Ok(Command::Request(RequestArgs {
        role: first.to_string(),
        namespace: namespace.to_string(),
        duration,
        reason: rest.collect::<Vec<_>>().join(" "),
    }))
}

/// A word that starts with a digit is meant as a duration, so `2hx` is an error rather than
/// the first word of the reason with the default duration silently applied.
fn looks_like_duration(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit()) || word.starts_with('-')
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
mod tests;
