//! `prod-access audit verify` and `prod-access audit export`, read straight from the store.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use minijinja::context;

use crate::config::StoreLocation;
use crate::store::{AuditLog, PostgresStore, SledStore};
use crate::templates::operator_says;

/// Opens the store for reading the audit log. sled allows one process at a time: a running bot
/// keeps it, so verify a stopped bot's store or a copy of it. PostgreSQL can be read while the
/// replicas run.
pub async fn open_store(location: &StoreLocation) -> anyhow::Result<Box<dyn AuditLog>> {
    Ok(match location {
        StoreLocation::Sled(path) => Box::new(open_sled(path)?),
        StoreLocation::Postgres { url_env } => {
            let url = StoreLocation::postgres_url(url_env)?;
            Box::new(PostgresStore::connect(&url).await?)
        }
    })
}

/// Opens an existing sled store (one that is not there is an error, not a new store).
pub fn open_sled(path: &Path) -> anyhow::Result<SledStore> {
    anyhow::ensure!(
        path.join("db").exists() || path.join("conf").exists(),
        "no prod-access store at {} (see `store_path` in the configuration)",
        path.display()
    );
    Ok(SledStore::open(path)?)
}

/// Walks the whole chain. `Ok` with a summary when it holds; the error names the first entry
/// that does not.
pub async fn verify(log: &dyn AuditLog) -> anyhow::Result<String> {
    let verified = match crate::audit::walk_chain(log).await? {
        Ok(verified) => verified,
        Err(broken) => {
            let why = broken.to_string();
            anyhow::bail!(operator_says(
                "audit_broken",
                context! { seq => broken.seq(), why }
            )?)
        }
    };
    Ok(operator_says(
        "audit_intact",
        context! {
            entries => verified.entries,
            seq => verified.head.seq,
            hash => verified.head.hash,
        },
    )?)
}

/// Which entries `audit export` writes.
#[derive(Debug, Default, Clone)]
pub struct ExportFilter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub grant: Option<String>,
}

impl ExportFilter {
    fn keeps(&self, json: &serde_json::Value) -> bool {
        let at = json
            .get("at")
            .and_then(|v| v.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let in_window = match at {
            Some(at) => {
                self.since.is_none_or(|since| at >= since)
                    && self.until.is_none_or(|until| at < until)
            }
            None => self.since.is_none() && self.until.is_none(),
        };
        let of_grant = self
            .grant
            .as_deref()
            .is_none_or(|id| json.get("grant").and_then(|g| g.as_str()) == Some(id));
        in_window && of_grant
    }
}

/// Writes the chosen entries as JSON lines, exactly as stored (hashes included, so a reader can
/// check each line against the chain); returns how many.
pub async fn export(
    log: &dyn AuditLog,
    filter: &ExportFilter,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = log.entries_after(after, crate::audit::PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.key;
        for entry in page.iter().filter(|e| filter.keeps(&e.json)) {
            serde_json::to_writer(&mut *out, &entry.json)?;
            out.write_all(b"\n")?;
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}

/// A time on the command line: RFC 3339 (`2026-11-23T09:00:00Z`), a date (`2026-11-23`,
/// midnight UTC), or a duration back from now (`24h`, `7d`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let ago = humantime::parse_duration(text)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .with_context(|| {
            format!("`{text}` is not a time: write 2026-11-23T09:00:00Z, 2026-11-23 or 24h (ago)")
        })?;
    Ok(now - ago)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_are_read_as_rfc3339_dates_or_durations_ago() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap();
        assert_eq!(parse_time("2026-11-23T09:00:00Z", now).unwrap(), at(9));
        assert_eq!(parse_time("2026-11-23T10:00:00+01:00", now).unwrap(), at(9));
        assert_eq!(parse_time("2026-11-23", now).unwrap(), at(0));
        assert_eq!(parse_time("3h", now).unwrap(), at(9));
        let error = parse_time("yesterday", now).unwrap_err().to_string();
        assert!(error.contains("is not a time"), "{error}");
    }

    #[test]
    fn the_filter_keeps_entries_in_the_window_and_of_the_grant() {
        let entry = |at: &str, grant: &str| serde_json::json!({ "at": at, "grant": grant });
        let filter = ExportFilter {
            since: Some(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()),
            until: Some(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()),
            grant: Some("g1".into()),
        };
        assert!(filter.keeps(&entry("2026-11-23T09:00:00Z", "g1")));
        assert!(
            !filter.keeps(&entry("2026-11-23T10:00:00Z", "g1")),
            "until is exclusive"
        );
        assert!(!filter.keeps(&entry("2026-11-23T08:59:59Z", "g1")));
        assert!(!filter.keeps(&entry("2026-11-23T09:30:00Z", "g2")));
        assert!(ExportFilter::default().keeps(&serde_json::json!({ "seq": 1 })));
    }
}
