//! How values reach the text of a message. Slack reads `<…>` as links and mentions and `&` as
//! the start of an entity in every mrkdwn text, so the Slack templates auto-escape: every value
//! is escaped unless it is already markup (a [`Markup`] from the views, a macro's or block's
//! output, or the `mention`, `channel` and `link` filters). A text field ends in `mrkdwn` or
//! `plain`, which write it as a JSON string for its kind of field.

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State};

use super::views::{Markup, clip, escape, human, mentions};
use crate::chat::Platform;

/// The auto-escape mode of the Slack templates.
const SLACK_MRKDWN: &str = "slack-mrkdwn";

/// The platform's escaping and the filters its templates use.
pub(super) fn install(env: &mut Environment<'static>, platform: Platform) {
    match platform {
        Platform::Slack => {
            env.set_auto_escape_callback(|name| match name {
                "kubeconfig" => AutoEscape::None,
                _ => AutoEscape::Custom(SLACK_MRKDWN.into()),
            });
            env.set_formatter(slack_formatter);
            // Escapes at once, so a `clip` after it measures the text Slack is sent.
            env.add_filter("esc", |v: Value| as_markup(&v));
            env.add_filter("mrkdwn", |v: Value| json_string(&as_markup(&v)));
            env.add_filter("plain", slack_plain);
            env.add_filter("channel", |id: String| {
                Value::from(Markup::new(format!("<#{}>", escape(Platform::Slack, &id))))
            });
            env.add_filter("link", |url: String, text: String| {
                let (url, text) = (
                    escape(Platform::Slack, &url),
                    escape(Platform::Slack, &text),
                );
                Value::from(Markup::new(format!("<{url}|{text}>")))
            });
        }
        Platform::Teams => {
            env.add_filter("esc", |s: String| escape(Platform::Teams, &s));
            env.add_filter("plain", |v: Value| {
                json_string(&Value::from(markdown_to_plain(&text_of(&v))))
            });
        }
    }
    env.add_filter("clip", clip_value);
    env.add_filter("duration", duration);
    // Nobody to name (a step the grant has not reached) is left out, not a broken `<@>`.
    env.add_filter("mention", move |id: Option<String>| {
        Value::from(id.map_or_else(Markup::default, |id| mentions(platform, [id])))
    });
}

/// A length of time given in seconds, as people read it (`2m 30s`).
pub(super) fn duration(secs: u64) -> String {
    human(std::time::Duration::from_secs(secs))
}

/// Writes values into Slack templates: markup as it is, everything else escaped.
fn slack_formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_safe() || !matches!(state.auto_escape(), AutoEscape::Custom(_)) {
        return minijinja::escape_formatter(out, state, value);
    }
    out.write_str(&escape(Platform::Slack, &text_of(value)))
        .map_err(Error::from)
}

fn text_of(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), String::from)
}

/// `value` as Slack markup: escaped unless it already is markup.
fn as_markup(value: &Value) -> Value {
    if value.is_safe() {
        return value.clone();
    }
    Value::from(Markup::new(escape(Platform::Slack, &text_of(value))))
}

/// A Slack `plain_text` field shows text as it is; markup there would show its escapes.
fn slack_plain(value: Value) -> Result<Value, Error> {
    if value.is_safe() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "a plain_text field was given Slack markup; build it from plain values",
        ));
    }
    json_string(&Value::from(text_of(&value)))
}

/// The JSON string of a text, safe to write into the template's JSON as it is.
fn json_string(value: &Value) -> Result<Value, Error> {
    let json = serde_json::to_string(&text_of(value)).map_err(|e| {
        Error::new(ErrorKind::BadSerialization, "unable to write a JSON string").with_source(e)
    })?;
    Ok(Value::from_safe_string(json))
}

/// Clips plain text anywhere; markup only between its entities and tokens.
fn clip_value(value: Value, max: usize) -> Value {
    let text = text_of(&value);
    if value.is_safe() {
        Value::from(Markup::new(clip_markup(&text, max)))
    } else {
        Value::from(clip(&text, max))
    }
}

/// At most `max` characters of markup, never cut inside an entity or a `<…>` token: a cut
/// one would leave a bare `&` or `<` for Slack to misread.
pub(super) fn clip_markup(markup: &str, max: usize) -> String {
    let clipped = clip(markup, max);
    let Some(kept) = clipped.strip_suffix('…').filter(|_| clipped != markup) else {
        return clipped;
    };
    let mut kept = kept.to_string();
    for (open, close) in [('<', '>'), ('&', ';')] {
        if let Some(at) = kept.rfind(open).filter(|&at| !kept[at..].contains(close)) {
            kept.truncate(at);
        }
    }
    kept.push('…');
    kept
}

/// Teams markdown as the plain text a reader sees: no emphasis or code marks, escapes and
/// entities resolved, links as their text.
pub(super) fn markdown_to_plain(markdown: &str) -> String {
    use pulldown_cmark::{Event, Parser, TagEnd};
    let mut plain = String::new();
    for event in Parser::new(markdown) {
        match event {
            Event::Text(text) | Event::Code(text) => plain.push_str(&text),
            Event::Html(text) | Event::InlineHtml(text) => plain.push_str(&text),
            Event::SoftBreak | Event::HardBreak => plain.push('\n'),
            Event::End(TagEnd::Paragraph) => plain.push_str("\n\n"),
            _ => {}
        }
    }
    plain.trim_end().to_string()
}

#[cfg(test)]
mod tests;
