//! The cluster and chat adapters, counted: every call by operation and result (`ok`,
//! `unavailable`, `refused`…) and timed, without touching what it does or answers.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Metrics;
use crate::chat::{ChannelInfo, Chat, ChatError, Message};
use crate::cluster::{Cluster, ClusterError, Unbound};
use crate::domain::activity::{ObjectRef, Observed};
use crate::domain::grant::{Grant, MessageRef};
use crate::domain::identity::{Identity, Profile};
use crate::domain::permissions::Permission;
use crate::domain::reconcile::ObservedBinding;
use crate::domain::revocation::{Answer, NamedBinding};

/// A cluster's adapter whose calls are counted under its name.
pub struct MeteredCluster {
    inner: Arc<dyn Cluster>,
    metrics: Arc<Metrics>,
    cluster: String,
}

impl MeteredCluster {
    pub fn new(inner: Arc<dyn Cluster>, metrics: Arc<Metrics>, cluster: &str) -> Self {
        MeteredCluster {
            inner,
            metrics,
            cluster: cluster.to_string(),
        }
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ClusterError::Unavailable(_)) => "unavailable",
            Err(ClusterError::Refused(_)) => "refused",
        };
        self.metrics
            .kubernetes_call(&self.cluster, operation, outcome, started.elapsed());
        result
    }
}

#[async_trait]
impl Cluster for MeteredCluster {
    async fn bind(
        &self,
        grant: &Grant,
        identity: &Identity,
        expires_at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ClusterError> {
        self.call("bind", self.inner.bind(grant, identity, expires_at))
            .await
    }

    async fn update_expiry(&self, grant: &Grant) -> Result<(), ClusterError> {
        self.call("update_expiry", self.inner.update_expiry(grant))
            .await
    }

    async fn unbind(&self, grant: &Grant) -> Result<Unbound, ClusterError> {
        self.call("unbind", self.inner.unbind(grant)).await
    }

    async fn list_managed(
        &self,
        include_cluster_bindings: bool,
    ) -> Result<Vec<ObservedBinding>, ClusterError> {
        self.call(
            "list_managed",
            self.inner.list_managed(include_cluster_bindings),
        )
        .await
    }

    async fn delete_binding(&self, binding: &ObservedBinding) -> Result<bool, ClusterError> {
        self.call("delete_binding", self.inner.delete_binding(binding))
            .await
    }

    async fn issue_token(&self, grant: &Grant, seconds: i64) -> Result<String, ClusterError> {
        self.call("issue_token", self.inner.issue_token(grant, seconds))
            .await
    }

    async fn may(&self, permission: &Permission) -> Result<bool, ClusterError> {
        self.call("access_review", self.inner.may(permission)).await
    }

    async fn subject_may(
        &self,
        subject: &Identity,
        permission: &Permission,
    ) -> Result<Answer, ClusterError> {
        let asked = self.inner.subject_may(subject, permission);
        self.call("subject_access_review", asked).await
    }

    async fn bindings_naming(&self, subject: &Identity) -> Result<Vec<NamedBinding>, ClusterError> {
        let listed = self.inner.bindings_naming(subject);
        self.call("list_bindings_naming", listed).await
    }

    async fn observe(&self, object: &ObjectRef) -> Result<Option<Observed>, ClusterError> {
        self.call("get_object", self.inner.observe(object)).await
    }

    async fn delete_object(&self, object: &ObjectRef) -> Result<bool, ClusterError> {
        self.call("delete_object", self.inner.delete_object(object))
            .await
    }
}

/// The chat adapter, its calls counted.
pub struct MeteredChat {
    inner: Arc<dyn Chat>,
    metrics: Arc<Metrics>,
}

impl MeteredChat {
    pub fn new(inner: Arc<dyn Chat>, metrics: Arc<Metrics>) -> Self {
        MeteredChat { inner, metrics }
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, ChatError>>,
    ) -> Result<T, ChatError> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ChatError::Unavailable(_)) => "unavailable",
            Err(ChatError::Refused(_)) => "refused",
            Err(ChatError::Encoding(_)) => "encoding",
        };
        self.metrics
            .chat_call(operation, outcome, started.elapsed());
        result
    }
}

#[async_trait]
impl Chat for MeteredChat {
    async fn post(&self, channel: &str, message: &Message) -> Result<MessageRef, ChatError> {
        self.call("post", self.inner.post(channel, message)).await
    }

    async fn update(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.call("update", self.inner.update(at, message)).await
    }

    async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        message: &Message,
    ) -> Result<(), ChatError> {
        self.call(
            "post_ephemeral",
            self.inner.post_ephemeral(channel, user, message),
        )
        .await
    }

    async fn publish_home(&self, user: &str, view: &Message) -> Result<(), ChatError> {
        self.call("publish_home", self.inner.publish_home(user, view))
            .await
    }

    async fn open_modal(&self, trigger_id: &str, view: &Message) -> Result<(), ChatError> {
        self.call("open_modal", self.inner.open_modal(trigger_id, view))
            .await
    }

    async fn send_file_dm(
        &self,
        user: &str,
        filename: &str,
        content: &[u8],
        comment: &Message,
    ) -> Result<(), ChatError> {
        let sent = self.inner.send_file_dm(user, filename, content, comment);
        self.call("send_file_dm", sent).await
    }

    async fn dm(&self, user: &str, message: &Message) -> Result<MessageRef, ChatError> {
        self.call("dm", self.inner.dm(user, message)).await
    }

    async fn reply_in_thread(&self, at: &MessageRef, message: &Message) -> Result<(), ChatError> {
        self.call("reply_in_thread", self.inner.reply_in_thread(at, message))
            .await
    }

    async fn permalink(&self, at: &MessageRef) -> Result<String, ChatError> {
        self.call("permalink", self.inner.permalink(at)).await
    }

    async fn user_profile(&self, user: &str) -> Result<Profile, ChatError> {
        self.call("user_profile", self.inner.user_profile(user))
            .await
    }

    async fn user_email(&self, user: &str) -> Result<Option<String>, ChatError> {
        self.call("user_email", self.inner.user_email(user)).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<String>, ChatError> {
        self.call("user_by_email", self.inner.user_by_email(email))
            .await
    }

    async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, ChatError> {
        self.call("usergroup_members", self.inner.usergroup_members(group))
            .await
    }

    async fn channel_info(&self, channel: &str) -> Result<Option<ChannelInfo>, ChatError> {
        self.call("channel_info", self.inner.channel_info(channel))
            .await
    }
}
