//! The document each generated server serves is the official one: same paths, methods,
//! parameters (with their `required` flags and schemas), request and response media types and
//! status codes. Every known difference is listed, with its reason, in `equivalence-allow.yml`;
//! an entry that no longer matches a difference fails the test too, so the list only shrinks.
//!
//! Header names are compared without case (HTTP field names are case-insensitive and
//! poem-openapi writes them in capitals). Schemas are compared on what constrains a value:
//! type, format, pattern, lengths, bounds and enum.

use std::collections::{BTreeMap, BTreeSet};

use aberta_conformance::{generated_documents, repo_file, resolve};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct Allowed {
    api: String,
    /// The difference, as this test words it.
    difference: String,
    why: String,
}

#[test]
fn served_documents_match_the_official_ones() {
    let allow_file = repo_file("codegen/conformance/equivalence-allow.yml");
    let allowed: Vec<Allowed> =
        serde_yaml::from_str(&std::fs::read_to_string(&allow_file).unwrap()).unwrap();
    let mut unexpected = Vec::new();
    let mut used = BTreeSet::new();
    let mut compared = 0;
    for (api, doc) in generated_documents() {
        let served = (api.openapi_document)();
        let official = describe(&doc.value);
        let ours = describe(&served);
        compared += official.len();
        let keys: BTreeSet<_> = official.keys().chain(ours.keys()).collect();
        for key in keys {
            let (a, b) = (official.get(key), ours.get(key));
            if a == b {
                continue;
            }
            let difference = format!("{key}: official {} / served {}", show(a), show(b));
            match allowed
                .iter()
                .position(|x| x.api == api.name && x.difference == difference)
            {
                Some(i) => {
                    assert!(!allowed[i].why.trim().is_empty());
                    used.insert(i);
                }
                None => unexpected.push(format!("{}: {difference}", api.name)),
            }
        }
    }
    let stale: Vec<_> = allowed
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, a)| format!("{}: {}", a.api, a.difference))
        .collect();
    assert!(compared > 500, "only {compared} facts compared");
    assert!(
        unexpected.is_empty(),
        "served documents differ from the official ones:\n{}",
        unexpected.join("\n")
    );
    assert!(
        stale.is_empty(),
        "allow-list entries that no longer match a difference:\n{}",
        stale.join("\n")
    );
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "absent".to_string(), Value::to_string)
}

/// Every comparable fact of a document, keyed by where it sits.
fn describe(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let item = resolve(doc, item);
        let shared_params = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{method} {path}");
            out.insert(at.clone(), json!(true));
            let mut params = shared_params.clone();
            params.extend(
                op.get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            for param in &params {
                let param = resolve(doc, param);
                let location = param.get("in").and_then(Value::as_str).unwrap_or_default();
                let mut name = param
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if location == "header" {
                    name = name.to_lowercase();
                }
                let required = param
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    || location == "path";
                let schema = param
                    .get("schema")
                    .map(|s| constraints(doc, s))
                    .unwrap_or(Value::Null);
                out.insert(
                    format!("{at} param {location} {name}"),
                    json!({ "required": required, "schema": schema }),
                );
            }
            if let Some(body) = op.get("requestBody") {
                let body = resolve(doc, body);
                let media: BTreeSet<_> = body
                    .get("content")
                    .and_then(Value::as_object)
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                let required = body
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                out.insert(
                    format!("{at} body"),
                    json!({ "media": media, "required": required }),
                );
            }
            for (status, response) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let response = resolve(doc, response);
                let media: BTreeSet<_> = response
                    .get("content")
                    .and_then(Value::as_object)
                    .map(|c| c.keys().cloned().collect())
                    .unwrap_or_default();
                out.insert(format!("{at} response {status}"), json!({ "media": media }));
            }
        }
    }
    out
}

/// What constrains a value in a schema.
fn constraints(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    let mut out = serde_json::Map::new();
    for key in [
        "type",
        "format",
        "pattern",
        "maxLength",
        "minLength",
        "minimum",
        "maximum",
        "enum",
    ] {
        if let Some(v) = schema.get(key) {
            let v = match (key, v) {
                // `int32\u{200b}` (admin 2.0.1) is int32 with a stray zero-width space.
                ("format", Value::String(f)) => {
                    Value::String(f.trim_matches('\u{200b}').to_string())
                }
                ("minimum" | "maximum", Value::Number(n)) => json!(n.as_f64()),
                _ => v.clone(),
            };
            out.insert(key.to_string(), v);
        }
    }
    Value::Object(out)
}
