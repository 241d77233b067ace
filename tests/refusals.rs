//! Bad input gets a clear answer and changes nothing.

use crate::support;

use chrono::Utc;
use support::*;

fn assert_untouched(h: &Harness) {
    assert_eq!(
        h.slack.call_count(),
        0,
        "no Slack call: {:?}",
        h.slack.calls("chat.postMessage")
    );
    assert!(h.kube.calls().is_empty(), "no Kubernetes call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_gets_401_and_changes_nothing() {
    let h = Harness::start().await;
    let body = command_body(ALICE, "edit payments 2h fixing stuck queue");
    let now = Utc::now().timestamp();

    let wrong_secret = h
        .post_signed("/slack/commands", body.clone(), "not-the-secret", now)
        .await;
    assert_eq!(wrong_secret.status(), 401);

    let stale = h
        .post_signed(
            "/slack/commands",
            body.clone(),
            SIGNING_SECRET,
            now - 6 * 60,
        )
        .await;
    assert_eq!(stale.status(), 401, "older than five minutes");

    let unsigned = reqwest::Client::new()
        .post(h.url("/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    // A correct signature over a different body (tampered in transit).
    let signature = sign(SIGNING_SECRET, now, &body);
    let tampered = reqwest::Client::new()
        .post(h.url("/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", signature)
        .body(body.replace("2h", "4h"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);

    let click = h
        .post_signed(
            "/slack/interactions",
            interaction_body(BOB, "approve", "abc"),
            "wrong",
            now,
        )
        .await;
    assert_eq!(click.status(), 401);
    assert_untouched(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_but_malformed_payload_gets_400() {
    let h = Harness::start().await;
    let now = Utc::now().timestamp();
    let garbage = h
        .post_signed(
            "/slack/interactions",
            "payload=%7Bnot-json".into(),
            SIGNING_SECRET,
            now,
        )
        .await;
    assert_eq!(garbage.status(), 400);
    let no_user = h
        .post_signed("/slack/commands", "text=edit".into(), SIGNING_SECRET, now)
        .await;
    assert_eq!(no_user.status(), 400);
    assert_untouched(&h);
}

/// alice asks for a role the policy does not have: she is told which roles there are, and
/// nothing is posted, stored or asked of the cluster.
async fn an_unknown_role_is_answered_with_the_allowed_roles<D: Driver>(mut d: D) -> D {
    let answer = d.asks(Alice, "root payments 1h because").await;
    let says = format!(
        "Unknown role {}. Roles you can request: {}.",
        d.code("root"),
        d.roles()
    );
    assert!(answer.contains(&says), "{answer}");
    assert!(d.kube().calls().is_empty(), "no Kubernetes call");
    assert!(d.audit_channel().is_empty(), "nothing in the audit channel");
    assert!(d.stopped_audit_log().await.is_empty(), "nothing stored");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_or_duration_outside_the_policy_is_answered_with_what_is_allowed() {
    let h = Harness::start().await;
    h.answer_saying(
        ALICE,
        "view orders 1h because",
        "cannot be granted in `orders`. Allowed namespaces: payments.",
    )
    .await;

    h.answer_saying(ALICE, "edit payments 5h because", "at most *4h*")
        .await;

    h.answer_saying(ALICE, "edit payments 90 because", "`90` is not a duration")
        .await;

    let text = h
        .answer_saying(ALICE, "edit payments 2h", "Role *edit* needs a reason")
        .await;
    assert!(text.contains("edit in payments, orders (max 4h)"), "{text}");
    assert_untouched(&h);
}

/// `help`, in any case, says how to ask and lists each role with where and for how long it can
/// be granted. (The bare command opens a form on Slack: form.rs; Teams has none: teams_flows.rs.)
async fn help_lists_roles_namespaces_and_limits<D: Driver>(d: D) -> D {
    let role_line = |role: &str, limits: &str| {
        format!(
            "{} (ClusterRole {}) in {limits}",
            d.bold(role),
            d.code(role)
        )
    };
    for text in ["help", "HELP"] {
        let help = d.asks(Alice, text).await;
        assert_says_each(&help, &["Usage:", "Example:", "Durations:"]);
        assert_says_each(
            &help,
            &[
                &role_line("edit", "payments, orders, default 1h, up to 4h"),
                &role_line("view", "payments, default 1h, up to 8h"),
            ],
        );
    }
    assert!(d.kube().calls().is_empty());
    assert!(d.audit_channel().is_empty());
    d
}

async fn the_requester_cannot_approve_their_own_request<D: Driver>(d: D) -> D {
    let grant = d.requested_grant("edit payments 1h fix").await;

    let refusal = d.refused_on_click(Alice, "approve", &grant).await;
    assert!(
        refusal.contains("cannot approve or deny your own request"),
        "{refusal}"
    );
    assert!(d.kube().calls().is_empty());
    assert_eq!(d.buttons_on(&grant), ["approve", "deny"], "still waiting");
    d
}

/// (In Teams this was `someone_who_is_not_an_approver_is_told_so_and_the_card_keeps_its_buttons`.)
async fn someone_who_is_not_an_approver_cannot_decide<D: Driver>(d: D) -> D {
    let grant = d.requested_grant("edit payments 1h fix").await;
    for action in ["approve", "deny"] {
        let refusal = d.refused_on_click(Mallory, action, &grant).await;
        let says = format!("not an approver for role {}", d.bold("edit"));
        assert!(refusal.contains(&says), "{refusal}");
        assert!(refusal.contains(&d.approvers()), "names who may: {refusal}");
    }
    assert!(d.kube().calls().is_empty());
    assert_eq!(
        d.buttons_on(&grant),
        ["approve", "deny"],
        "still waiting for a real approver"
    );
    d
}

/// A refused click changes nothing on Slack either: the approval message is never edited.
async fn in_slack_nothing_is_edited_after(story: impl AsyncFnOnce(Harness) -> Harness) -> Harness {
    let h = story(Harness::start().await).await;
    assert!(h.slack.calls("chat.update").is_empty());
    h
}

/// On Slack the answer is the command's own response, seen only by alice: no Web API call.
async fn in_slack_only_the_response_answers(
    story: impl AsyncFnOnce(Harness) -> Harness,
) -> Harness {
    let h = story(Harness::start().await).await;
    assert_untouched(&h);
    h
}

mod an_unknown_role_is_answered_with_the_allowed_roles {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        in_slack_only_the_response_answers(
            super::an_unknown_role_is_answered_with_the_allowed_roles,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        let h =
            super::an_unknown_role_is_answered_with_the_allowed_roles(TeamsHarness::start().await)
                .await;
        let answer = h.teams.conversation(ALICE_CHAT);
        assert_eq!(answer.len(), 1, "one answer, in alice's chat with the bot");
        assert!(
            !activity_text(&answer[0].1).contains("<@"),
            "no Slack syntax"
        );
        assert!(
            h.teams.conversation(T_APPROVALS).is_empty(),
            "no approval card"
        );
    }
}

mod help_lists_roles_namespaces_and_limits {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        in_slack_only_the_response_answers(super::help_lists_roles_namespaces_and_limits).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        super::help_lists_roles_namespaces_and_limits(TeamsHarness::start().await).await;
    }
}

mod the_requester_cannot_approve_their_own_request {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        let h =
            in_slack_nothing_is_edited_after(super::the_requester_cannot_approve_their_own_request)
                .await;
        let refusal = &h.slack.calls("chat.postEphemeral")[0];
        assert_eq!(refusal.param("channel"), APPROVALS);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        super::the_requester_cannot_approve_their_own_request(TeamsHarness::start().await).await;
    }
}

mod someone_who_is_not_an_approver_cannot_decide {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        in_slack_nothing_is_edited_after(super::someone_who_is_not_an_approver_cannot_decide).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        super::someone_who_is_not_an_approver_cannot_decide(TeamsHarness::start().await).await;
    }
}

/// A second approval, a late denial and a click for a request that does not exist are each
/// refused with the reason, and change nothing.
async fn a_second_click_and_a_click_on_a_finished_grant_change_nothing<D: Driver>(d: D) -> D {
    let grant = d.approved_grant("edit payments 1h fix").await;
    d.approval_shows(&grant, "Approved by").await;
    let creates = d.kube().calls_of("POST").len();

    let again = d.refused_on_click(Bob, "approve", &grant).await;
    assert!(again.contains("is active; nothing was changed"), "{again}");
    let late_deny = d.refused_on_click(Carol, "deny", &grant).await;
    assert!(
        late_deny.contains("is active; nothing was changed"),
        "{late_deny}"
    );
    let unknown = d.refused_on_click(Bob, "approve", "doesnotexist").await;
    assert!(unknown.contains("There is no request"), "{unknown}");
    assert!(unknown.contains("doesnotexist"), "{unknown}");

    assert_eq!(
        d.kube().calls_of("POST").len(),
        creates,
        "no second binding"
    );
    assert!(
        d.kube().calls_of("DELETE").is_empty(),
        "the late deny revoked nothing"
    );
    assert_eq!(d.buttons_on(&grant), Vec::<String>::new());
    d
}

mod a_second_click_and_a_click_on_a_finished_grant_change_nothing {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        let h = super::a_second_click_and_a_click_on_a_finished_grant_change_nothing(
            Harness::start().await,
        )
        .await;
        assert_eq!(
            h.slack.calls("chat.update").len(),
            1,
            "edited once, on approval"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        super::a_second_click_and_a_click_on_a_finished_grant_change_nothing(
            TeamsHarness::start().await,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_413_and_changes_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start().await;
    // Announced at 2 MiB: the answer comes from the length alone, before any of the body is
    // read. (Sending the body as well races the server's close: the client may see its
    // connection reset before it reads the 413.)
    let url = reqwest::Url::parse(&h.url("/slack/commands")).unwrap();
    let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: {}\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        url.host_str().unwrap(),
        2 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"text=edit+payments+1h+").await.unwrap();
    let mut answer = vec![0u8; 1024];
    let reading = stream.read(&mut answer);
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), reading)
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(h.slack.call_count(), 0);
    assert!(h.kube.calls().is_empty());
}
