//! Broken examples are refused with the right OFB code at the right JSON pointer.
//!
//! Each object example of every implemented document is mutated, one constraint at a time, by
//! walking it beside its schema (read from the document itself, not from the generator): a
//! required field removed, a pattern broken, an enum value misspelled, a string made longer
//! than its `maxLength`. The generated model must refuse every mutant with
//! `PARAMETRO_NAO_INFORMADO` (missing) or `PARAMETRO_INVALIDO` (malformed) at the pointer of
//! the field it broke.

use aberta_conformance::{generated_documents, shown_values};
use aberta_runtime::ErrorCode;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mutation {
    RemoveRequired,
    BreakPattern,
    MisspellEnum,
    OverMaxLength,
}

struct Mutant {
    mutation: Mutation,
    pointer: String,
    value: Value,
}

#[test]
fn mutated_examples_fail_with_code_and_pointer() {
    let mut counts = std::collections::BTreeMap::new();
    let mut wrong = Vec::new();
    for (api, doc) in generated_documents() {
        for shown in shown_values(&doc.value) {
            // Every example a whole model is defined for: bodies and object schemas alike.
            let whole = serde_json::to_vec(&shown.value).unwrap();
            if !shown.value.is_object()
                || !matches!((api.parse_at)(&shown.schema, &whole), Some(Ok(())))
            {
                continue;
            }
            let Some(schema) = doc.value.pointer(&shown.schema) else {
                continue;
            };
            let mut mutants = Vec::new();
            mutate(
                &doc.value,
                schema,
                &shown.value,
                "",
                &mut |m| mutants.push(m),
                &shown.value,
            );
            for mutant in mutants {
                *counts.entry(mutant.mutation).or_insert(0usize) += 1;
                let json = serde_json::to_vec(&mutant.value).unwrap();
                let expected = match mutant.mutation {
                    Mutation::RemoveRequired => ErrorCode::ParametroNaoInformado,
                    _ => ErrorCode::ParametroInvalido,
                };
                let here = format!(
                    "{} {} #{} {:?} at {}",
                    api.name, api.version, shown.at, mutant.mutation, mutant.pointer
                );
                match (api.parse_at)(&shown.schema, &json) {
                    Some(Err(violations)) => {
                        let first = &violations.0[0];
                        if first.pointer != mutant.pointer || first.code != expected {
                            wrong.push(format!("{here}: got {violations}"));
                        }
                    }
                    Some(Ok(())) => wrong.push(format!("{here}: accepted")),
                    None => wrong.push(format!("{here}: no model")),
                }
            }
        }
    }
    println!("mutants per kind: {counts:?}");
    for mutation in [
        Mutation::RemoveRequired,
        Mutation::BreakPattern,
        Mutation::MisspellEnum,
        Mutation::OverMaxLength,
    ] {
        assert!(
            counts.get(&mutation).copied().unwrap_or(0) > 20,
            "too few {mutation:?} mutants: {counts:?}"
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {:?} mutants were not refused as expected:\n{}",
        wrong.len(),
        counts,
        wrong.join("\n")
    );
}

/// Calls `emit` with every single-constraint mutant of `value` (which sits at `pointer` in the
/// example `root`) according to `schema`.
fn mutate(
    doc: &Value,
    schema: &Value,
    value: &Value,
    pointer: &str,
    emit: &mut dyn FnMut(Mutant),
    root: &Value,
) {
    let Some(schema) = flatten(doc, schema) else {
        return;
    };
    match value {
        Value::Object(obj) => {
            let properties = schema
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (key, child) in obj {
                let here = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                if required.contains(&key.as_str()) {
                    emit(Mutant {
                        mutation: Mutation::RemoveRequired,
                        pointer: here.clone(),
                        value: without(root, &here),
                    });
                }
                if let Some(child_schema) = properties.get(key) {
                    mutate(doc, child_schema, child, &here, emit, root);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    mutate(
                        doc,
                        item_schema,
                        item,
                        &format!("{pointer}/{i}"),
                        emit,
                        root,
                    );
                }
            }
        }
        Value::String(text) => string_mutants(&schema, text, pointer, emit, root),
        _ => {}
    }
}

fn string_mutants(
    schema: &Map<String, Value>,
    text: &str,
    pointer: &str,
    emit: &mut dyn FnMut(Mutant),
    root: &Value,
) {
    let max_length = schema.get("maxLength").and_then(Value::as_u64);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let misspelled = format!("{text}X");
        if !values
            .iter()
            .any(|v| v == &Value::String(misspelled.clone()))
        {
            emit(Mutant {
                mutation: Mutation::MisspellEnum,
                pointer: pointer.into(),
                value: replaced(root, pointer, misspelled),
            });
        }
        return;
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let re = regress::Regex::new(pattern).expect("the generator compiled every pattern");
        let candidates = ["", " ", "\u{7f}", "@@@@", "x", "0", " x "];
        let fits = |c: &str| max_length.is_none_or(|m| c.chars().count() as u64 <= m);
        if let Some(broken) = candidates
            .into_iter()
            .find(|c| fits(c) && re.find(c).is_none())
        {
            emit(Mutant {
                mutation: Mutation::BreakPattern,
                pointer: pointer.into(),
                value: replaced(root, pointer, broken.to_string()),
            });
        }
    }
    if let Some(max) = max_length {
        let long = "1".repeat(max as usize + 1);
        emit(Mutant {
            mutation: Mutation::OverMaxLength,
            pointer: pointer.into(),
            value: replaced(root, pointer, long),
        });
    }
}

/// The schema with references followed and `allOf` merged; `None` for `oneOf`/`anyOf`,
/// where which branch a mutant falls into is not one answer.
fn flatten(doc: &Value, schema: &Value) -> Option<Map<String, Value>> {
    let schema = aberta_conformance::resolve(doc, schema)
        .as_object()?
        .clone();
    if schema.contains_key("oneOf") || schema.contains_key("anyOf") {
        return None;
    }
    let Some(parts) = schema.get("allOf").and_then(Value::as_array).cloned() else {
        return Some(schema);
    };
    let mut merged = schema.clone();
    merged.remove("allOf");
    for part in parts {
        let part = flatten(doc, &part)?;
        for key in ["properties"] {
            if let Some(Value::Object(props)) = part.get(key) {
                let target = merged
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(target) = target {
                    target.extend(props.clone());
                }
            }
        }
        if let Some(Value::Array(req)) = part.get("required") {
            let target = merged
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(target) = target {
                target.extend(req.clone());
            }
        }
        if !merged.contains_key("type")
            && let Some(t) = part.get("type")
        {
            merged.insert("type".into(), t.clone());
        }
    }
    Some(merged)
}

fn without(root: &Value, pointer: &str) -> Value {
    let mut copy = root.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a field pointer");
    let key = key.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(map)) = copy.pointer_mut(parent) {
        map.shift_remove(&key);
    }
    copy
}

fn replaced(root: &Value, pointer: &str, text: String) -> Value {
    let mut copy = root.clone();
    if let Some(slot) = copy.pointer_mut(pointer) {
        *slot = Value::String(text);
    }
    copy
}
