//! `codegen/config.yml`: the generator's knobs, kept as data (which operations a bank's
//! backend serves, base paths the specs do not state, the shared shapes).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub apis: BTreeMap<String, ApiConfig>,
    /// String fields whose exact pattern names a shared newtype.
    #[serde(default)]
    pub shared_strings: Vec<SharedString>,
    /// Component schemas whose structure names a shared type.
    #[serde(default)]
    pub shared_schemas: Vec<SharedSchema>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Where the routes are mounted, when the spec's `servers` does not say.
    pub base_path: Option<String>,
    /// Which operations the bank's backend serves: `reads` (every GET) and/or operationIds.
    #[serde(default)]
    pub connector: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedString {
    pub pattern: String,
    pub rust: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSchema {
    pub rust: String,
    /// The structure, descriptions and examples left out, references resolved.
    pub shape: Value,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_yaml::from_str(&text).map_err(|e| Error::spec(path, "", format!("bad config: {e}")))
    }

    pub fn api(&self, name: &str) -> ApiConfig {
        self.apis.get(name).cloned().unwrap_or_default()
    }
}

impl ApiConfig {
    pub fn serves_by_connector(&self, operation_id: &str, method: &str) -> bool {
        self.connector
            .iter()
            .any(|c| c == operation_id || (c == "reads" && method == "get"))
    }
}
