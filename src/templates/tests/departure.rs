//! The texts of grants ended because their requester left, in Slack and Teams: the audit and
//! thread line, the approval message, and the direct message to someone turned guest.

use super::slack::{grants, valid};
use crate::domain::departure::Departure;
use crate::domain::grant::{Event, GrantState, Note, Step};
use crate::templates::*;

/// The active and the requested grant of the shared fixtures, ended because of `why`.
fn ended(why: Departure) -> Vec<Grant> {
    let policy = crate::domain::policy::tests::example();
    grants()
        .into_iter()
        .filter(|(_, g)| matches!(g.state, GrantState::Active | GrantState::Requested))
        .map(|(_, g)| {
            let at = g.requested_at + chrono::Duration::minutes(30);
            g.apply(&Event::RequesterGone { why }, at, &policy).unwrap()
        })
        .collect()
}

#[test]
fn slack_says_why_the_access_ended_when_its_requester_left() {
    let templates = Templates::new().unwrap();
    for grant in ended(Departure::Deactivated) {
        let revoked = grant.state == GrantState::Revoked;
        let line = templates.step(&grant, Step::RequesterGone, false).unwrap();
        let text = valid("requester_gone", &line);
        let expected = if revoked {
            "<@UALICE>'s account was deactivated: access ended for"
        } else {
            "<@UALICE>'s account was deactivated: request withdrawn for"
        };
        assert!(line.text().contains(expected), "{text}");
        assert_eq!(line.text().contains("The binding was removed."), revoked);
        let message = templates.approval_message(&grant).unwrap();
        let text = valid("approval message", &message);
        assert!(text.contains("account was deactivated."), "{text}");
        assert!(
            !text.contains("\"action_id\":\"approve\""),
            "no buttons left"
        );
    }
    let guest = &ended(Departure::BecameGuest)[0];
    let note = templates.note(guest, Note::RequesterGone, None).unwrap();
    valid("requester_gone note", &note);
    assert!(
        note.text()
            .starts_with(":lock: Your account became a guest account, so your access"),
        "{}",
        note.text()
    );
}

#[test]
fn teams_says_why_the_access_ended_when_its_requester_left() {
    let templates = Templates::for_platform(crate::chat::Platform::Teams).unwrap();
    for grant in ended(Departure::RemovedFromTeam) {
        let id = Some(grant.id.as_str());
        let line = templates.step(&grant, Step::RequesterGone, true).unwrap();
        let text = super::teams::activity("requester_gone", &line, id);
        assert!(text.contains("UALICE was removed from the team:"), "{text}");
        let card = templates.approval_message(&grant).unwrap();
        let text = super::teams::activity("approval card", &card, id);
        assert!(text.contains("was removed from the team."), "{text}");
    }
    let guest = &ended(Departure::BecameGuest)[0];
    let note = templates.note(guest, Note::RequesterGone, None).unwrap();
    let text = super::teams::activity("requester_gone note", &note, None);
    assert!(
        text.contains("Your account became a guest account"),
        "{text}"
    );
}
