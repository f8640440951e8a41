//! A compact validator of JSON values against the OpenAPI 3.0 schemas of one document:
//! `$ref`, `type` (integer apart from number), `nullable`, `required`, `properties`,
//! `additionalProperties` (only where set), `enum`, `pattern` (ECMA, via `regress`),
//! lengths, bounds, item counts, `items`, `uniqueItems`, `allOf`/`oneOf`/`anyOf`, and the
//! formats `date`, `date-time`, `uri`, `int32` and `int64`. Every violation comes back with
//! the JSON pointer of the value that breaks it.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{Map, Value};

/// One broken rule: where in the value, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pointer: String,
    pub rule: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.rule)
    }
}

/// Validates against the schemas of `root` (a whole OpenAPI document, for `$ref`s).
pub struct Validator<'a> {
    root: &'a Value,
    patterns: RefCell<HashMap<String, Option<regress::Regex>>>,
}

/// Deeper than any official schema nests; a guard against reference cycles.
const MAX_DEPTH: usize = 64;

impl<'a> Validator<'a> {
    pub fn new(root: &'a Value) -> Self {
        Self {
            root,
            patterns: RefCell::new(HashMap::new()),
        }
    }

    /// Every violation of `value` against `schema`.
    pub fn validate(&self, schema: &Value, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.check(schema, value, "", &mut out, 0);
        out
    }

    /// The schema `$ref`s lead to (references inside the document only).
    pub fn resolve(&self, schema: &'a Value) -> Result<&'a Value, String> {
        let mut current = schema;
        for _ in 0..MAX_DEPTH {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return Ok(current);
            };
            let pointer = reference
                .strip_prefix('#')
                .ok_or_else(|| format!("$ref {reference} outside the document"))?;
            current = self
                .root
                .pointer(pointer)
                .ok_or_else(|| format!("$ref {reference} dangles"))?;
        }
        Err("$ref chain too long".into())
    }

