//! Lowering: an overlaid OpenAPI document to the [`ir`](crate::ir).
//!
//! Every construct the official documents use is handled; anything else stops the run with the
//! file and JSON pointer of the construct, so `generated/` is never written from a document the
//! generator does not understand.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::{Map, Value};

use crate::Error;
use crate::config::{ApiConfig, Config};
use crate::ir::*;
use crate::load::{Document, escape};
use crate::manifest::SpecEntry;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub fn lower(doc: &Document, entry: &SpecEntry, config: &Config) -> Result<Api, Error> {
    let api_config = config.api(&entry.api);
    let mut lowerer = Lowerer {
        doc,
        config,
        api_config: &api_config,
        types: Vec::new(),
        used_idents: BTreeSet::new(),
        components: BTreeMap::new(),
        patterns: Vec::new(),
        pattern_index: HashMap::new(),
        params: Vec::new(),
        param_index: HashMap::new(),
        inline: HashMap::new(),
    };
    lowerer.name_components()?;
    lowerer.lower_components()?;
    let operations = lowerer.lower_operations()?;
    let base_path = lowerer.base_path()?;
    Ok(Api {
        name: entry.api.clone(),
        version: entry.version.clone(),
        major: entry.major(),
        package: format!("ofb-{}-v{}", entry.api, entry.major()),
        base_path,
        stem: entry.api.to_upper_camel_case(),
        types: lowerer.types,
        params: lowerer.params,
        operations,
        patterns: lowerer.patterns,
    })
}

struct Lowerer<'a> {
    doc: &'a Document,
    config: &'a Config,
    api_config: &'a ApiConfig,
    types: Vec<TypeDef>,
    used_idents: BTreeSet<String>,
    /// Component schema name -> Rust identifier.
    components: BTreeMap<String, String>,
    patterns: Vec<String>,
    pattern_index: HashMap<String, usize>,
    params: Vec<ParamDef>,
    param_index: HashMap<String, String>,
    /// Inline schemas already given a type, by pointer: a shared response or request body is
    /// lowered once however many operations use it.
    inline: HashMap<String, Ty>,
}

