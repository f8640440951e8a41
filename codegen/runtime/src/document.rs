//! The OpenAPI document a generated server serves, built from the same route metadata
//! poem-openapi serves, without needing an implementation of the server trait.

use poem_openapi::OpenApi;
use poem_openapi::registry::Registry;
use serde_json::{Map, Value, json};

/// The document for routes `T`, mounted at `base_path`.
pub fn document<T: OpenApi>(title: &str, version: &str, base_path: &str) -> Value {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let mut paths = Map::new();
    for api in T::meta() {
        for path in api.paths {
            let Ok(Value::Object(operations)) = serde_json::to_value(&path) else {
                continue;
            };
            let entry = paths
                .entry(path.path.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(existing) = entry {
                existing.extend(operations);
            }
        }
    }
    let schemas = serde_json::to_value(&registry.schemas).unwrap_or_default();
    json!({
        "openapi": "3.0.0",
        "info": { "title": title, "version": version },
        "servers": [{ "url": base_path }],
        "paths": paths,
        "components": { "schemas": schemas },
    })
}
