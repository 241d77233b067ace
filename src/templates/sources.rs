//! The template files of each platform, embedded at build time.

use crate::chat::Platform;

/// Said when a template cannot render (they are tested in every state): one line of text that
/// needs no rendering, the same on every platform.
pub(super) const LAST_RESORT: &str = include_str!("../../templates/last_resort.txt");

/// What notable Kubernetes requests did: macros every environment imports as `deeds`.
const DEEDS: (&str, &str) = ("deeds", include_str!("../../templates/deeds.jinja"));

/// Why something could not be done (a failure, an on-call lookup without an answer): macros
/// every environment imports as `reasons`.
const REASONS: (&str, &str) = ("reasons", include_str!("../../templates/reasons.jinja"));

/// The audit log's plain-text entries.
pub(super) const RECORDS: &[(&str, &str)] = &[
    DEEDS,
    REASONS,
    (
        "records/notable",
        include_str!("../../templates/records/notable.txt"),
    ),
    (
        "records/summary",
        include_str!("../../templates/records/summary.txt"),
    ),
    (
        "records/extension",
        include_str!("../../templates/records/extension.txt"),
    ),
    (
        "records/failure",
        include_str!("../../templates/records/failure.txt"),
    ),
    (
        "records/departure",
        include_str!("../../templates/records/departure.txt"),
    ),
    (
        "records/break_glass",
        include_str!("../../templates/records/break_glass.txt"),
    ),
    (
        "records/on_call",
        include_str!("../../templates/records/on_call.txt"),
    ),
    (
        "records/alert",
        include_str!("../../templates/records/alert.txt"),
    ),
    (
        "records/drift",
        include_str!("../../templates/records/drift.txt"),
    ),
    (
        "records/found_removed",
        include_str!("../../templates/records/found_removed.txt"),
    ),
    (
        "records/revocation",
        include_str!("../../templates/records/revocation.txt"),
    ),
    (
        "records/cleanup",
        include_str!("../../templates/records/cleanup.txt"),
    ),
    (
        "records/leftovers",
        include_str!("../../templates/records/leftovers.txt"),
    ),
    (
        "records/still_open",
        include_str!("../../templates/records/still_open.txt"),
    ),
];

pub(super) fn of(platform: Platform) -> &'static [(&'static str, &'static str)] {
    match platform {
        Platform::Slack => SLACK,
        Platform::Teams => TEAMS,
    }
}

const SLACK: &[(&str, &str)] = &[
    (
        "approval_request",
        include_str!("../../templates/slack/approval_request.json"),
    ),
    ("audit", include_str!("../../templates/slack/audit.json")),
    (
        "request_received",
        include_str!("../../templates/slack/request_received.json"),
    ),
    ("help", include_str!("../../templates/slack/help.json")),
    (
        "request_refused",
        include_str!("../../templates/slack/request_refused.json"),
    ),
    (
        "action_refused",
        include_str!("../../templates/slack/action_refused.json"),
    ),
    (
        "extension_request",
        include_str!("../../templates/slack/extension_request.json"),
    ),
    ("notify", include_str!("../../templates/slack/notify.json")),
    ("list", include_str!("../../templates/slack/list.json")),
    ("status", include_str!("../../templates/slack/status.json")),
    (
        "activity",
        include_str!("../../templates/slack/activity.json"),
    ),
    ("alert", include_str!("../../templates/slack/alert.json")),
    (
        "command_done",
        include_str!("../../templates/slack/command_done.json"),
    ),
    (
        "request_modal",
        include_str!("../../templates/slack/request_modal.json"),
    ),
    (
        "form_error",
        include_str!("../../templates/slack/form_error.json"),
    ),
    ("drift", include_str!("../../templates/slack/drift.json")),
    ("digest", include_str!("../../templates/slack/digest.json")),
    ("home", include_str!("../../templates/slack/home.json")),
    (
        "review_request",
        include_str!("../../templates/slack/review_request.json"),
    ),
    (
        "review_reminder",
        include_str!("../../templates/slack/review_reminder.json"),
    ),
    ("macros", include_str!("../../templates/slack/macros.jinja")),
    DEEDS,
    REASONS,
    (
        "kubeconfig",
        include_str!("../../templates/kubeconfig.yaml"),
    ),
];

/// Teams has no App Home and no modal forms (requests are typed as messages), so no `home`,
/// `request_modal` or `form_error`.
const TEAMS: &[(&str, &str)] = &[
    (
        "approval_request",
        include_str!("../../templates/teams/approval_request.json"),
    ),
    ("audit", include_str!("../../templates/teams/audit.json")),
    (
        "request_received",
        include_str!("../../templates/teams/request_received.json"),
    ),
    ("help", include_str!("../../templates/teams/help.json")),
    (
        "request_refused",
        include_str!("../../templates/teams/request_refused.json"),
    ),
    (
        "action_refused",
        include_str!("../../templates/teams/action_refused.json"),
    ),
    (
        "extension_request",
        include_str!("../../templates/teams/extension_request.json"),
    ),
    ("notify", include_str!("../../templates/teams/notify.json")),
    ("list", include_str!("../../templates/teams/list.json")),
    ("status", include_str!("../../templates/teams/status.json")),
    (
        "activity",
        include_str!("../../templates/teams/activity.json"),
    ),
    ("alert", include_str!("../../templates/teams/alert.json")),
    (
        "command_done",
        include_str!("../../templates/teams/command_done.json"),
    ),
    ("drift", include_str!("../../templates/teams/drift.json")),
    (
        "unidentified",
        include_str!("../../templates/teams/unidentified.json"),
    ),
    ("digest", include_str!("../../templates/teams/digest.json")),
    (
        "review_request",
        include_str!("../../templates/teams/review_request.json"),
    ),
    (
        "review_reminder",
        include_str!("../../templates/teams/review_reminder.json"),
    ),
    ("macros", include_str!("../../templates/teams/macros.jinja")),
    DEEDS,
    REASONS,
    (
        "kubeconfig",
        include_str!("../../templates/kubeconfig.yaml"),
    ),
];
