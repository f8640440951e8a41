//! The metadata a client registered (DCR), as stored with it.

use aberta_store::entity::client;
use serde::{Deserialize, Serialize};

use crate::error::AuthError;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub webhook_uris: Vec<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// The SSA's active roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl ClientMetadata {
    pub fn of(client: &client::Model) -> Result<Self, AuthError> {
        Ok(serde_json::from_str(&client.metadata)?)
    }
}
