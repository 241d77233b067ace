//! The daily digest in the audit channel: the day's requests and how each ended, who holds
//! access now, and the audit chain checked end to end, with its head to keep.

use crate::support;

use chrono::Duration;
use support::*;

/// The next audit post that is a digest.
async fn next_digest(h: &Harness) -> support::fake_slack::Call {
    h.slack
        .next_matching("digest", |c| {
            c.method == "chat.postMessage"
                && c.param("channel") == AUDIT
                && c.text().contains("Access digest")
        })
        .await
}

async fn approve(h: &Harness, user: &str, text: &str) -> String {
    let grant = h.request(user, text).await;
    h.click(BOB, "approve", &grant).await;
    h.slack
        .next_matching("access granted", |c| {
            c.param("channel") == AUDIT
                && c.text().contains("Access granted")
                && c.text().contains(&grant)
        })
        .await;
    grant
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_nine_the_digest_tells_the_day_and_who_holds_access_now() {
    let h = Harness::start().await;
    let expired = approve(&h, ALICE, "edit payments 2h INC-1 stuck queue").await;
    let denied = h.request(CAROL, "view payments 1h reading logs").await;
    h.click(BOB, "deny", &denied).await;
    h.audit_call_saying("denied").await;
    h.clock.advance(Duration::hours(2));
    h.kube.until_unbound().await;
    h.clock.advance(Duration::hours(21));
    let active = approve(&h, DANA, "edit orders 2h INC-2 rollout").await;
    h.settle().await;
    h.clock.advance(Duration::hours(1));

    let digest = next_digest(&h).await;
    let text = all_text(&digest.params);
    assert_says(
        &digest,
        "3 requested, 2 granted, 1 denied, 1 expired, 0 revoked",
    );
    assert!(
        text.contains(&format!(
            "• `{expired}` <@U0ALICE> *edit* in `payments`: expired (INC-1)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "• `{denied}` <@U0CAROL> *view* in `payments`: denied"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "• `{active}` <@U0DANA> *edit* in `orders`: granted (INC-2)"
        )),
        "{text}"
    );
    let active_now = text.split("*Active now*").nth(1).unwrap();
    assert!(
        active_now.contains(&format!("• `{active}` <@U0DANA> *edit* in `orders` until")),
        "{active_now}"
    );
    assert!(!active_now.contains(&expired), "{active_now}");
    assert_says(&digest, "Audit log intact: 10 entries; entry 10 has hash `");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_raises_the_alarm_when_the_stored_log_was_changed() {
    let mut h = Harness::start().await;
    approve(&h, ALICE, "edit payments 1h INC-3 deploy").await;
    h.settle().await;
    h.stop().await;
    credit_entry_2_to_carol(h.store_path());
    h.restart().await;
    h.clock.advance(Duration::hours(24));
    let digest = next_digest(&h).await;
    assert_says(
        &digest,
        ":rotating_light: Audit log BROKEN at entry 2: entry 2 was changed after it was written",
    );
}
