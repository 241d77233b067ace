//! The demo's story, scene by scene: alice's access from request to expiry with what she did in
//! between, carol's access revoked early, and what the audit channel saw.

use std::time::Duration;

use anyhow::Context;
use minijinja::{Value, context};

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
    created: serde_json::Value,
}

impl Story<'_, '_> {
    pub async fn play(mut self) -> anyhow::Result<()> {
        self.t.scene("scene_request")?;
        let reply = self.slash(ALICE, "alice", GRANT).await?;
        let only_alice = self
            .t
            .words("only_she_sees", context! { name => "alice" })?;
        self.t.bot_to(&only_alice, &reply)?;
        let grant = self.approval_message().await?;
        self.t.scene("scene_approval")?;
        let alice = self.approved_by_bob(grant, "payments").await?;
        let title = self.t.words(
            "binding",
            context! { namespace => "payments", binding => &alice.binding },
        )?;
        self.t.yaml(&title, &binding_shown(&alice.created))?;
        let granted = self.workspace.next_dm("the confirmation", ALICE).await?;
        self.posted_in("dm", context! { name => "alice" }, &granted.text, None)?;
        self.session_activity(&alice).await?;
        self.expiry(&alice).await?;
        self.early_revocation().await?;
        self.t.scene("scene_audit_channel")?;
        for post in self.workspace.posts_in(AUDIT) {
            self.t.item("audit_post", context! { post })?;
        }
        Ok(())
    }

    /// `user` (called `name`) types `/prod-access {text}`; the bot's answer to them.
    async fn slash(&mut self, user: &str, name: &str, text: &str) -> anyhow::Result<String> {
        let typed = self.t.words("slash", context! { text })?;
        self.t.says(name, &typed)?;
        self.workspace.slash(user, DEV, text).await
    }

    /// The approval message the request brought, and the grant it asks about.
    async fn approval_message(&mut self) -> anyhow::Result<String> {
        let approval = self
            .workspace
            .next_post("the approval message", APPROVALS)
            .await?;
        self.posted_in(
            "approvals",
            context! {},
            &approval.text,
            Some("approval_buttons"),
        )?;
        approval
            .grant
            .context("the approval message has no Approve button")
    }

    /// Bob approves `grant`; its RoleBinding appears in `namespace`.
    async fn approved_by_bob(&mut self, grant: String, namespace: &str) -> anyhow::Result<Granted> {
        let click = self.t.words("clicks", context! { button => "Approve" })?;
        self.t.says("bob", &click)?;
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
        self.t.scene("scene_activity")?;
        let subject = alice.created["subjects"][0]["name"]
            .as_str()
            .unwrap_or_default();
        let (batch, requests) = activity::batch(subject, self.clock.now());
        let typed = self.t.words("kubectl", context! { requests })?;
        self.t.says("alice", &typed)?;
        self.workspace.audit_webhook(&batch).await?;
        let events = batch["items"].as_array().map_or(0, Vec::len);
        self.t.happened("audit_batch", context! { events })?;
        let said = self
            .workspace
            .next_reply_saying("the activity reply", APPROVALS, "Kubernetes activity")
            .await?;
        self.posted_in("approvals_thread", context! {}, &said, None)
    }

    async fn expiry(&mut self, alice: &Granted) -> anyhow::Result<()> {
        self.t.scene("scene_expiry")?;
        let reminder = self.workspace.next_dm("the reminder", ALICE).await?;
        self.posted_in(
            "dm",
            context! { name => "alice" },
            &reminder.text,
            Some("reminder_buttons"),
        )?;
        let expires_at = alice.created["metadata"]["annotations"]["prod-access/expires-at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&chrono::Utc));
        self.gone("payments", &alice.binding, Duration::from_secs(25 * 60))
            .await
            .context("the expired RoleBinding was never deleted")?;
        let lag = expires_at.map(|at| {
            let seconds = (self.clock.now() - at).num_milliseconds() as f64 / 1000.0;
            format!("{seconds:.1}")
        });
        self.t.happened(
            "binding_deleted",
            context! { namespace => "payments", binding => &alice.binding, lag },
        )?;
        let expired = self.workspace.next_dm("the expiry notice", ALICE).await?;
        self.posted_in("dm", context! { name => "alice" }, &expired.text, None)?;
        let summary = self
            .workspace
            .next_reply_saying("the session summary", APPROVALS, "Session summary")
            .await?;
        self.posted_in("approvals_thread", context! {}, &summary, None)
    }

    async fn early_revocation(&mut self) -> anyhow::Result<()> {
        self.t.scene("scene_revocation")?;
        let ask = "view orders 2h checking a refund";
        self.slash(CAROL, "carol", ask).await?;
        let grant = self.approval_message().await?;
        let carol = self.approved_by_bob(grant, "orders").await?;
        let (grant, binding) = (&carol.grant, &carol.binding);
        self.t.happened(
            "binding_created",
            context! { namespace => "orders", binding },
        )?;
        let reply = self.slash(BOB, "bob", &format!("revoke {grant}")).await?;
        self.t.bot_to("bob", &reply)?;
        self.gone("orders", binding, Duration::from_secs(10))
            .await
            .context("the revoked RoleBinding was never deleted")?;
        self.t.happened(
            "binding_deleted",
            context! { namespace => "orders", binding },
        )?;
        let active = self.workspace.next_dm("the confirmation", CAROL).await?;
        self.posted_in("dm", context! { name => "carol" }, &active.text, None)?;
        let told = self
            .workspace
            .next_dm("the revocation notice", CAROL)
            .await?;
        self.posted_in("dm", context! { name => "carol" }, &told.text, None)
    }

    /// The bot's message `text` where `place` (a line of the words) says, with the buttons
    /// `buttons` names.
    fn posted_in(
        &mut self,
        place: &str,
        values: Value,
        text: &str,
        buttons: Option<&str>,
    ) -> anyhow::Result<()> {
        let place = self.t.words(place, values)?;
        let buttons = match buttons {
            Some(line) => self.t.words(line, context! {})?,
            None => String::new(),
        };
        self.t.posted(&place, text, &buttons)
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
