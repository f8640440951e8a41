//! Reading an official document: byte-order mark, YAML, overlay, OpenAPI shape.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// An official document after its overlay, ready to be lowered.
pub struct Document {
    pub file: PathBuf,
    pub value: Value,
    pub openapi: openapiv3::OpenAPI,
}

impl Document {
    /// The value at a JSON pointer, or an error naming the file and pointer.
    pub fn at(&self, pointer: &str) -> Result<&Value, Error> {
        self.value
            .pointer(pointer)
            .ok_or_else(|| Error::spec(&self.file, pointer, "dangling reference"))
    }
}

/// Reads, strips the byte-order mark (12 official files start with one), parses YAML into JSON
/// values, applies the overlay when one exists and checks the result is an OpenAPI 3.0
/// document.
pub fn load(file: &Path, overlay: Option<&Path>) -> Result<Document, Error> {
    let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::spec(file, "", "not UTF-8"))?
        .trim_start_matches('\u{feff}');
    let mut value: Value =
        serde_yaml::from_str(text).map_err(|e| Error::spec(file, "", format!("not YAML: {e}")))?;
    if let Some(overlay) = overlay {
        Overlay::load(overlay)?.apply(&mut value, overlay)?;
    }
    match value.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0") => {}
        _ => return Err(Error::spec(file, "/openapi", "not an OpenAPI 3.0 document")),
    }
    let openapi: openapiv3::OpenAPI = serde_json::from_value(value.clone())
        .map_err(|e| Error::spec(file, "", format!("not a valid OpenAPI document: {e}")))?;
    Ok(Document {
        file: file.to_path_buf(),
        value,
        openapi,
    })
}

/// A reviewed patch to one official document (`specs/overlays/<api>/<version>.yml`).
///
/// Each action targets a JSON pointer and says why. `merge` adds or replaces keys of the
/// object there, `set` replaces the value, `remove` deletes it, `unrequire` drops names from the
/// `required` list of the schema there. A target that does not exist is an error, so an
/// overlay cannot silently outlive the defect it fixes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    pub actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub target: String,
    pub why: String,
    #[serde(default)]
    pub merge: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub set: Option<Value>,
    #[serde(default)]
    pub remove: bool,
    #[serde(default)]
    pub unrequire: Vec<String>,
}

impl Overlay {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_yaml::from_str(&text).map_err(|e| Error::spec(path, "", format!("bad overlay: {e}")))
    }

    pub fn apply(&self, doc: &mut Value, overlay_file: &Path) -> Result<(), Error> {
        for (i, action) in self.actions.iter().enumerate() {
            let here = format!("/actions/{i}");
            if action.why.trim().is_empty() {
                return Err(Error::spec(overlay_file, &here, "an action must say why"));
            }
            let missing = || {
                Error::spec(
                    overlay_file,
                    &here,
                    format!("target {} does not exist", action.target),
                )
            };
            if action.remove {
                let (parent, key) = split_pointer(&action.target);
                let parent = doc.pointer_mut(&parent).ok_or_else(missing)?;
                let removed = match parent {
                    Value::Object(map) => map.shift_remove(&key).is_some(),
                    _ => false,
                };
                if !removed {
                    return Err(missing());
                }
                continue;
            }
            let target = doc.pointer_mut(&action.target).ok_or_else(missing)?;
            if let Some(value) = &action.set {
                *target = value.clone();
            }
            if let Some(merge) = &action.merge {
                let Value::Object(map) = target else {
                    return Err(Error::spec(
                        overlay_file,
                        &here,
                        "merge target is not an object",
                    ));
                };
                for (k, v) in merge {
                    map.insert(k.clone(), v.clone());
                }
            }
            if !action.unrequire.is_empty() {
                let Some(Value::Array(required)) = target.get_mut("required") else {
                    return Err(Error::spec(
                        overlay_file,
                        &here,
                        "unrequire target has no required list",
                    ));
                };
                let before = required.len();
                required.retain(|r| !action.unrequire.iter().any(|u| r == u));
                if required.len() + action.unrequire.len() != before {
                    return Err(Error::spec(
                        overlay_file,
                        &here,
                        "unrequire names a field that is not required",
                    ));
                }
                if required.is_empty()
                    && let Value::Object(map) = target
                {
                    map.shift_remove("required");
                }
            }
        }
        Ok(())
    }
}

fn split_pointer(pointer: &str) -> (String, String) {
    match pointer.rsplit_once('/') {
        Some((parent, key)) => (
            parent.to_string(),
            key.replace("~1", "/").replace("~0", "~"),
        ),
        None => (String::new(), pointer.to_string()),
    }
}

/// Escapes one JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
