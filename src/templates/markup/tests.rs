//! Clipping markup, and the Teams summary: the card's line as plain text.

use super::{clip_markup, markdown_to_plain};
use crate::templates::tests::teams::{teams, teams_grants};

#[test]
fn markup_is_never_cut_inside_an_entity_or_a_token() {
    assert_eq!(clip_markup("a &amp; b", 9), "a &amp; b");
    assert_eq!(clip_markup("ab &amp; c", 6), "ab …");
    assert_eq!(clip_markup("ab <@UBOB> c", 7), "ab …");
    assert_eq!(clip_markup("ab <@UBOB> &lt;x&gt;", 13), "ab <@UBOB> …");
    assert_eq!(clip_markup("<https://a.example/?b&amp;c|View>", 26), "…");
}

#[test]
fn teams_markdown_reads_as_plain_text() {
    let line = r"mallory\_smith requests **edit** in `payments`: \*not bold\* &amp; &lt;at&gt;";
    assert_eq!(
        markdown_to_plain(line),
        "mallory_smith requests edit in payments: *not bold* & <at>"
    );
    assert_eq!(
        markdown_to_plain("[View the request](https://x.example)"),
        "View the request"
    );
    assert_eq!(markdown_to_plain("one\n\ntwo"), "one\n\ntwo");
}

#[test]
fn teams_summaries_are_plain_text_and_cards_keep_their_escapes() {
    let templates = teams();
    let mallory = "mallory_smith@example.com";
    for (name, mut grant) in teams_grants() {
        grant.requester = mallory.into();
        grant.reason = "*not bold* & <at>x</at>".into();
        let card = templates.approval_message(&grant).unwrap();
        let summary = card.0["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("mallory_smith@example.com requests edit in payments"),
            "{name}: {summary}"
        );
        assert!(!summary.contains('\\'), "{name}: {summary}");
        let body = card.0["attachments"][0]["content"]["body"].to_string();
        assert!(body.contains(r"mallory\\_smith"), "{name}: {body}");
        assert!(
            body.contains(r"\\*not bold\\* &amp; &lt;at&gt;x&lt;/at&gt;"),
            "{name}: {body}"
        );
    }
}
