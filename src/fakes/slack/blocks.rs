//! The limits Slack puts on Block Kit, so a message the real Slack would refuse is refused here.

use serde_json::Value;

/// Slack's documented limits for a message: at most 50 blocks, section text at most 3000
/// characters, each block of a known type.
pub(super) fn blocks_within_limits(blocks: Option<&Value>) -> bool {
    blocks_within(blocks, 50)
}

/// The same for a modal or Home tab view, which may hold 100 blocks.
pub(super) fn view_blocks_within_limits(blocks: Option<&Value>) -> bool {
    blocks_within(blocks, 100)
}

fn blocks_within(blocks: Option<&Value>, max_blocks: usize) -> bool {
    let blocks = match blocks {
        None | Some(Value::Null) => return true,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => return false,
        },
        Some(v) => v.clone(),
    };
    let Some(blocks) = blocks.as_array() else {
        return false;
    };
    let known = [
        "section", "context", "actions", "divider", "header", "input", "image",
    ];
    blocks.len() <= max_blocks
        && blocks.iter().all(|b| {
            let kind = b["type"].as_str().unwrap_or("");
            let text_ok = b["text"]["text"]
                .as_str()
                .is_none_or(|t| t.chars().count() <= 3000);
            known.contains(&kind) && text_ok
        })
}
