//! Break-glass in Teams: typed in an incident channel, self-approved on its card, announced in
//! the audit channel, and reviewed on the review card after the access ends.

mod support;

use chrono::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_in_teams_is_self_approved_in_the_incident_and_reviewed_afterwards() {
    let h = TeamsHarness::start().await;
    // Outside the incident channel it is refused, in the asker's chat.
    h.say(T_ALICE, ALICE_CHAT, "emergency payments 20m INC-3 db down")
        .await;
    let refused = h.next_in(ALICE_CHAT, 0).await;
    assert!(
        refused.contains("break-glass access: request it in one of the policy's incident channels"),
        "{refused}"
    );

    h.say(
        T_ALICE,
        T_INCIDENT,
        "<at>prod-access</at> emergency payments 20m INC-3 db down",
    )
    .await;
    let card = h.showing(T_INCIDENT, "may approve this themself").await;
    let grant = card_actions(&card)[0].1.clone();
    let (_, answer) = h.click(T_ALICE, "approve", &grant).await;
    assert_eq!(
        answer["type"], "application/vnd.microsoft.card.adaptive",
        "{answer}"
    );
    let announced = h.showing(T_AUDIT, "Break-glass").await;
    assert!(activity_text(&announced).contains("alice@example.com approved their own request"));
    h.showing(T_AUDIT, "themself (break-glass)").await;
    assert_eq!(h.kube.binding_count(), 1);

    h.clock.advance(Duration::minutes(20));
    let review = h.showing(T_AUDIT, "Post-incident review").await;
    let verbs: Vec<String> = card_actions(&review)
        .into_iter()
        .map(|(verb, _)| verb)
        .collect();
    assert!(verbs.contains(&"review".to_string()), "{verbs:?}");
    assert_eq!(h.kube.binding_count(), 0);

    let (_, own) = h.click(T_ALICE, "review", &grant).await;
    assert_eq!(own["type"], "application/vnd.microsoft.activity.message");
    assert!(
        own["value"]
            .as_str()
            .unwrap()
            .contains("cannot review your own")
    );
    let (_, reviewed) = h.click(T_BOB, "review", &grant).await;
    assert_eq!(
        reviewed["type"], "application/vnd.microsoft.card.adaptive",
        "{reviewed}"
    );
    let shown = reviewed.to_string();
    assert!(shown.contains("Reviewed by bob@example.com"), "{shown}");
    assert!(
        !shown.contains("\"verb\":\"review\""),
        "nothing left to review: {shown}"
    );
}