    fn check(
        &self,
        schema: &Value,
        value: &Value,
        pointer: &str,
        out: &mut Vec<Violation>,
        depth: usize,
    ) {
        let at = |rule: String| Violation {
            pointer: pointer.to_string(),
            rule,
        };
        if depth > MAX_DEPTH {
            out.push(at("schema nests too deep (a reference cycle?)".into()));
            return;
        }
        // Sibling keywords of a `$ref` are ignored in OpenAPI 3.0.
        let schema = match schema.get("$ref") {
            Some(_) => match self.resolve_any(schema) {
                Ok(s) => s,
                Err(e) => {
                    out.push(at(e));
                    return;
                }
            },
            None => schema,
        };
        let Some(s) = schema.as_object() else {
            // `true`/`{}`-like schemas accept anything.
            return;
        };
        if value.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(ty) = s.get("type").and_then(Value::as_str)
            && !type_matches(ty, value)
        {
            out.push(at(format!("type: {} where {ty} is required", kind(value))));
            // The other keywords say nothing useful about a value of the wrong type.
            return;
        }
        if let Some(Value::Array(allowed)) = s.get("enum")
            && !allowed.iter().any(|a| same(a, value))
        {
            out.push(at(format!(
                "enum: {value} is not one of {}",
                short(allowed)
            )));
        }
        match value {
            Value::String(text) => self.check_string(s, text, &mut |r| out.push(at(r))),
            Value::Number(_) => check_number(s, value, &mut |r| out.push(at(r))),
            Value::Array(items) => {
                let n = items.len() as u64;
                if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                    && n < min
                {
                    out.push(at(format!("minItems {min}: {n} items")));
                }
                if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                    && n > max
                {
                    out.push(at(format!("maxItems {max}: {n} items")));
                }
                if s.get("uniqueItems") == Some(&Value::Bool(true)) {
                    for (i, item) in items.iter().enumerate() {
                        if items[..i].iter().any(|earlier| same(earlier, item)) {
                            out.push(at(format!("uniqueItems: item {i} repeats an earlier one")));
                        }
                    }
                }
                if let Some(item_schema) = s.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{pointer}/{i}"), out, depth + 1);
                    }
                }
            }
            Value::Object(map) => self.check_object(s, map, pointer, out, depth),
            _ => {}
        }
        self.check_combinators(s, value, pointer, out, depth);
    }

    fn resolve_any(&self, schema: &Value) -> Result<&'a Value, String> {
        let reference = schema
            .get("$ref")
            .and_then(Value::as_str)
            .ok_or("$ref is not a string")?;
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("$ref {reference} outside the document"))?;
        let target = self
            .root
            .pointer(pointer)
            .ok_or_else(|| format!("$ref {reference} dangles"))?;
        self.resolve(target)
    }

    fn check_string(&self, s: &Map<String, Value>, text: &str, fail: &mut impl FnMut(String)) {
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            fail(format!("minLength {min}: {len} characters"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            fail(format!("maxLength {max}: {len} characters"));
        }
        if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
            match self.matches(pattern, text) {
                Some(true) => {}
                Some(false) => fail(format!("pattern {pattern}: {}", clip(text))),
                None => fail(format!("pattern {pattern} does not compile as ECMA")),
            }
        }
        if let Some(format) = s.get("format").and_then(Value::as_str) {
            let ok = match format {
                "date" => is_date(text),
                "date-time" => is_date_time(text),
                "uri" => is_uri(text),
                _ => true,
            };
            if !ok {
                fail(format!("format {format}: {}", clip(text)));
            }
        }
    }

    fn check_object(
        &self,
        s: &Map<String, Value>,
        map: &Map<String, Value>,
        pointer: &str,
        out: &mut Vec<Violation>,
        depth: usize,
    ) {
        let at = |rule: String| Violation {
            pointer: pointer.to_string(),
            rule,
        };
        if let Some(Value::Array(required)) = s.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    out.push(at(format!("required: {name} is missing")));
                }
            }
        }
        let n = map.len() as u64;
        if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
            && n < min
        {
            out.push(at(format!("minProperties {min}: {n}")));
        }
        if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
            && n > max
        {
            out.push(at(format!("maxProperties {max}: {n}")));
        }
        let properties = s.get("properties").and_then(Value::as_object);
        for (name, child) in map {
            let here = format!("{pointer}/{}", escape(name));
            match properties.and_then(|p| p.get(name)) {
                Some(child_schema) => self.check(child_schema, child, &here, out, depth + 1),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(Violation {
                        pointer: here,
                        rule: "additionalProperties: false, yet present".into(),
                    }),
                    Some(extra @ Value::Object(_)) => {
                        self.check(extra, child, &here, out, depth + 1)
                    }
                    _ => {}
                },
            }
        }
    }

    fn check_combinators(
        &self,
        s: &Map<String, Value>,
        value: &Value,
        pointer: &str,
        out: &mut Vec<Violation>,
        depth: usize,
    ) {
        if let Some(Value::Array(all)) = s.get("allOf") {
            for branch in all {
                self.check(branch, value, pointer, out, depth + 1);
            }
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            let Some(Value::Array(branches)) = s.get(keyword) else {
                continue;
            };
            let results: Vec<Vec<Violation>> = branches
                .iter()
                .map(|branch| {
                    let mut found = Vec::new();
                    self.check(branch, value, pointer, &mut found, depth + 1);
                    found
                })
                .collect();
            let matched = results.iter().filter(|r| r.is_empty()).count();
            let ok = if exactly_one {
                matched == 1
            } else {
                matched >= 1
            };
            if ok {
                continue;
            }
            let mut rule = format!("{keyword}: {matched} of {} branches match", branches.len());
            if matched == 0 {
                // The branch that came nearest says most about what is wrong.
                if let Some((i, nearest)) = results.iter().enumerate().min_by_key(|(_, r)| r.len())
                {
                    let shown: Vec<String> =
                        nearest.iter().take(3).map(|v| v.to_string()).collect();
                    rule.push_str(&format!(" (nearest, branch {i}: {})", shown.join("; ")));
                }
            }
            out.push(Violation {
                pointer: pointer.to_string(),
                rule,
            });
        }
    }

    /// Whether `pattern` matches somewhere in `text` (ECMA `test`); `None` when it does not
    /// compile.
    fn matches(&self, pattern: &str, text: &str) -> Option<bool> {
        let mut cache = self.patterns.borrow_mut();
        let compiled = cache
            .entry(pattern.to_string())
            .or_insert_with(|| regress::Regex::new(pattern).ok());
        compiled.as_ref().map(|re| re.find(text).is_some())
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        // An unknown type name is the document's problem, not the value's.
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON equality with numbers compared by value (1 and 1.0 are the same number).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn check_number(s: &Map<String, Value>, value: &Value, fail: &mut impl FnMut(String)) {
    let Some(x) = value.as_f64() else { return };
    let exclusive = |key: &str| s.get(key) == Some(&Value::Bool(true));
    if let Some(min) = s.get("minimum").and_then(Value::as_f64)
        && (x < min || (exclusive("exclusiveMinimum") && x == min))
    {
        fail(format!("minimum {min}: {value}"));
    }
    if let Some(max) = s.get("maximum").and_then(Value::as_f64)
        && (x > max || (exclusive("exclusiveMaximum") && x == max))
    {
        fail(format!("maximum {max}: {value}"));
    }
    let in_range = match s.get("format").and_then(Value::as_str) {
        Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Some("int64") => {
            value.as_i64().is_some() || value.as_f64().is_some_and(|f| f.abs() < 9.2e18)
        }
        _ => true,
    };
    if !in_range {
        let format = s.get("format").and_then(Value::as_str).unwrap_or_default();
        fail(format!("format {format}: {value} out of range"));
    }
}

/// RFC 3339 `full-date`: four-digit year, a real calendar day.
fn is_date(text: &str) -> bool {
    text.len() == 10
        && text.as_bytes()[4] == b'-'
        && text.as_bytes()[7] == b'-'
        && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// RFC 3339 `date-time`: a full date, `T`, a time, an offset (`Z` or `±hh:mm`).
fn is_date_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() >= 20
        && is_date(&text[..10])
        && matches!(bytes[10], b'T' | b't')
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

/// An absolute URI: a scheme and what follows it, no spaces.
fn is_uri(text: &str) -> bool {
    !text.contains(char::is_whitespace) && reqwest::Url::parse(text).is_ok()
}

fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn clip(text: &str) -> String {
    let shown: String = text.chars().take(60).collect();
    if shown.len() < text.len() {
        format!("{shown:?}…")
    } else {
        format!("{shown:?}")
    }
}

fn short(values: &[Value]) -> String {
    let shown: Vec<String> = values.iter().take(8).map(Value::to_string).collect();
    if values.len() > 8 {
        format!("[{}, …]", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "components": { "schemas": {
                "Amount": { "type": "string", "pattern": "^\\d{1,16}\\.\\d{2}$", "maxLength": 19 },
                "Money": {
                    "type": "object",
                    "required": ["amount", "currency"],
                    "properties": {
                        "amount": { "$ref": "#/components/schemas/Amount" },
                        "currency": { "type": "string", "enum": ["BRL"] },
                    },
                    "additionalProperties": false,
                },
                "Page": {
                    "type": "object",
                    "required": ["data", "meta"],
                    "properties": {
                        "data": { "type": "array", "minItems": 1, "maxItems": 2,
                                  "items": { "$ref": "#/components/schemas/Money" } },
                        "meta": { "type": "object", "properties": {
                            "totalPages": { "type": "integer", "format": "int32", "minimum": 1 },
                            "requestDateTime": { "type": "string", "format": "date-time" },
                            "day": { "type": "string", "format": "date" },
                            "self": { "type": "string", "format": "uri" },
                            "note": { "type": "string", "nullable": true, "minLength": 2 },
                        }},
                    },
                },
                "Either": { "oneOf": [
                    { "type": "object", "required": ["cpf"], "properties": { "cpf": { "type": "string" } } },
                    { "type": "object", "required": ["cnpj"], "properties": { "cnpj": { "type": "string" } } },
                ]},
                "Any": { "anyOf": [ { "type": "integer" }, { "type": "string", "maxLength": 1 } ] },
                "Both": { "allOf": [ { "$ref": "#/components/schemas/Amount" }, { "minLength": 5 } ] },
                "Loop": { "type": "object", "properties": { "next": { "$ref": "#/components/schemas/Loop" } } },
            }}
        })
    }

    fn check(schema: &str, value: Value) -> Vec<Violation> {
        let doc = doc();
        let validator = Validator::new(&doc);
        validator.validate(
            &json!({ "$ref": format!("#/components/schemas/{schema}") }),
            &value,
        )
    }

    fn rules(violations: &[Violation]) -> Vec<String> {
        violations.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_valid_value_passes() {
        let page = json!({
            "data": [{ "amount": "10.00", "currency": "BRL" }],
            "meta": { "totalPages": 1, "requestDateTime": "2024-02-29T10:00:00Z",
                      "day": "2024-02-29", "self": "https://api.banco.com.br/x?page=1",
                      "note": null },
        });
        assert_eq!(check("Page", page), vec![]);
        assert_eq!(check("Either", json!({ "cpf": "1" })), vec![]);
        assert_eq!(check("Any", json!(3)), vec![]);
        assert_eq!(check("Any", json!("x")), vec![]);
        assert_eq!(check("Both", json!("100.00")), vec![]);
        assert_eq!(check("Loop", json!({ "next": { "next": {} } })), vec![]);
    }

    #[test]
    fn every_violation_with_its_pointer() {
        let page = json!({
            "data": [
                { "amount": "10", "currency": "USD", "extra": true },
                { "currency": "BRL" },
                { "amount": 10, "currency": "BRL" },
            ],
            "meta": { "totalPages": 1.5, "requestDateTime": "2024-02-30T10:00:00Z",
                      "day": "2024-2-1", "self": "not a uri", "note": null },
        });
        let found = rules(&check("Page", page));
        let expected = [
            "/data: maxItems 2: 3 items",
            "/data/0/amount: pattern ^\\d{1,16}\\.\\d{2}$: \"10\"",
            "/data/0/currency: enum: \"USD\" is not one of [\"BRL\"]",
            "/data/0/extra: additionalProperties: false, yet present",
            "/data/1: required: amount is missing",
            "/data/2/amount: type: integer where string is required",
            "/meta/totalPages: type: number where integer is required",
            "/meta/requestDateTime: format date-time: \"2024-02-30T10:00:00Z\"",
            "/meta/day: format date: \"2024-2-1\"",
            "/meta/self: format uri: \"not a uri\"",
        ];
        for rule in expected {
            assert!(
                found.contains(&rule.to_string()),
                "{rule} not in {found:#?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }

    #[test]
    fn null_only_where_nullable() {
        let found = rules(&check(
            "Money",
            json!({ "amount": null, "currency": "BRL" }),
        ));
        assert_eq!(found, ["/amount: type: null where string is required"]);
        let found = rules(&check(
            "Page",
            json!({ "data": null, "meta": { "note": "x" } }),
        ));
        assert_eq!(
            found,
            [
                "/data: type: null where array is required",
                "/meta/note: minLength 2: 1 characters"
            ]
        );
    }

    #[test]
    fn combinators() {
        assert_eq!(
            rules(&check("Either", json!({ "cpf": "1", "cnpj": "2" }))),
            ["(root): oneOf: 2 of 2 branches match"]
        );
        let none = rules(&check("Either", json!({})));
        assert_eq!(none.len(), 1);
        assert!(
            none[0].starts_with("(root): oneOf: 0 of 2 branches match"),
            "{none:?}"
        );
        assert_eq!(rules(&check("Any", json!(true))).len(), 1);
        assert_eq!(
            rules(&check("Both", json!("1.00"))),
            ["(root): minLength 5: 4 characters"]
        );
    }

    #[test]
    fn bounds_and_formats() {
        let found = rules(&check(
            "Page",
            json!({ "data": [], "meta": { "totalPages": 0 } }),
        ));
        assert_eq!(
            found,
            [
                "/data: minItems 1: 0 items",
                "/meta/totalPages: minimum 1: 0"
            ]
        );
        let found = rules(&check(
            "Page",
            json!({ "data": [{ "amount": "1.00", "currency": "BRL" }],
                    "meta": { "totalPages": 3_000_000_000u64 } }),
        ));
        assert_eq!(
            found,
            ["/meta/totalPages: format int32: 3000000000 out of range"]
        );
        assert!(is_date_time("2021-05-21T08:30:00.123-03:00"));
        assert!(!is_date_time("2021-05-21 08:30:00Z"));
        assert!(!is_date_time("2021-05-21T08:30:00"));
        assert!(is_date("2024-02-29") && !is_date("2023-02-29"));
    }

    #[test]
    fn a_dangling_reference_is_a_violation() {
        let doc = doc();
        let validator = Validator::new(&doc);
        let found = validator.validate(&json!({ "$ref": "#/components/schemas/Nope" }), &json!(1));
        assert_eq!(found.len(), 1);
        assert!(found[0].rule.contains("dangles"));
    }
}
