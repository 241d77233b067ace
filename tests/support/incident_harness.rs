//! The harness for incidents: a break-glass role, roles that approve whoever is on call in
//! PagerDuty or Opsgenie, and the fake on-call services they ask.

use super::*;

/// PagerDuty's schedule and escalation policy in the policy, as (ID, name).
pub const PD_SCHEDULE: (&str, &str) = ("PPRIMARY", "Payments Primary");
pub const PD_POLICY: (&str, &str) = ("PESCAL1", "Payments");
/// The Opsgenie schedule `oncall-view` asks.
pub const OPSGENIE_SCHEDULE: &str = "Orders On-Call";

const INCIDENT_ROLES: &str = r#"    emergency:
      cluster_role: admin
      namespaces: [payments, orders]
      max_duration: 4h
      approvals: 2
      break_glass: { max_duration: 1h, requesters: [U0ALICE, S0ONCALL] }
    oncall-edit:
      cluster_role: edit
      namespaces: [payments]
      max_duration: 2h
      on_call: { pagerduty: { schedules: [PPRIMARY] } }
    oncall-view:
      cluster_role: view
      namespaces: [orders]
      max_duration: 2h
      reason: { required: false }
      on_call: { opsgenie: { schedules: ["Orders On-Call"] } }
"#;

impl Harness {
    /// The standard bot plus `emergency` (break-glass, 1h self-approved), `oncall-edit`
    /// (PagerDuty schedule PPRIMARY) and `oncall-view` (Opsgenie "Orders On-Call").
    pub async fn start_for_incidents() -> Harness {
        let on_call = FakeOnCall::start().await;
        let services = format!(
            "on_call:\n  pagerduty: {{ api_url: \"{}\" }}\n  opsgenie: {{ api_url: \"{}\" }}\n",
            on_call.pagerduty_url(),
            on_call.opsgenie_url()
        );
        Harness::start_full(Mode::Http, None, &services, INCIDENT_ROLES, Some(on_call)).await
    }

    pub fn fake_on_call(&self) -> &FakeOnCall {
        self.on_call
            .as_ref()
            .expect("started with start_for_incidents")
    }

    /// Requests access by slash command in `channel` and returns the new grant's id, from the
    /// confirmation (an on-call request may be approved before its message has buttons).
    pub async fn request_in(&self, user: &str, channel: &str, text: &str) -> String {
        let (status, reply) = self.slash_in(user, channel, text).await;
        assert_eq!(status, 200, "{reply}");
        let text = reply["text"].as_str().unwrap_or_default();
        let id = text
            .split("Request `")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .unwrap_or_else(|| panic!("no request id in the confirmation: {text}"));
        id.to_string()
    }

    /// The next call to the audit channel whose text says `phrase`, about any grant.
    pub async fn audit_call_saying(&self, phrase: &str) -> fake_slack::Call {
        self.slack
            .next_matching(&format!("audit channel saying {phrase}"), |c| {
                c.param("channel") == AUDIT && c.text().contains(phrase)
            })
            .await
    }

    /// The next post to the audit channel about `grant` that says `phrase`.
    pub async fn audit_saying(&self, grant: &str, phrase: &str) -> fake_slack::Call {
        let (grant, phrase) = (grant.to_string(), phrase.to_string());
        self.slack
            .next_matching(&format!("audit post saying {phrase}"), move |c| {
                c.method == "chat.postMessage"
                    && c.param("channel") == AUDIT
                    && all_text(&c.params).contains(&grant)
                    && all_text(&c.params).contains(&phrase)
            })
            .await
    }
}
