//! Stand-ins on 127.0.0.1 for Slack's Web API and the Kubernetes API server, as strict as the
//! real ones about what they accept and answering with their real JSON: the integration tests'
//! world, and the one `prod-access demo` plays its story in. They never listen beyond loopback.

pub mod kube;
pub mod slack;
