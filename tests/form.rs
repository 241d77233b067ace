//! `/prod-access` with nothing after it opens a form; a submitted form is checked like a typed
//! request, with errors shown under the field that caused them.

use crate::support;

use serde_json::Value;
use support::*;

async fn open_form(h: &Harness) -> Value {
    let (status, reply) = h.slash(ALICE, "").await;
    assert_eq!(status, 200);
    assert_eq!(reply, Value::Null, "nothing is said when the form opens");
    let opened = h.slack.next_call("views.open").await;
    assert_eq!(opened.response["ok"], true, "{}", opened.response);
    // The trigger id of the command, which Slack makes anew for each.
    assert!(opened.param("trigger_id").starts_with(TRIGGER_ID_PREFIX));
    opened.params["view"].clone()
}

async fn submit(h: &Harness, view: &Value, fields: &[(&str, &str)]) -> (u16, Value) {
    let body = form_submission_body(ALICE, view, fields);
    h.post_signed_now("/slack/interactions", body).await
}

/// Form fields, and the field and text of the error they must produce.
type BadForm<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

fn options(view: &Value, block: &str) -> Vec<String> {
    let block = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == block)
        .unwrap();
    block["element"]["options"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|o| o["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_offers_the_policys_roles_and_namespaces() {
    let h = Harness::start().await;
    let view = open_form(&h).await;
    assert_eq!(view["private_metadata"], DEV_CHANNEL);
    assert_eq!(
        options(&view, "role"),
        vec!["admin", "debug", "edit", "nodes", "view"]
    );
    assert_eq!(options(&view, "namespace"), vec!["orders", "payments"]);
    assert!(h.kube.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_form_gets_its_error_under_the_field_and_changes_nothing() {
    let h = Harness::start().await;
    let view = open_form(&h).await;
    let cases: [BadForm; 4] = [
        (
            &[
                ("role", "edit"),
                ("namespace", "payments"),
                ("duration", "5h"),
                ("reason", "x"),
            ],
            "duration",
            "At most 4h for edit",
        ),
        (
            &[
                ("role", "edit"),
                ("namespace", "payments"),
                ("duration", "soon"),
                ("reason", "x"),
            ],
            "duration",
            "Write it like 30m",
        ),
        (
            &[
                ("role", "view"),
                ("namespace", "orders"),
                ("duration", ""),
                ("reason", "x"),
            ],
            "namespace",
            "view is allowed in: payments",
        ),
        (
            &[
                ("role", "edit"),
                ("namespace", "orders"),
                ("duration", "1h"),
                ("reason", " "),
            ],
            "reason",
            "edit needs a reason",
        ),
    ];
    for (fields, block, text) in cases {
        let (status, body) = submit(&h, &view, fields).await;
        assert_eq!(status, 200);
        assert_eq!(body["response_action"], "errors", "{body}");
        let error = body["errors"][block]
            .as_str()
            .unwrap_or_else(|| panic!("no error on {block}: {body}"));
        assert!(error.contains(text), "{error}");
    }
    assert!(
        h.slack.calls("chat.postMessage").is_empty(),
        "nothing was requested"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_form_requests_access_and_confirms_it() {
    let h = Harness::start().await;
    let view = open_form(&h).await;
    let fields = [
        ("role", "edit"),
        ("namespace", "orders"),
        ("duration", ""),
        ("reason", "INC-77\nreindex"),
    ];
    let (status, body) = submit(&h, &view, &fields).await;
    assert_eq!((status, body), (200, Value::Null), "the form closes");
    let grant = h.request_posted().await;
    let confirmation = h.next_dm(ALICE).await;
    assert_says(&confirmation, "was sent for approval");
    let audit = h.next_audit().await;
    assert_says(&audit, "edit in `orders` for 1h");
    assert!(audit.text().contains(&grant));
    assert_says(&audit, "INC-77 reindex");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_form_cannot_open_the_usage_is_shown_instead() {
    let h = Harness::start().await;
    h.slack
        .fail_next("views.open", Fault::Error("expired_trigger_id"));
    h.answer_saying(ALICE, "edit", "Missing the role and namespace")
        .await;
}
