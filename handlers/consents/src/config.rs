//! What an installation configures about consents.

use std::sync::Arc;

use crate::permissions::PermissionGroup;
use crate::time::{Clock, SystemClock};

/// Consents configuration.
#[derive(Clone)]
pub struct ConsentsConfig {
    /// The permission groups this institution offers; requested groups outside it are dropped.
    pub offered: Vec<PermissionGroup>,
    /// Seconds a consent may wait for the customer before it expires (the spec's 60 minutes).
    pub authorisation_timeout: i64,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
}

impl Default for ConsentsConfig {
    fn default() -> Self {
        Self {
            offered: PermissionGroup::served_by_default(),
            authorisation_timeout: 60 * 60,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for ConsentsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentsConfig")
            .field("offered", &self.offered)
            .field("authorisation_timeout", &self.authorisation_timeout)
            .finish_non_exhaustive()
    }
}
