//! The fake Slack's views: `views.open` (the request form, a modal) and `views.publish` (the
//! Home tab), checked as Slack checks them.

use serde_json::{Value, json};

use super::blocks::view_blocks_within_limits;
use super::{Reply, State_, json_param, ok, param, slack_error};

pub(super) fn open(params: &Value) -> Reply {
    let view = json_param(params, "view");
    let title_ok = view["title"]["text"]
        .as_str()
        .is_some_and(|t| !t.is_empty() && t.chars().count() <= 24);
    let blocks_ok = view_blocks_within_limits(view.get("blocks"));
    if param(params, "trigger_id").is_empty() {
        slack_error("invalid_trigger_id")
    } else if view["type"] != "modal" || !title_ok || !blocks_ok {
        slack_error("invalid_arguments")
    } else {
        let mut opened = view.clone();
        opened["id"] = json!("V0FAKEVIEW");
        opened["team_id"] = json!("T0FAKE");
        opened["hash"] = json!("1700000000.abcdef");
        opened["state"] = json!({ "values": {} });
        ok(json!({ "ok": true, "view": opened }))
    }
}

pub(super) fn publish(state: &mut State_, params: &Value) -> Reply {
    let view = json_param(params, "view");
    let user = param(params, "user_id");
    if !state.users.contains_key(&user) {
        slack_error("user_not_found")
    } else if view["type"] != "home" || !view_blocks_within_limits(view.get("blocks")) {
        slack_error("invalid_arguments")
    } else {
        let mut published = view.clone();
        published["id"] = json!(format!("VHOME{user}"));
        published["team_id"] = json!("T0FAKE");
        published["hash"] = json!("1700000000.home0001");
        published["state"] = json!({ "values": {} });
        published["app_id"] = json!("A0PRODACCESS");
        published["bot_id"] = json!("B0FAKE");
        published["root_view_id"] = json!(format!("VHOME{user}"));
        state.homes.insert(user, published.clone());
        ok(json!({ "ok": true, "view": published }))
    }
}
