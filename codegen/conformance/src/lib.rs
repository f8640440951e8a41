//! Shared helpers of the conformance tests: finding the official documents the way the
//! generator does, and walking them for the values they show.

use std::path::{Path, PathBuf};

use aberta_codegen::Workspace;
use aberta_codegen::load::{self, Document};
use aberta_codegen::manifest::{Manifest, SpecEntry};
use serde_json::Value;

pub fn workspace() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Workspace::new(root.canonicalize().unwrap_or(root))
}

/// Every generated API with its overlaid official document.
pub fn generated_documents() -> Vec<(ofb_all::GeneratedApi, Document)> {
    let ws = workspace();
    let specs = ws
        .specs_dir()
        .expect("the official documents (see README: cargo xtask specs fetch)");
    let manifest = Manifest::load(&ws.manifest()).expect("specs/manifest.toml");
    ofb_all::apis()
        .into_iter()
        .map(|api| {
            let entry = find(&manifest, api.name, api.version);
            let file = specs.join(entry.relative_path());
            let overlay = ws.overlays().join(entry.relative_path());
            let overlay = overlay.is_file().then_some(overlay);
            let doc = load::load(&file, overlay.as_deref()).unwrap_or_else(|e| panic!("{e}"));
            (api, doc)
        })
        .collect()
}

fn find<'a>(manifest: &'a Manifest, api: &str, version: &str) -> &'a SpecEntry {
    manifest
        .specs
        .iter()
        .find(|e| e.api == api && e.version == version)
        .unwrap_or_else(|| {
            panic!("{api} {version} is generated but not in the manifest: run cargo xtask codegen")
        })
}

/// Where a value shown by the spec sits, and the schema it claims to follow.
#[derive(Debug, Clone)]
pub struct Shown {
    /// JSON pointer of the example itself.
    pub at: String,
    /// JSON pointer of the schema it follows (references followed).
    pub schema: String,
    pub kind: ShownKind,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownKind {
    /// A request or response body (`content.<media>.example(s)`).
    Body,
    /// A parameter's example.
    Parameter,
    /// A schema's own example.
    Schema,
}

/// Every `example` and `examples` value of the document.
pub fn shown_values(doc: &Value) -> Vec<Shown> {
    let mut out = Vec::new();
    walk(doc, doc, "", &mut out);
    out
}

fn walk(root: &Value, value: &Value, pointer: &str, out: &mut Vec<Shown>) {
    match value {
        Value::Object(map) => {
            let kind = if map.contains_key("in") && map.contains_key("name") {
                Some((ShownKind::Parameter, format!("{pointer}/schema")))
            } else if map.contains_key("schema") && pointer.contains("/content/") {
                Some((ShownKind::Body, format!("{pointer}/schema")))
            } else if pointer.contains("/schemas/") || pointer.contains("/schema") {
                Some((ShownKind::Schema, pointer.to_string()))
            } else {
                None
            };
            if let Some((kind, schema)) = kind {
                let schema = follow(root, &schema);
                if let Some(example) = map.get("example") {
                    out.push(Shown {
                        at: format!("{pointer}/example"),
                        schema: schema.clone(),
                        kind,
                        value: example.clone(),
                    });
                }
                if let Some(Value::Object(examples)) = map.get("examples") {
                    for (name, example) in examples {
                        let at = format!("{pointer}/examples/{}", load::escape(name));
                        let example = resolve(root, example);
                        if let Some(v) = example.get("value") {
                            out.push(Shown {
                                at,
                                schema: schema.clone(),
                                kind,
                                value: v.clone(),
                            });
                        }
                    }
                }
            }
            for (key, child) in map {
                if key == "example" || key == "examples" || key == "default" || key == "enum" {
                    continue;
                }
                walk(
                    root,
                    child,
                    &format!("{pointer}/{}", load::escape(key)),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(root, child, &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The pointer a schema pointer ends at once `$ref`s are followed.
pub fn follow(root: &Value, pointer: &str) -> String {
    let mut current = pointer.to_string();
    for _ in 0..16 {
        let Some(target) = root
            .pointer(&current)
            .and_then(|v| v.get("$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        else {
            break;
        };
        current = target.to_string();
    }
    current
}

pub fn resolve<'a>(root: &'a Value, value: &'a Value) -> &'a Value {
    let mut current = value;
    for _ in 0..16 {
        match current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

pub fn repo_file(relative: &str) -> PathBuf {
    workspace().root.join(relative)
}
