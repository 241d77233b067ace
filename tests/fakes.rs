//! The fakes are only useful if they are as strict as the real APIs: these tests hold them to
//! the real apiserver's and Slack's behaviour, through the same clients the bot uses.

use crate::support;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use prod_access::chat::{Chat, ChatError, Message};
use prod_access::cluster::role_binding;
use prod_access::domain::grant::Grant;
use prod_access::domain::identity::Identity;
use prod_access::domain::lifecycle::NewRequest;
use prod_access::domain::policy::GrantTerms;
use prod_access::slack::client::{SlackChat, api_client};
use serde_json::json;
use support::*;

fn grant(id: &str) -> Grant {
    Grant::request(
        NewRequest {
            id: id.into(),
            requester: ALICE,
            requested_in: DEV_CHANNEL,
            identity: prod_access::domain::identity::Identity::user("oidc:alice@example.com"),
            incident: None,
            reason: "r",
            terms: GrantTerms {
                role: "edit".into(),
                cluster_role: "edit".into(),
                scope: prod_access::domain::grant::Scope::namespace("payments"),
                duration: std::time::Duration::from_secs(3600),
                required_approvals: 1,
                kubeconfig: false,
                cluster: "default".into(),
                on_call: false,
                break_glass: None,
            },
        },
        t0(),
        &h_policy(),
    )
}

fn h_policy() -> prod_access::domain::policy::Policy {
    serde_saphyr::from_str(
        "roles: {edit: {cluster_role: edit, namespaces: [payments], max_duration: 4h}}",
    )
    .unwrap()
}

fn user(name: &str) -> Identity {
    Identity {
        user: name.into(),
        groups: vec![],
        service_account: None,
    }
}

fn status_of(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API status, got {other}"),
    }
}

