//! The `cron` schedules the configuration names (seconds first, UTC): the reconcile pass and
//! the digest. The jobs in `jobs/` run them; parsing lives here so a configuration is checked
//! without reaching into the code that runs it.

use std::str::FromStr;

/// The reconcile pass (and the check for requesters who left): every minute.
pub const DEFAULT_RECONCILE: &str = "0 * * * * *";

/// The digest: 09:00 UTC every day.
pub const DEFAULT_DIGEST: &str = "0 0 9 * * *";

pub fn parse_reconcile(expression: &str) -> Result<cron::Schedule, String> {
    parse(expression, "`0 * * * * *` for every minute")
}

/// The digest's schedule; `off` for none.
pub fn parse_digest(expression: &str) -> Result<Option<cron::Schedule>, String> {
    if expression.trim() == "off" {
        return Ok(None);
    }
    parse(expression, "`0 0 9 * * *` for 09:00 UTC daily, or `off`").map(Some)
}

/// Parses a schedule, explaining the expected form with `example` (e.g. `0 * * * * *` for every
/// minute) when it is not one.
fn parse(expression: &str, example: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expression).map_err(|e| {
        format!("`{expression}` is not a cron schedule ({e}); write seconds first, e.g. {example}")
    })
}
