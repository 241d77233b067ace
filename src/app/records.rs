//! The audit log's words for lifecycle entries: the domain records what happened as
//! particulars, and each entry's `detail` is worded here from `templates/records/` before the
//! write that stores it (the hash chain covers the words, so they are fixed once stored).

use tracing::error;

use super::App;
use crate::domain::audit::AuditEvent;

impl App {
    /// Words the `detail` of every entry of `journal` that waits for it; the particulars are
    /// not stored.
    pub(super) fn word_journal(&self, journal: &mut [AuditEvent]) {
        for event in journal.iter_mut().filter(|e| e.unworded()) {
            let Some(particulars) = event.particulars.take() else {
                continue;
            };
            let words = self.templates.detail_record(&particulars).unwrap_or_else(|e| {
                error!(error = %e, kind = event.kind.as_str(), "cannot word an audit entry; stored as data");
                serde_json::to_string(&particulars).unwrap_or_default()
            });
            event.detail = Some(words);
        }
    }
}