#[tokio::test]
async fn the_fake_apiserver_accepts_what_prod_access_creates_and_rejects_what_a_real_one_rejects() {
    init();
    let kube = FakeKube::start(&["payments"]).await;
    let api: Api<RoleBinding> = Api::namespaced(kube.client(), "payments");
    let ours = role_binding(&grant("g1"), &user("oidc:alice@example.com"), "payments");
    let created = api.create(&PostParams::default(), &ours).await.unwrap();
    assert!(created.metadata.resource_version.is_some());

    let (code, reason, _) = status_of(api.create(&PostParams::default(), &ours).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let mut email_label = role_binding(&grant("g2"), &user("x"), "payments");
    email_label
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("prod-access/requester".into(), "alice@example.com".into());
    let (code, reason, message) = status_of(
        api.create(&PostParams::default(), &email_label)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        message.contains("metadata.labels: Invalid value: \"alice@example.com\""),
        "{message}"
    );

    let mut no_api_group = role_binding(&grant("g3"), &user("x"), "payments");
    no_api_group.subjects.as_mut().unwrap()[0].api_group = None;
    let (code, _, message) = status_of(
        api.create(&PostParams::default(), &no_api_group)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(message.contains("subjects[0].apiGroup"), "{message}");

    let mut bad_name = role_binding(&grant("g4"), &user("x"), "payments");
    bad_name.metadata.name = Some("Prod_Access".into());
    let (code, _, _) = status_of(
        api.create(&PostParams::default(), &bad_name)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);

    let mut changed_role = created.clone();
    changed_role.role_ref.name = "admin".into();
    let (code, _, message) = status_of(
        api.replace("prod-access-g1", &PostParams::default(), &changed_role)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(message.contains("cannot change roleRef"), "{message}");

    let elsewhere: Api<RoleBinding> = Api::namespaced(kube.client(), "nowhere");
    let (code, _, message) = status_of(
        elsewhere
            .create(
                &PostParams::default(),
                &role_binding(&grant("g5"), &user("x"), "nowhere"),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 404);
    assert!(
        message.contains("namespaces \"nowhere\" not found"),
        "{message}"
    );
}

#[tokio::test]
async fn the_fake_apiserver_lists_by_label_and_deletes_with_404_semantics() {
    init();
    let kube = FakeKube::start(&["payments"]).await;
    let api: Api<RoleBinding> = Api::namespaced(kube.client(), "payments");
    for id in ["g1", "g2"] {
        api.create(
            &PostParams::default(),
            &role_binding(&grant(id), &user("x"), "payments"),
        )
        .await
        .unwrap();
    }
    let mine = api
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/managed-by=prod-access,prod-access/grant=g2"),
        )
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 1);
    assert_eq!(
        mine.items[0].metadata.name.as_deref(),
        Some("prod-access-g2")
    );
    let all = api
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=prod-access"))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);

    api.delete("prod-access-g1", &DeleteParams::default())
        .await
        .unwrap();
    let (code, reason, _) = status_of(
        api.delete("prod-access-g1", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (404, "NotFound"));

    kube.set_failing(true);
    let (code, _, _) = status_of(api.get("prod-access-g2").await.unwrap_err());
    assert_eq!(code, 500);
}

#[tokio::test]
async fn the_fake_slack_answers_like_slack_to_the_real_client() {
    init();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    slack.add_user(ALICE, "alice", Some("alice@example.com"));
    slack.add_user(BOB, "bob", None);
    let client = api_client(slack.api_url()).unwrap();
    let chat = SlackChat::new(client.clone(), BOT_TOKEN);
    let hello = Message(json!({ "text": "hello" }));

    let posted = chat.post(APPROVALS, &hello).await.unwrap();
    assert_eq!(posted.channel, APPROVALS);
    chat.update(&posted, &Message(json!({ "text": "edited" })))
        .await
        .unwrap();
    assert_eq!(
        slack.message(APPROVALS, &posted.ts).unwrap()["text"],
        "edited"
    );
    assert_eq!(
        chat.user_email(ALICE).await.unwrap().as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(chat.user_email(BOB).await.unwrap(), None);

    assert!(
        matches!(chat.user_email("U0NOBODY").await, Err(ChatError::Refused(code)) if code == "user_not_found")
    );
    slack.remove_channel("C0GONE");
    assert!(
        matches!(chat.post("C0GONE", &hello).await, Err(ChatError::Refused(code)) if code == "channel_not_found")
    );
    slack.fail_next(
        "chat.postMessage",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    assert!(matches!(
        chat.post(APPROVALS, &hello).await,
        Err(ChatError::Unavailable(_))
    ));

    let wrong_token = SlackChat::new(client, "xoxb-wrong");
    assert!(
        matches!(wrong_token.post(APPROVALS, &hello).await, Err(ChatError::Refused(code)) if code == "invalid_auth")
    );
}

#[tokio::test]
async fn a_hanging_fake_slack_holds_calls_open_until_released_or_abandoned() {
    init();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    let chat = SlackChat::new(api_client(slack.api_url()).unwrap(), BOT_TOKEN);
    let hello = Message(json!({ "text": "hello" }));
    slack.hang();

    // A caller that gives up hangs up; the fake stops holding its call.
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        chat.post(APPROVALS, &hello),
    );
    assert!(abandoned.await.is_err(), "a hanging Slack answered");
    for _ in 0..100 {
        if slack.held("chat.postMessage") == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(slack.held("chat.postMessage"), 0);
    assert!(slack.calls("chat.postMessage").is_empty());

    // A caller that waits is answered once Slack answers again.
    let waiting = tokio::spawn(async move { chat.post(APPROVALS, &hello).await });
    slack.wait_until_held("chat.postMessage").await;
    slack.stop_hanging();
    let posted = waiting.await.unwrap().unwrap();
    assert_eq!(posted.channel, APPROVALS);
    assert_eq!(slack.held("chat.postMessage"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_message_that_slack_could_not_take_is_posted_on_the_next_retry() {
    let h = Harness::start().await;
    h.slack
        .fail_next("chat.postMessage", Fault::Error("internal_error"));
    let (status, reply) = h.slash(ALICE, "edit payments 1h fix").await;
    assert_eq!(status, 200);
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("was sent for approval")
    );
    let failed = h.slack.next_call("chat.postMessage").await;
    assert_eq!(failed.response["error"], "internal_error");
    // The audit post is not held up by the approval message waiting for its retry.
    let audit = h.next_audit().await;
    assert_says(&audit, "requested");

    h.clock.advance(chrono::Duration::seconds(31));
    let grant = h.request_posted().await;
    assert!(audit.text().contains(&grant));
}

#[tokio::test]
async fn faults_and_latency_can_be_set_for_one_path_only() {
    init();
    let kube = FakeKube::start(&["payments", "orders"]).await;
    kube.on_path(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/orders/",
        KubeFault::FailBefore,
        std::time::Duration::from_millis(50),
    );
    let payments: Api<RoleBinding> = Api::namespaced(kube.client(), "payments");
    let orders: Api<RoleBinding> = Api::namespaced(kube.client(), "orders");
    payments
        .create(
            &PostParams::default(),
            &role_binding(&grant("g1"), &user("x"), "payments"),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (code, _, _) = status_of(
        orders
            .create(
                &PostParams::default(),
                &role_binding(&grant("g2"), &user("x"), "orders"),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 500);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(50),
        "the latency applied"
    );
}

/// A SubjectAccessReview: may `user` (in `groups`) `verb` `resource` (`pods/exec` names a
/// subresource) in `namespace`?
fn may(
    user: &str,
    groups: &[&str],
    verb: &str,
    resource: &str,
    namespace: &str,
) -> SubjectAccessReview {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, subresource)) => (resource, Some(subresource.to_string())),
        None => (resource, None),
    };
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                subresource,
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn the_fake_apiserver_answers_subject_access_reviews_by_rbac_over_the_bindings_it_holds() {
    init();
    let kube = FakeKube::start(&["payments", "orders"]).await;
    let team_binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": "oncall" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "payments-oncall" }],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(kube.client(), "payments")
        .create(&PostParams::default(), &team_binding)
        .await
        .unwrap();
    kube.add_team_binding(
        Some("payments"),
        "readers",
        "ClusterRole",
        "view",
        json!([{ "kind": "User", "name": "bob" }]),
    );
    let reviews: Api<SubjectAccessReview> = Api::all(kube.client());
    let ask = async |review: SubjectAccessReview| {
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .unwrap();
        let status = answer.status.unwrap();
        (status.allowed, status.reason)
    };

    let alice_on_call = ask(may(
        "alice",
        &["payments-oncall"],
        "create",
        "pods/exec",
        "payments",
    ))
    .await;
    assert_eq!(
        alice_on_call,
        (true, Some("RBAC: allowed by RoleBinding \"oncall/payments\" of ClusterRole \"edit\" to Group \"payments-oncall\"".into()))
    );
    let elsewhere = ask(may(
        "alice",
        &["payments-oncall"],
        "create",
        "pods/exec",
        "orders",
    ))
    .await;
    assert_eq!(
        elsewhere,
        (false, None),
        "the RoleBinding grants in payments only"
    );

    let bob_reads_logs = ask(may("bob", &[], "get", "pods/log", "payments")).await;
    assert_eq!(
        bob_reads_logs,
        (true, Some("RBAC: allowed by RoleBinding \"readers/payments\" of ClusterRole \"view\" to User \"bob\"".into()))
    );
    assert_eq!(
        ask(may("bob", &[], "create", "pods/exec", "payments")).await,
        (false, None),
        "view does not exec"
    );
    assert_eq!(
        ask(may("bob", &[], "get", "secrets", "payments")).await,
        (false, None),
        "view does not read secrets"
    );

    let mut nobody = may("alice", &[], "get", "pods", "payments");
    nobody.spec.user = None;
    nobody.spec.resource_attributes = None;
    let (code, reason, message) = status_of(
        reviews
            .create(&PostParams::default(), &nobody)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(
        message,
        "SubjectAccessReview.authorization.k8s.io \"\" is invalid: [spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified, spec.user: Invalid value: \"\": at least one of user or group must be specified]"
    );

    assert_eq!(
        kube.subject_access_reviews().len(),
        5,
        "the invalid one is not recorded"
    );
    assert_eq!(
        kube.calls().len(),
        1,
        "reviews are not calls: only the RoleBinding's POST is"
    );
    assert_eq!(kube.binding_count(), 2);
    let ours = Api::<RoleBinding>::namespaced(kube.client(), "payments")
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=prod-access"))
        .await
        .unwrap();
    assert!(
        ours.items.is_empty(),
        "the team's bindings are not prod-access's"
    );

    kube.set_failing(true);
    let (code, _, _) = status_of(
        reviews
            .create(
                &PostParams::default(),
                &may("bob", &[], "get", "pods", "payments"),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 500, "reviews follow the fault switches");
}
