//! The final summary of a grant's session activity, once it ended: what was done, and what the
//! end did not end (streams still open, what was left behind, checked with the cluster now),
//! posted in the approval thread, recorded in the audit log, and posted in the audit channel
//! when the end left something.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::App;
use super::activity::LINES_PER_REPLY;
use crate::chat::Message;
use crate::domain::activity::{EndReport, SessionActivity, end_report_event, summary_event};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::domain::grant::Grant;

impl App {
    /// The final summary: posted in the thread (with the streams still open and what the
    /// grant left behind, checked with the cluster now), then recorded in the audit log with
    /// what was left behind.
    pub(super) async fn summarise(
        &self,
        grant: &Grant,
        record: &SessionActivity,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let report = self.end_report(grant, record).await;
        let lines = record.total.lines(LINES_PER_REPLY);
        // Everything is worded before the post, so a template that fails cannot have the
        // summary posted again at every retry with nothing recorded.
        let post = self.templates.summary(grant, &lines, &report)?;
        let about = AuditEvent::about(grant, AuditKind::SessionSummary, None, now);
        let words = self.templates.summary_record(&record.total, &report)?;
        let mut entries = vec![summary_event(&about, words, now)];
        if !report.streams.is_empty() {
            let words = self.templates.still_open_record(&report.streams)?;
            let kind = AuditKind::StreamsStillOpen;
            entries.push(end_report_event(&about, kind, words, now));
        }
        if !report.leftovers.is_empty() {
            let words = self.templates.leftovers_record(&report.leftovers)?;
            entries.push(end_report_event(&about, AuditKind::Leftovers, words, now));
        }
        let for_audit_channel = (!report.is_empty()).then(|| post.clone());
        let (left, any_reported) = (report.leftovers.len(), !report.is_empty());
        self.post_in_thread(grant, post).await?;
        self.adapters
            .activity
            .activity_summarised(&grant.id, now, report, entries)
            .await?;
        // A break-glass review shows it too: the report as recorded (by this run or another).
        if let Some(report) = self.end_report_of(&grant.id).await.filter(|_| any_reported) {
            self.show_end_on_review(grant, &report).await;
        }
        // What the end did not end goes to the audit channel too. Once: the summary is recorded
        // by now, so a failed post is logged rather than retried (the audit log has it).
        if let Some(post) = for_audit_channel {
            let channel = &self.settings.audit_channel;
            if let Err(e) = self.adapters.chat.post(channel, &post).await {
                warn!(grant = %grant.id, error = %e, "cannot post what the grant's end left in the audit channel");
            }
        }
        info!(grant = %grant.id, requests = record.total.requests, leftovers = left, "session activity summarised");
        Ok(())
    }

    /// The final summary of `record` as it stands: with what approvers did since.
    pub(super) fn summary_of(
        &self,
        grant: &Grant,
        record: &SessionActivity,
    ) -> Result<Message, crate::templates::TemplateError> {
        let report = (record.end_report.clone()).unwrap_or_else(|| EndReport::unchecked(record));
        let lines = record.total.lines(LINES_PER_REPLY);
        self.templates.summary(grant, &lines, &report)
    }
}
