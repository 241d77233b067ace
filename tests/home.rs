//! The App Home tab: what access I have and how long it has left (with Drop now), what waits
//! for my decision (with Approve and Deny), and what I decided lately; in both Slack modes.

use crate::support;

use chrono::Duration;
use support::*;

async fn home_story(h: Harness) {
    // Nothing yet.
    assert_eq!(h.open_home(ALICE).await, 200);
    h.home_showing(ALICE, |t| {
        t.contains("You have no access through prod-access right now")
            && t.contains("Nothing is waiting for you.")
    })
    .await;

    // alice asks; bob's Home shows the request with Approve and Deny, and he approves there.
    let grant = h.request(ALICE, "edit payments 2h INC-8 stuck queue").await;
    h.open_home(BOB).await;
    let bob = h
        .home_showing(BOB, |t| t.contains(&format!("(grant `{grant}`)")))
        .await;
    assert!(
        bob.contains("<@U0ALICE> wants *edit* in `payments` for 2h: INC-8 stuck queue"),
        "{bob}"
    );
    let home = h.slack.home(BOB).unwrap();
    assert_eq!(
        button_value(&home, "approve").as_deref(),
        Some(grant.as_str())
    );
    assert_eq!(button_value(&home, "deny").as_deref(), Some(grant.as_str()));
    assert_eq!(h.click_on_home(BOB, "approve", &grant).await, 200);
    assert_says(&h.next_audit().await, "requested");
    assert_says(&h.next_audit().await, "Access granted");
    // His tab is published again after the click: the request is gone, the decision is listed.
    h.home_showing(BOB, |t| {
        t.contains("Nothing is waiting for you.")
            && t.contains(&format!(
                "approved <@U0ALICE>'s *edit* in `payments` (grant `{grant}`)"
            ))
    })
    .await;

    // alice's Home shows her access with the time it has left.
    h.clock.advance(Duration::minutes(30));
    h.open_home(ALICE).await;
    let alice = h
        .home_showing(ALICE, |t| t.contains(&format!("(grant `{grant}`)")))
        .await;
    assert!(
        alice.contains(":unlock: *edit* in `payments` — 1h 30m left, until"),
        "{alice}"
    );
    let home = h.slack.home(ALICE).unwrap();
    assert_eq!(button_value(&home, "drop").as_deref(), Some(grant.as_str()));

    // Drop now from the Home tab ends it at once.
    h.click_on_home(ALICE, "drop", &grant).await;
    h.kube.until_unbound().await;
    h.home_showing(ALICE, |t| {
        t.contains("You have no access through prod-access right now")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_tab_shows_my_access_and_my_decisions_over_http() {
    home_story(Harness::start_in(Mode::Http).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_tab_shows_my_access_and_my_decisions_in_socket_mode() {
    home_story(Harness::start_in(Mode::Socket).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_click_on_the_home_tab_is_explained_by_direct_message() {
    let h = Harness::start().await;
    let grant = h.request(ALICE, "edit payments 1h INC-8 deploy").await;
    // alice's own request is not hers to approve; there is no channel to answer in.
    h.click_on_home(ALICE, "approve", &grant).await;
    let told = h.next_dm(ALICE).await;
    assert!(told.text().contains("own"), "{}", told.text());
    assert_eq!(h.kube.binding_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_checks_the_events_url_with_a_challenge() {
    let h = Harness::start().await;
    let body = serde_json::json!({
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification"
    })
    .to_string();
    let ts = chrono::Utc::now().timestamp();
    let answer = reqwest::Client::new()
        .post(h.url("/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SIGNING_SECRET, ts, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let json: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        json["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    let forged = reqwest::Client::new()
        .post(h.url("/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign("wrong secret", ts, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_find_what_ended_access_left_on_their_home_tab_and_clean_it_up_there() {
    use support::driver::cleanup_buttons_in;
    let h = Harness::start().await;
    let grant = crate::cleanup::a_grant_that_left_things_behind(&h).await;
    h.open_home(BOB).await;
    let bob = h
        .home_showing(BOB, |t| t.contains("Left behind by ended access"))
        .await;
    for phrase in [
        "<@U0ALICE>'s *edit* in `payments` ended",
        "4 items to review",
        "Still open: exec into payments/api-7f9c",
        "token for ServiceAccount payments/deployer",
    ] {
        assert!(bob.contains(phrase), "{phrase}: {bob}");
    }
    // What alice's own access left is not hers to clear.
    h.open_home(ALICE).await;
    let alice = h
        .home_showing(ALICE, |t| t.contains("Your recent decisions"))
        .await;
    assert!(!alice.contains("Left behind by ended access"), "{alice}");

    let home = h.slack.home(BOB).unwrap();
    let buttons = cleanup_buttons_in(&home);
    let (_, token) = (buttons.iter())
        .find(|(action, _)| action == "mark_reviewed")
        .expect("a Mark reviewed button");
    let value = format!("{grant} {token}");
    assert_eq!(h.click_on_home(BOB, "mark_reviewed", &value).await, 200);
    h.home_showing(BOB, |t| t.contains("3 items to review"))
        .await;
}