impl Lowerer<'_> {
    fn err(&self, pointer: &str, reason: impl Into<String>) -> Error {
        Error::spec(&self.doc.file, pointer, reason)
    }

    fn component_schemas(&self) -> Vec<(String, Value)> {
        self.doc
            .value
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Rust identifiers for every component, fixed before any is lowered so references resolve.
    fn name_components(&mut self) -> Result<(), Error> {
        for (name, _) in self.component_schemas() {
            let ident = self.fresh_ident(&name);
            self.components.insert(name, ident);
        }
        Ok(())
    }

    fn lower_components(&mut self) -> Result<(), Error> {
        for (name, schema) in self.component_schemas() {
            let pointer = format!("/components/schemas/{}", escape(&name));
            let ident = self.components[&name].clone();
            if let Some(path) = self.shared_schema(&schema) {
                let fields = match self.kind_of(&schema, &pointer, &ident)? {
                    Kind::Struct { fields, .. } => fields,
                    _ => Vec::new(),
                };
                self.types.push(TypeDef {
                    ident,
                    schema_name: name,
                    pointer,
                    kind: Kind::Alias { path, fields },
                });
                continue;
            }
            self.define(&schema, &pointer, ident, name)?;
        }
        Ok(())
    }

    /// A fresh, unique Rust type identifier derived from `raw`.
    fn fresh_ident(&mut self, raw: &str) -> String {
        let mut base = raw.to_upper_camel_case();
        base.retain(|c| c.is_ascii_alphanumeric() || c == '_');
        if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
            base = format!("T{base}");
        }
        if matches!(
            base.as_str(),
            "Self" | "Option" | "Vec" | "String" | "Box" | "Result"
        ) {
            base.push_str("Model");
        }
        let mut ident = base.clone();
        let mut n = 2;
        while !self.used_idents.insert(ident.clone()) {
            ident = format!("{base}{n}");
            n += 1;
        }
        ident
    }

    /// Defines a named type for `schema` (a component or an inline object/enum).
    fn define(
        &mut self,
        schema: &Value,
        pointer: &str,
        ident: String,
        schema_name: String,
    ) -> Result<(), Error> {
        let kind = self.kind_of(schema, pointer, &ident)?;
        self.types.push(TypeDef {
            ident,
            schema_name,
            pointer: pointer.to_string(),
            kind,
        });
        Ok(())
    }

    fn kind_of(&mut self, schema: &Value, pointer: &str, ident: &str) -> Result<Kind, Error> {
        let obj = schema
            .as_object()
            .ok_or_else(|| self.err(pointer, "schema is not an object"))?;
        if let Some(variants) = obj.get("oneOf").or_else(|| obj.get("anyOf")) {
            return self.one_of(obj, variants, pointer, ident);
        }
        if obj.contains_key("allOf") {
            return self.all_of(obj, pointer, ident);
        }
        if is_string_enum(obj) {
            return self.string_enum(obj, pointer);
        }
        if is_object_with_properties(obj) {
            let mut properties = Map::new();
            let mut required = Vec::new();
            collect_object(obj, &mut properties, &mut required);
            return self.structure(&properties, &required, obj, pointer, ident);
        }
        let (ty, checks) = self.lower_schema(schema, pointer, &format!("{ident}Item"))?;
        Ok(Kind::Newtype {
            ty,
            checks: Box::new(checks),
        })
    }

    fn one_of(
        &mut self,
        obj: &Map<String, Value>,
        variants: &Value,
        pointer: &str,
        ident: &str,
    ) -> Result<Kind, Error> {
        let key = if obj.contains_key("oneOf") {
            "oneOf"
        } else {
            "anyOf"
        };
        let list = variants
            .as_array()
            .ok_or_else(|| self.err(pointer, format!("{key} is not a list")))?;
        // Sibling properties next to oneOf belong to every variant.
        let mut base = obj.clone();
        base.remove(key);
        let has_base = base.contains_key("properties");
        let mut out = Vec::new();
        for (i, variant) in list.iter().enumerate() {
            let here = format!("{pointer}/{key}/{i}");
            let variant = if has_base {
                serde_json::json!({ "allOf": [Value::Object(base.clone()), variant] })
            } else {
                variant.clone()
            };
            let (ty, _) =
                self.lower_schema(&variant, &here, &format!("{ident}Variant{}", i + 1))?;
            out.push(ty);
        }
        Ok(Kind::OneOf { variants: out })
    }

    fn all_of(
        &mut self,
        obj: &Map<String, Value>,
        pointer: &str,
        ident: &str,
    ) -> Result<Kind, Error> {
        let mut properties = Map::new();
        let mut required = Vec::new();
        self.flatten_all_of(obj, pointer, &mut properties, &mut required, 0)?;
        self.structure(&properties, &required, obj, pointer, ident)
    }

    /// Merges the properties and required lists of an `allOf`, following references and
    /// nested `allOf`s.
    fn flatten_all_of(
        &self,
        obj: &Map<String, Value>,
        pointer: &str,
        properties: &mut Map<String, Value>,
        required: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), Error> {
        if depth > 8 {
            return Err(self.err(pointer, "allOf nests too deep"));
        }
        collect_object(obj, properties, required);
        let Some(parts) = obj.get("allOf") else {
            return Ok(());
        };
        let parts = parts
            .as_array()
            .ok_or_else(|| self.err(pointer, "allOf is not a list"))?;
        for (i, part) in parts.iter().enumerate() {
            let here = format!("{pointer}/allOf/{i}");
            let resolved = self.resolve_schema(part, &here)?;
            let part_obj = resolved
                .as_object()
                .ok_or_else(|| self.err(&here, "allOf part is not an object"))?;
            if part_obj.contains_key("oneOf") || part_obj.contains_key("anyOf") {
                return Err(self.err(&here, "oneOf inside allOf is not supported"));
            }
            self.flatten_all_of(part_obj, &here, properties, required, depth + 1)?;
        }
        Ok(())
    }

    fn string_enum(&mut self, obj: &Map<String, Value>, pointer: &str) -> Result<Kind, Error> {
        let mut used = BTreeSet::new();
        let mut variants = Vec::new();
        for value in obj["enum"].as_array().into_iter().flatten() {
            let Some(text) = value.as_str() else {
                return Err(self.err(pointer, "enum mixes strings and other values"));
            };
            let mut base = text.to_upper_camel_case();
            base.retain(|c| c.is_ascii_alphanumeric());
            if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
                base = format!("V{base}");
            }
            if base == "Self" {
                base = "SelfValue".into();
            }
            let mut variant = base.clone();
            let mut n = 2;
            while !used.insert(variant.clone()) {
                variant = format!("{base}{n}");
                n += 1;
            }
            variants.push((text.to_string(), variant));
        }
        Ok(Kind::Enum { variants })
    }

    fn structure(
        &mut self,
        properties: &Map<String, Value>,
        required: &[String],
        obj: &Map<String, Value>,
        pointer: &str,
        ident: &str,
    ) -> Result<Kind, Error> {
        for name in required {
            if !properties.contains_key(name) {
                return Err(self.err(
                    pointer,
                    format!("`{name}` is required but is not among the properties (fix it in an overlay)"),
                ));
            }
        }
        let mut used = BTreeSet::new();
        let mut fields = Vec::new();
        for (json, schema) in properties {
            let here = format!("{pointer}/properties/{}", escape(json));
            let (ty, checks) = self.lower_schema(
                schema,
                &here,
                &format!("{ident}{}", json.to_upper_camel_case()),
            )?;
            let mut base = field_ident(json);
            if base.is_empty() {
                base = "field".into();
            }
            let mut field = base.clone();
            let mut n = 2;
            while !used.insert(field.clone()) {
                field = format!("{base}_{n}");
                n += 1;
            }
            let nullable = self.nullable(schema, &here);
            fields.push(Field {
                json: json.clone(),
                ident: field,
                ty,
                required: required.contains(json),
                nullable,
                checks,
            });
        }
        let deny_unknown = obj.get("additionalProperties") == Some(&Value::Bool(false));
        Ok(Kind::Struct {
            fields,
            deny_unknown,
        })
    }

    /// Whether a property admits `null` (OpenAPI 3.0 `nullable: true`, on the property or on
    /// the schema it references).
    fn nullable(&self, schema: &Value, pointer: &str) -> bool {
        let flag = |v: &Value| v.get("nullable") == Some(&Value::Bool(true));
        flag(schema)
            || self
                .resolve_schema(schema, pointer)
                .is_ok_and(|resolved| flag(&resolved))
    }

    /// Follows `$ref`s inside the document (schemas, parameters, responses, bodies, headers).
    fn resolve_schema(&self, schema: &Value, pointer: &str) -> Result<Value, Error> {
        let mut current = schema.clone();
        for _ in 0..16 {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
                return Ok(current);
            };
            let target = reference
                .strip_prefix('#')
                .ok_or_else(|| self.err(pointer, format!("external reference {reference}")))?;
            current = self.doc.at(target)?.clone();
        }
        Err(self.err(pointer, "reference cycle"))
    }

    /// The Rust type and constraints of a schema in field position.
    fn lower_schema(
        &mut self,
        schema: &Value,
        pointer: &str,
        hint: &str,
    ) -> Result<(Ty, Checks), Error> {
        let obj = schema
            .as_object()
            .ok_or_else(|| self.err(pointer, "schema is not an object"))?;
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .ok_or_else(|| self.err(pointer, format!("unsupported reference {reference}")))?;
            let name = name.replace("~1", "/").replace("~0", "~");
            let ident = self
                .components
                .get(&name)
                .ok_or_else(|| self.err(pointer, format!("dangling reference {reference}")))?;
            return Ok((Ty::Named(ident.clone()), Checks::default()));
        }
        let composite =
            obj.contains_key("oneOf") || obj.contains_key("anyOf") || obj.contains_key("allOf");
        if composite || is_string_enum(obj) || is_object_with_properties(obj) {
            if let Some(ty) = self.inline.get(pointer) {
                return Ok((ty.clone(), Checks::default()));
            }
            let ident = self.fresh_ident(hint);
            self.inline
                .insert(pointer.to_string(), Ty::Named(ident.clone()));
            self.define(schema, pointer, ident.clone(), ident.clone())?;
            return Ok((Ty::Named(ident), Checks::default()));
        }
        let mut checks = self.checks(obj, pointer)?;
        let ty = match json_type(obj).as_deref() {
            Some("string") => self.shared_string(&checks).unwrap_or(Ty::String),
            Some("integer") => match obj.get("format").and_then(Value::as_str) {
                Some(f) if f.starts_with("int32") => Ty::I32,
                _ => Ty::I64,
            },
            Some("number") => Ty::F64,
            Some("boolean") => Ty::Bool,
            Some("array") => {
                let items = obj
                    .get("items")
                    .ok_or_else(|| self.err(pointer, "array without items"))?;
                let (item_ty, item_checks) =
                    self.lower_schema(items, &format!("{pointer}/items"), hint)?;
                if item_checks != Checks::default() {
                    checks.items = Some(Box::new(item_checks));
                }
                Ty::Vec(Box::new(item_ty))
            }
            Some("object") => Ty::Map,
            None => Ty::Value,
            Some(other) => return Err(self.err(pointer, format!("unsupported type {other}"))),
        };
        Ok((ty, checks))
    }

    fn checks(&mut self, obj: &Map<String, Value>, pointer: &str) -> Result<Checks, Error> {
        let num = |key: &str| obj.get(key).and_then(Value::as_f64);
        let int = |key: &str| obj.get(key).and_then(Value::as_u64);
        let flag = |key: &str| obj.get(key).and_then(Value::as_bool).unwrap_or(false);
        let mut checks = Checks {
            json_type: json_type(obj),
            format: obj
                .get("format")
                .and_then(Value::as_str)
                .map(|f| f.trim_matches('\u{200b}').to_string()),
            min_length: int("minLength"),
            max_length: int("maxLength"),
            minimum: num("minimum").map(|m| (m, flag("exclusiveMinimum"))),
            maximum: num("maximum").map(|m| (m, flag("exclusiveMaximum"))),
            min_items: int("minItems"),
            max_items: int("maxItems"),
            unique_items: flag("uniqueItems"),
            ..Checks::default()
        };
        if let Some(pattern) = obj.get("pattern") {
            let source = pattern
                .as_str()
                .ok_or_else(|| self.err(pointer, "pattern is not a string"))?;
            let compiled = regress::Regex::new(source).map_err(|e| {
                self.err(
                    &format!("{pointer}/pattern"),
                    format!("pattern does not compile as ECMA-262: {e}"),
                )
            })?;
            checks.pattern_source = Some(source.to_string());
            // An unanchored pattern that matches the empty string matches every string.
            let total = !source.starts_with('^') && compiled.find("").is_some();
            if !total {
                checks.pattern = Some(self.pattern_id(source));
            }
        }
        if json_type(obj).as_deref() == Some("string")
            && let Some(values) = obj.get("enum").and_then(Value::as_array)
        {
            checks.enum_values = values
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
        }
        Ok(checks)
    }

    fn pattern_id(&mut self, source: &str) -> usize {
        if let Some(id) = self.pattern_index.get(source) {
            return *id;
        }
        let id = self.patterns.len();
        self.patterns.push(source.to_string());
        self.pattern_index.insert(source.to_string(), id);
        id
    }

    /// A string whose exact pattern names a shared newtype; its pattern is then the newtype's.
    fn shared_string(&self, checks: &Checks) -> Option<Ty> {
        let source = checks.pattern_source.as_deref()?;
        self.config
            .shared_strings
            .iter()
            .find(|s| s.pattern == source)
            .map(|s| Ty::Shared(s.rust.clone()))
    }

    /// A component whose structure equals a shared shape.
    fn shared_schema(&self, schema: &Value) -> Option<String> {
        let shape = self.normalize(schema, 0);
        self.config
            .shared_schemas
            .iter()
            .find(|s| s.shape == shape)
            .map(|s| s.rust.clone())
    }

    /// The structure of a schema: references inlined; descriptions, examples and extensions
    /// left out.
    fn normalize(&self, schema: &Value, depth: usize) -> Value {
        let Value::Object(obj) = schema else {
            return schema.clone();
        };
        if depth > 8 {
            return Value::Null;
        }
        if let Some(target) = obj
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            return match self.doc.value.pointer(target) {
                Some(resolved) => self.normalize(resolved, depth + 1),
                None => Value::Null,
            };
        }
        let mut out = Map::new();
        for (key, value) in obj {
            if matches!(
                key.as_str(),
                "description" | "example" | "examples" | "title"
            ) || key.starts_with("x-")
            {
                continue;
            }
            let value = match key.as_str() {
                "properties" => Value::Object(
                    value
                        .as_object()
                        .map(|props| {
                            props
                                .iter()
                                .map(|(k, v)| (k.clone(), self.normalize(v, depth + 1)))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                "items" | "additionalProperties" | "not" => self.normalize(value, depth + 1),
                "allOf" | "oneOf" | "anyOf" => Value::Array(
                    value
                        .as_array()
                        .map(|list| list.iter().map(|v| self.normalize(v, depth + 1)).collect())
                        .unwrap_or_default(),
                ),
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        Value::Object(out)
    }

    fn base_path(&self) -> Result<String, Error> {
        if let Some(path) = &self.api_config.base_path {
            return Ok(mount_path(path));
        }
        let url = self
            .doc
            .value
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                self.err(
                    "/servers",
                    "no server URL: set base_path for this API in codegen/config.yml",
                )
            })?;
        let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = without_scheme
            .find('/')
            .map_or("", |i| &without_scheme[i..]);
        Ok(mount_path(path))
    }

    fn lower_operations(&mut self) -> Result<Vec<Operation>, Error> {
        let paths = self
            .doc
            .value
            .get("paths")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| self.err("/paths", "no paths"))?;
        let mut used = BTreeSet::new();
        let mut out = Vec::new();
        for (path, item) in &paths {
            let item_pointer = format!("/paths/{}", escape(path));
            if item.get("$ref").is_some() {
                return Err(self.err(&item_pointer, "path item references are not supported"));
            }
            let shared_params = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let pointer = format!("{item_pointer}/{method}");
                out.push(self.operation(path, method, op, &shared_params, &pointer, &mut used)?);
            }
        }
        Ok(out)
    }

    fn operation(
        &mut self,
        path: &str,
        method: &str,
        op: &Value,
        shared_params: &[Value],
        pointer: &str,
        used: &mut BTreeSet<String>,
    ) -> Result<Operation, Error> {
        let id = match op.get("operationId").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => format!("{method}{}", path.to_upper_camel_case()),
        };
        let mut ident = id.to_snake_case();
        let base = ident.clone();
        let mut n = 2;
        while !used.insert(ident.clone()) {
            ident = format!("{base}_{n}");
            n += 1;
        }
        let type_stem = ident.to_upper_camel_case();
        let signed = op.get("x-aberta-jws") == Some(&Value::Bool(true));

        let mut params = Vec::new();
        let own = op
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (list, base) in [
            (&own, format!("{pointer}/parameters")),
            (
                &shared_params.to_vec(),
                format!(
                    "{}/parameters",
                    pointer.rsplit_once('/').map_or("", |(p, _)| p)
                ),
            ),
        ] {
            for (i, param) in list.iter().enumerate() {
                let here = format!("{base}/{i}");
                let defined_at = match param
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix('#'))
                {
                    Some(target) => target.to_string(),
                    None => here.clone(),
                };
                let param = self.resolve_schema(param, &here)?;
                let name = param
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.err(&here, "parameter without name"))?;
                let location = param.get("in").and_then(Value::as_str).unwrap_or_default();
                if !seen.insert((name.to_string(), location.to_string())) {
                    continue;
                }
                params.push(self.parameter(&param, &here, &defined_at)?);
            }
        }

        let body = match op.get("requestBody") {
            None => None,
            Some(body) => {
                let here = defined_at(body, &format!("{pointer}/requestBody"));
                let body = self.resolve_schema(body, &here)?;
                let required = body
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let (content_type, schema) = self
                    .single_content(&body, &here)?
                    .ok_or_else(|| self.err(&here, "request body without content"))?;
                let is_jwt = content_type == "application/jwt";
                if is_jwt && !signed {
                    return Err(self.err(&here, "application/jwt body on an operation the overlay does not mark x-aberta-jws"));
                }
                let schema_pointer = format!("{here}/content/{}/schema", escape(&content_type));
                let (ty, _) =
                    self.lower_schema(&schema, &schema_pointer, &format!("{type_stem}Body"))?;
                Some(Body {
                    content_type,
                    schema_pointer: schema_pointer.clone(),
                    ty,
                    signed: is_jwt,
                    required,
                })
            }
        };

        let mut responses = Vec::new();
        let listed = op
            .get("responses")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| self.err(pointer, "operation without responses"))?;
        for (status_text, response) in &listed {
            let here = format!("{pointer}/responses/{}", escape(status_text));
            let status = if status_text == "default" {
                None
            } else {
                Some(
                    status_text
                        .parse::<u16>()
                        .map_err(|_| self.err(&here, "unsupported status"))?,
                )
            };
            let here = defined_at(response, &here);
            let response = self.resolve_schema(response, &here)?;
            let headers: Vec<String> = response
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| h.keys().cloned().collect())
                .unwrap_or_default();
            for name in &headers {
                let header_pointer = format!("{here}/headers/{}", escape(name));
                let header = &response["headers"][name.as_str()];
                let header_at = defined_at(header, &header_pointer);
                let header = self.resolve_schema(header, &header_pointer)?;
                if let Some(schema) = header.get("schema") {
                    let schema = self.resolve_schema(schema, &format!("{header_at}/schema"))?;
                    self.param_type(&schema, &format!("{header_at}/schema"), name)?;
                }
            }
            let content = match self.single_content(&response, &here)? {
                None => None,
                Some((content_type, schema)) => {
                    let is_jwt = content_type == "application/jwt";
                    if is_jwt && !signed {
                        return Err(self.err(&here, "application/jwt response on an operation the overlay does not mark x-aberta-jws"));
                    }
                    let schema_pointer = format!("{here}/content/{}/schema", escape(&content_type));
                    let (ty, _) = self.lower_schema(
                        &schema,
                        &schema_pointer,
                        &format!("{type_stem}Response{status_text}"),
                    )?;
                    Some(Content {
                        content_type,
                        schema_pointer: schema_pointer.clone(),
                        ty,
                        signed: is_jwt,
                    })
                }
            };
            responses.push(Response {
                status,
                variant: variant_name(status),
                content,
                headers,
            });
        }
        responses.sort_by_key(|r| r.status.unwrap_or(u16::MAX));

        Ok(Operation {
            connector: self.api_config.serves_by_connector(&id, method),
            id,
            ident,
            type_stem,
            path: path.to_string(),
            method: method.to_string(),
            pointer: pointer.to_string(),
            params,
            body,
            responses,
            secured: self.secured(op),
        })
    }

    /// Whether the operation demands credentials: its own `security`, else the document's,
    /// lists a requirement that is not empty (`{}` makes credentials optional).
    fn secured(&self, op: &Value) -> bool {
        let requirements = op
            .get("security")
            .or_else(|| self.doc.value.get("security"))
            .and_then(Value::as_array);
        requirements.is_some_and(|list| {
            !list.is_empty()
                && list
                    .iter()
                    .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
        })
    }

    /// The one media type of a body; `None` when there is no content.
    fn single_content(
        &self,
        holder: &Value,
        pointer: &str,
    ) -> Result<Option<(String, Value)>, Error> {
        let Some(content) = holder.get("content").and_then(Value::as_object) else {
            return Ok(None);
        };
        if content.len() > 1 {
            return Err(self.err(
                &format!("{pointer}/content"),
                "more than one media type is not supported",
            ));
        }
        let Some((content_type, media)) = content.iter().next() else {
            return Ok(None);
        };
        let supported = [
            "application/json",
            "application/json; charset=utf-8",
            "application/jwt",
        ];
        if !supported.contains(&content_type.as_str()) {
            return Err(self.err(
                &format!("{pointer}/content/{}", escape(content_type)),
                "unsupported media type",
            ));
        }
        let schema = media
            .get("schema")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        Ok(Some((content_type.clone(), schema)))
    }

    fn parameter(
        &mut self,
        param: &Value,
        pointer: &str,
        defined_at: &str,
    ) -> Result<OpParam, Error> {
        let name = param["name"].as_str().unwrap_or_default().to_string();
        let location = match param.get("in").and_then(Value::as_str) {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            other => {
                return Err(self.err(pointer, format!("unsupported parameter location {other:?}")));
            }
        };
        let required = location == Location::Path
            || param
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let schema = param
            .get("schema")
            .ok_or_else(|| self.err(pointer, "parameter without schema"))?;
        let schema = self.resolve_schema(schema, &format!("{pointer}/schema"))?;
        let ty = self.param_type(&schema, &format!("{defined_at}/schema"), &name)?;
        Ok(OpParam {
            ident: field_ident(&name),
            name,
            location,
            required,
            ty,
        })
    }

    /// The parameter type for a parameter or header schema, shared by every parameter with the
    /// same schema; `schema_pointer` is recorded for the spec index.
    fn param_type(
        &mut self,
        schema: &Value,
        schema_pointer: &str,
        name: &str,
    ) -> Result<String, Error> {
        let obj = schema
            .as_object()
            .ok_or_else(|| self.err(schema_pointer, "schema is not an object"))?;
        let checks = self.checks(obj, schema_pointer)?;
        let raw = match json_type(obj).as_deref() {
            Some("string") | None => Ty::String,
            Some("integer") => match obj.get("format").and_then(Value::as_str) {
                Some(f) if f.starts_with("int32") => Ty::I32,
                _ => Ty::I64,
            },
            Some("number") => Ty::F64,
            Some("boolean") => Ty::Bool,
            Some(other) => {
                return Err(self.err(
                    schema_pointer,
                    format!("unsupported parameter type {other}"),
                ));
            }
        };
        // One type per parameter name and schema: `widgetId` never borrows the type of
        // `x-fapi-interaction-id` because their constraints happen to agree.
        let key = format!("{}{raw:?}{checks:?}", name.to_lowercase());
        let schema_pointer = schema_pointer.to_string();
        let ty = match self.param_index.get(&key) {
            Some(ident) => {
                if let Some(def) = self.params.iter_mut().find(|p| &p.ident == ident)
                    && !def.pointers.contains(&schema_pointer)
                {
                    def.pointers.push(schema_pointer);
                }
                ident.clone()
            }
            None => {
                let mut base = name.to_upper_camel_case();
                base.retain(|c| c.is_ascii_alphanumeric());
                let mut ident = base.clone();
                let mut n = 2;
                while self.params.iter().any(|p| p.ident == ident) {
                    ident = format!("{base}{n}");
                    n += 1;
                }
                self.params.push(ParamDef {
                    ident: ident.clone(),
                    raw,
                    checks,
                    pointers: vec![schema_pointer],
                });
                self.param_index.insert(key, ident.clone());
                ident
            }
        };
        Ok(ty)
    }
}

