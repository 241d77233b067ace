//! The demo's story, scene by scene: alice's access from request to expiry with what she did in
//! between, carol's access revoked early, and what the audit channel saw.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use super::transcript::Transcript;
use super::workspace::{ALICE, APPROVALS, AUDIT, BOB, CAROL, DEV, Workspace};
use super::{GRANT, activity, binding_shown, wait_for};
use crate::clock::Clock;
use crate::fakes::kube::FakeKube;

pub(super) struct Story<'a, 'w> {
    pub workspace: &'a Workspace,
    pub kube: &'a FakeKube,
    pub clock: &'a dyn Clock,
    pub speed: f64,
    pub t: &'a mut Transcript<'w>,
}

/// A granted request: its id, and its RoleBinding as the cluster holds it.
struct Granted {
    grant: String,
    binding: String,
    created: Value,
}

impl Story<'_, '_> {
    pub async fn play(mut self) -> anyhow::Result<()> {
        self.t.section("1. alice asks for access")?;
        let (reply, grant) = self.request(ALICE, "alice", GRANT).await?;
        self.t.bot_to("alice (only she sees this)", &reply)?;
        self.t
            .section("2. bob approves; the RoleBinding is created")?;
        let alice = self.approved_by_bob(grant, "payments").await?;
        self.t.yaml(
            &format!("Kubernetes: RoleBinding payments/{}", alice.binding),
            &binding_shown(&alice.created),
        )?;
        let granted = self.workspace.next_dm("the confirmation", ALICE).await?;
        self.t.posted("DM to alice", &granted.text, "")?;
        self.session_activity(&alice).await?;
        self.expiry(&alice).await?;
        self.early_revocation().await?;
        self.t.section("6. what the audit channel saw")?;
        for post in self.workspace.posts_in(AUDIT) {
            self.t.line(&format!("  #audit: {post}"))?;
        }
        Ok(())
    }

    /// `user` (called `name`) asks for `ask`: the bot's answer to them, and the grant the
    /// approval message asks about.
    async fn request(
        &mut self,
        user: &str,
        name: &str,
        ask: &str,
    ) -> anyhow::Result<(String, String)> {
        self.t.says(name, &format!("/prod-access {ask}"))?;
        let reply = self.workspace.slash(user, DEV, ask).await?;
        let approval = self
            .workspace
            .next_post("the approval message", APPROVALS)
            .await?;
        let grant = approval
            .grant
            .context("the approval message has no Approve button")?;
        self.t
            .posted("#approvals", &approval.text, "[Approve] [Deny]")?;
        Ok((reply, grant))
    }

    /// Bob approves `grant`; its RoleBinding appears in `namespace`.
    async fn approved_by_bob(&mut self, grant: String, namespace: &str) -> anyhow::Result<Granted> {
        self.t.says("bob", "clicks Approve")?;
        self.workspace.click(BOB, "approve", &grant).await?;
        let binding = format!("prod-access-{grant}");
        let created = wait_for(self.speed, Duration::from_secs(10), || {
            self.kube.binding(namespace, &binding)
        })
        .await
        .context("the RoleBinding was never created")?;
        Ok(Granted {
            grant,
            binding,
            created,
        })
    }

    async fn session_activity(&mut self, alice: &Granted) -> anyhow::Result<()> {
        self.t
            .section("3. alice works; the cluster's audit webhook tells the bot what she does")?;
        let subject = alice.created["subjects"][0]["name"]
            .as_str()
            .unwrap_or_default();
        let (batch, requests) = activity::batch(subject, self.clock.now());
        self.t.says(
            "alice",
            &format!("kubectl get/logs/exec/delete in payments ({requests} requests)"),
        )?;
        self.workspace.audit_webhook(&batch).await?;
        let events = batch["items"].as_array().map_or(0, Vec::len);
        self.t.event(&format!(
            "Kubernetes: the apiserver posts a batch of {events} audit events to /k8s/audit"
        ))?;
        let said = self
            .workspace
            .next_reply_saying("the activity reply", APPROVALS, "Kubernetes activity")
            .await?;
        self.t
            .posted("#approvals, in the request's thread", &said, "")
    }

    async fn expiry(&mut self, alice: &Granted) -> anyhow::Result<()> {
        self.t
            .section("4. time passes: a reminder, then the access expires on its own")?;
        let reminder = self.workspace.next_dm("the reminder", ALICE).await?;
        self.t
            .posted("DM to alice", &reminder.text, "[Extend] [Drop now]")?;
        let expires_at = alice.created["metadata"]["annotations"]["prod-access/expires-at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&chrono::Utc));
        self.gone("payments", &alice.binding, Duration::from_secs(25 * 60))
            .await
            .context("the expired RoleBinding was never deleted")?;
        let binding = &alice.binding;
        let lag = expires_at.map(|at| (self.clock.now() - at).num_milliseconds() as f64 / 1000.0);
        self.t.event(&match lag {
            Some(lag) => format!(
                "Kubernetes: RoleBinding payments/{binding} deleted, {lag:.1} s (simulated) after it expired"
            ),
            None => format!("Kubernetes: RoleBinding payments/{binding} deleted"),
        })?;
        let expired = self.workspace.next_dm("the expiry notice", ALICE).await?;
        self.t.posted("DM to alice", &expired.text, "")?;
        let summary = self
            .workspace
            .next_reply_saying("the session summary", APPROVALS, "Session summary")
            .await?;
        self.t
            .posted("#approvals, in the request's thread", &summary, "")
    }

    async fn early_revocation(&mut self) -> anyhow::Result<()> {
        self.t
            .section("5. carol gets read access; bob revokes it early")?;
        let ask = "view orders 2h checking a refund";
        let (_, grant) = self.request(CAROL, "carol", ask).await?;
        let carol = self.approved_by_bob(grant, "orders").await?;
        let (grant, binding) = (&carol.grant, &carol.binding);
        self.t
            .event(&format!("Kubernetes: RoleBinding orders/{binding} created"))?;
        self.t
            .says("bob", &format!("/prod-access revoke {grant}"))?;
        let reply = self
            .workspace
            .slash(BOB, DEV, &format!("revoke {grant}"))
            .await?;
        self.t.bot_to("bob", &reply)?;
        self.gone("orders", binding, Duration::from_secs(10))
            .await
            .context("the revoked RoleBinding was never deleted")?;
        self.t
            .event(&format!("Kubernetes: RoleBinding orders/{binding} deleted"))?;
        let active = self.workspace.next_dm("the confirmation", CAROL).await?;
        self.t.posted("DM to carol", &active.text, "")?;
        let told = self
            .workspace
            .next_dm("the revocation notice", CAROL)
            .await?;
        self.t.posted("DM to carol", &told.text, "")
    }

    /// Waits, up to `simulated` time, for the binding to be deleted.
    async fn gone(
        &self,
        namespace: &str,
        binding: &str,
        simulated: Duration,
    ) -> anyhow::Result<()> {
        wait_for(self.speed, simulated, || {
            self.kube
                .binding(namespace, binding)
                .is_none()
                .then_some(())
        })
        .await
    }
}