/// Where a value is defined: the target of its `$ref`, or where it stands.
fn defined_at(value: &Value, here: &str) -> String {
    match value
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(target) => target.to_string(),
        None => here.to_string(),
    }
}

/// A base path without a trailing slash; the root is `/`.
fn mount_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

fn json_type(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("type").and_then(Value::as_str) {
        Some(t) => Some(t.to_string()),
        None if obj.contains_key("properties") => Some("object".into()),
        None if obj.contains_key("items") => Some("array".into()),
        None => None,
    }
}

fn is_string_enum(obj: &Map<String, Value>) -> bool {
    let strings = obj
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| !values.is_empty() && values.iter().all(Value::is_string));
    strings && matches!(json_type(obj).as_deref(), Some("string") | None)
}

fn is_object_with_properties(obj: &Map<String, Value>) -> bool {
    json_type(obj).as_deref() == Some("object")
        && obj
            .get("properties")
            .is_some_and(|p| p.as_object().is_some_and(|m| !m.is_empty()))
}

fn collect_object(
    obj: &Map<String, Value>,
    properties: &mut Map<String, Value>,
    required: &mut Vec<String>,
) {
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            properties.insert(k.clone(), v.clone());
        }
    }
    for name in obj
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = name.as_str()
            && !required.iter().any(|r| r == name)
        {
            required.push(name.to_string());
        }
    }
}

/// A snake-case Rust field identifier for a JSON name.
pub fn field_ident(json: &str) -> String {
    let mut ident: String = json
        .to_snake_case()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident = format!("f_{ident}");
    }
    if is_keyword(&ident) {
        ident.push('_');
    }
    ident
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "break"
            | "const"
            | "continue"
            | "crate"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "async"
            | "await"
            | "dyn"
            | "abstract"
            | "become"
            | "box"
            | "do"
            | "final"
            | "macro"
            | "override"
            | "priv"
            | "typeof"
            | "unsized"
            | "virtual"
            | "yield"
            | "try"
            | "gen"
    )
}

fn variant_name(status: Option<u16>) -> String {
    let Some(status) = status else {
        return "Default".into();
    };
    match status {
        200 => "Ok",
        201 => "Created",
        202 => "Accepted",
        204 => "NoContent",
        207 => "MultiStatus",
        301 => "MovedPermanently",
        302 => "Found",
        303 => "SeeOther",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        422 => "UnprocessableEntity",
        423 => "Locked",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        529 => "SiteIsOverloaded",
        other => return format!("Status{other}"),
    }
    .to_string()
}
