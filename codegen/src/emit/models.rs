//! `models.rs` and `patterns.rs` of a generated crate: one Rust type per schema, its
//! constraint checks and its description for the served document.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{doc, ident, rust_path};
use crate::ir::*;

pub fn patterns(api: &Api) -> TokenStream {
    let statics = api.patterns.iter().enumerate().map(|(i, source)| {
        let name = ident(&format!("P{i}"));
        let source = Literal::string(source);
        quote! { pub(crate) static #name: ::aberta_runtime::Pattern = ::aberta_runtime::Pattern::new(#source); }
    });
    quote! { #(#statics)* }
}

pub fn models(api: &Api) -> TokenStream {
    let types = api.types.iter().map(|def| type_def(api, def));
    let index = spec_index(api);
    quote! { #(#types)* #index }
}

/// Lookups from a JSON pointer of the spec to the generated code: the model defined there,
/// and the checks of a property defined there. Conformance tests and tools use them to check
/// any value the spec shows (examples) without knowing Rust names.
fn spec_index(api: &Api) -> TokenStream {
    let named = api
        .types
        .iter()
        .map(|def| (def.pointer.clone(), Ty::Named(def.ident.clone())));
    // Bodies that are not a named model (a top-level array, say) are indexed where they stand.
    let bodies = api.operations.iter().flat_map(|op| {
        let body = op
            .body
            .iter()
            .map(|b| (b.schema_pointer.clone(), b.ty.clone()));
        let responses = op
            .responses
            .iter()
            .filter_map(|r| r.content.as_ref())
            .map(|c| (c.schema_pointer.clone(), c.ty.clone()));
        body.chain(responses)
            .filter(|(_, ty)| !matches!(ty, Ty::Named(_)))
            .collect::<Vec<_>>()
    });
    let mut seen = std::collections::BTreeSet::new();
    let models = named
        .chain(bodies)
        .filter(|(pointer, _)| seen.insert(pointer.clone()))
        .map(|(pointer, ty)| {
            let ty = rust_type(&ty);
            let pointer = Literal::string(&pointer);
            quote! { #pointer => Some(::aberta_runtime::parse_json::<#ty>(json).map(drop)), }
        });
    let properties = api.types.iter().flat_map(|def| {
        let (Kind::Struct { fields, .. } | Kind::Alias { fields, .. }) = &def.kind else {
            return Vec::new();
        };
        let default = Checks::default();
        fields
            .iter()
            .filter(|f| !matches!(f.ty, Ty::Named(_)))
            .flat_map(|f| {
                let pointer = format!(
                    "{}/properties/{}",
                    def.pointer,
                    crate::load::escape(&f.json)
                );
                let mut arms = vec![property_arm(&pointer, &f.ty, &f.checks)];
                if let Ty::Vec(item) = &f.ty
                    && !matches!(**item, Ty::Named(_))
                {
                    let item_checks = f.checks.items.as_deref().unwrap_or(&default);
                    arms.push(property_arm(&format!("{pointer}/items"), item, item_checks));
                }
                arms
            })
            .collect::<Vec<_>>()
    });
    quote! {
        /// Parses `json` as the model the spec defines at `pointer`; `None` when no model is
        /// defined there.
        #[allow(unused_variables)]
        pub fn parse_at(pointer: &str, json: &[u8]) -> Option<Result<(), ::aberta_runtime::Violations>> {
            match pointer {
                #(#models)*
                _ => None,
            }
        }

        /// Checks `json` against the constraints of the property the spec defines at `pointer`;
        /// `None` when that property has no constraint of its own or is a model.
        #[allow(unused_variables)]
        pub fn check_property(pointer: &str, json: &[u8]) -> Option<Result<(), ::aberta_runtime::Violations>> {
            match pointer {
                #(#properties)*
                _ => None,
            }
        }
    }
}

fn type_def(api: &Api, def: &TypeDef) -> TokenStream {
    let name = ident(&def.ident);
    let doc = doc(&api.cite(&def.pointer));
    let schema_name = Literal::string(&def.schema_name);
    let derive = quote! {
        #[derive(Debug, Clone, PartialEq, ::aberta_runtime::reexport::serde::Serialize, ::aberta_runtime::reexport::serde::Deserialize)]
        #[serde(crate = "::aberta_runtime::reexport::serde")]
    };
    match &def.kind {
        Kind::Alias { path, .. } => {
            let path = rust_path(path);
            quote! { #doc pub type #name = #path; }
        }
        Kind::Struct {
            fields,
            deny_unknown,
        } => {
            let deny = deny_unknown.then(|| quote! { #[serde(deny_unknown_fields)] });
            let decls = fields.iter().map(|f| {
                let fname = ident(&f.ident);
                let json = Literal::string(&f.json);
                let ty = rust_type(&f.ty);
                if f.required {
                    quote! { #[serde(rename = #json)] pub #fname: #ty, }
                } else if f.nullable || f.ty == Ty::Value {
                    quote! {
                        #[serde(rename = #json, default, skip_serializing_if = "Option::is_none")]
                        pub #fname: Option<#ty>,
                    }
                } else {
                    // Absent is `None`; an explicit `null` breaks the schema.
                    quote! {
                        #[serde(rename = #json, default, skip_serializing_if = "Option::is_none", deserialize_with = "::aberta_runtime::validate::non_null")]
                        pub #fname: Option<#ty>,
                    }
                }
            });
            let checks = fields.iter().map(field_check);
            let required = fields
                .iter()
                .filter(|f| f.required)
                .map(|f| Literal::string(&f.json));
            let props = fields.iter().map(|f| {
                let json = Literal::string(&f.json);
                let schema = schema_ref(&f.ty, &f.checks);
                quote! { (#json, #schema) }
            });
            quote! {
                #doc
                #derive
                #deny
                pub struct #name { #(#decls)* }

                impl ::aberta_runtime::Validate for #name {
                    #[allow(unused_variables)]
                    fn validate(&self, v: &mut ::aberta_runtime::Validator) { #(#checks)* }
                }

                ::aberta_runtime::openapi_type!(#name, #schema_name, |registry| ::aberta_runtime::schema::MetaSchema {
                    required: vec![#(#required),*],
                    properties: vec![#(#props),*],
                    ..::aberta_runtime::schema::MetaSchema::new("object")
                });
            }
        }
        Kind::Enum { variants } => {
            let decls = variants.iter().map(|(value, variant)| {
                let v = ident(variant);
                let value = Literal::string(value);
                quote! { #[serde(rename = #value)] #v, }
            });
            let arms = variants.iter().map(|(value, variant)| {
                let v = ident(variant);
                let value = Literal::string(value);
                quote! { Self::#v => #value, }
            });
            let items = variants.iter().map(|(value, _)| {
                let value = Literal::string(value);
                quote! { ::aberta_runtime::reexport::serde_json::Value::from(#value) }
            });
            quote! {
                #doc
                #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::aberta_runtime::reexport::serde::Serialize, ::aberta_runtime::reexport::serde::Deserialize)]
                #[serde(crate = "::aberta_runtime::reexport::serde")]
                pub enum #name { #(#decls)* }

                impl #name {
                    /// The value as the spec writes it.
                    pub fn as_str(&self) -> &'static str { match self { #(#arms)* } }
                }

                impl ::aberta_runtime::Validate for #name {
                    fn validate(&self, _: &mut ::aberta_runtime::Validator) {}
                }

                ::aberta_runtime::openapi_type!(#name, #schema_name, |registry| ::aberta_runtime::schema::MetaSchema {
                    enum_items: vec![#(#items),*],
                    ..::aberta_runtime::schema::MetaSchema::new("string")
                });
            }
        }
        Kind::Newtype { ty, checks } => {
            let inner = rust_type(ty);
            let check = value_checks(quote! { value }, ty, checks);
            let check = if check.is_empty() {
                check
            } else {
                quote! { let value = &self.0; #check }
            };
            let body = schema_body(ty, checks);
            quote! {
                #doc
                #derive
                #[serde(transparent)]
                pub struct #name(pub #inner);

                impl ::aberta_runtime::Validate for #name {
                    #[allow(unused_variables)]
                    fn validate(&self, v: &mut ::aberta_runtime::Validator) { #check }
                }

                ::aberta_runtime::openapi_type!(#name, #schema_name, |registry| #body);
            }
        }
        Kind::OneOf { variants } => {
            let names: Vec<_> = (1..=variants.len())
                .map(|i| ident(&format!("Variant{i}")))
                .collect();
            let decls = variants.iter().zip(&names).map(|(ty, v)| {
                let ty = rust_type(ty);
                quote! { #v(#ty), }
            });
            let arms = names.iter().map(
                |v| quote! { Self::#v(inner) => ::aberta_runtime::Validate::validate(inner, v), },
            );
            let refs = variants.iter().map(|ty| schema_ref(ty, &Checks::default()));
            quote! {
                #doc
                #derive
                #[serde(untagged)]
                pub enum #name { #(#decls)* }

                impl ::aberta_runtime::Validate for #name {
                    fn validate(&self, v: &mut ::aberta_runtime::Validator) { match self { #(#arms)* } }
                }

                ::aberta_runtime::openapi_type!(#name, #schema_name, |registry| ::aberta_runtime::schema::MetaSchema {
                    one_of: vec![#(#refs),*],
                    ..::aberta_runtime::schema::MetaSchema::ANY
                });
            }
        }
    }
}

fn property_arm(pointer: &str, ty: &Ty, checks: &Checks) -> TokenStream {
    let pointer = Literal::string(pointer);
    let rust = rust_type(ty);
    let checks = value_checks(quote! { value }, ty, checks);
    let check = if checks.is_empty() {
        quote! { |_, _| {} }
    } else {
        quote! { |value, v| { #checks } }
    };
    quote! { #pointer => Some(::aberta_runtime::validate::check_value::<#rust>(json, #check)), }
}

fn field_check(field: &Field) -> TokenStream {
    let fname = ident(&field.ident);
    let json = Literal::string(&field.json);
    if field.required {
        let inner = value_checks(quote! { value }, &field.ty, &field.checks);
        if inner.is_empty() {
            return inner;
        }
        quote! { v.field(#json, |v| { let value = &self.#fname; #inner }); }
    } else {
        let inner = value_checks(quote! { value }, &field.ty, &field.checks);
        if inner.is_empty() {
            return inner;
        }
        quote! { if let Some(value) = &self.#fname { v.field(#json, |v| { #inner }); } }
    }
}

/// Statements checking `value` (an expression of type `&T`) against `checks`.
pub fn value_checks(value: TokenStream, ty: &Ty, checks: &Checks) -> TokenStream {
    let mut out = TokenStream::new();
    match ty {
        Ty::Named(_) => out.extend(quote! { ::aberta_runtime::Validate::validate(#value, v); }),
        Ty::Shared(_) => {
            out.extend(quote! { ::aberta_runtime::Validate::validate(#value, v); });
            out.extend(string_checks(quote! { #value.as_str() }, checks, false));
        }
        Ty::String => out.extend(string_checks(value, checks, true)),
        Ty::I32 | Ty::I64 | Ty::F64 => {
            if let Some((min, exclusive)) = checks.minimum {
                let min = Literal::f64_suffixed(min);
                out.extend(quote! { v.minimum(*#value as f64, #min, #exclusive); });
            }
            if let Some((max, exclusive)) = checks.maximum {
                let max = Literal::f64_suffixed(max);
                out.extend(quote! { v.maximum(*#value as f64, #max, #exclusive); });
            }
        }
        Ty::Vec(inner) => {
            if let Some(min) = checks.min_items {
                let min = Literal::usize_unsuffixed(min as usize);
                out.extend(quote! { v.min_items(#value.len(), #min); });
            }
            if let Some(max) = checks.max_items {
                let max = Literal::usize_unsuffixed(max as usize);
                out.extend(quote! { v.max_items(#value.len(), #max); });
            }
            if checks.unique_items {
                out.extend(quote! { v.unique_items(#value); });
            }
            let default = Checks::default();
            let item_checks = checks.items.as_deref().unwrap_or(&default);
            let per_item = value_checks(quote! { item }, inner, item_checks);
            if !per_item.is_empty() {
                out.extend(quote! {
                    for (i, item) in #value.iter().enumerate() { v.field(i, |v| { #per_item }); }
                });
            }
        }
        Ty::Bool | Ty::Value | Ty::Map => {}
    }
    out
}

fn string_checks(value: TokenStream, checks: &Checks, with_pattern: bool) -> TokenStream {
    let mut out = TokenStream::new();
    if let (Some(id), true) = (checks.pattern, with_pattern) {
        let p = ident(&format!("P{id}"));
        out.extend(quote! { v.pattern(#value, &crate::patterns::#p); });
    }
    if let Some(max) = checks.max_length {
        let max = Literal::usize_unsuffixed(max as usize);
        out.extend(quote! { v.max_length(#value, #max); });
    }
    if let Some(min) = checks.min_length {
        let min = Literal::usize_unsuffixed(min as usize);
        out.extend(quote! { v.min_length(#value, #min); });
    }
    match checks.format.as_deref() {
        Some("date") => out.extend(quote! { v.date(#value); }),
        Some("date-time") => out.extend(quote! { v.date_time(#value); }),
        _ => {}
    }
    if !checks.enum_values.is_empty() {
        let values = checks.enum_values.iter().map(|s| Literal::string(s));
        out.extend(quote! { v.one_of_values(#value, &[#(#values),*]); });
    }
    out
}

pub fn rust_type(ty: &Ty) -> TokenStream {
    match ty {
        Ty::Named(name) => {
            let name = ident(name);
            quote! { crate::models::#name }
        }
        Ty::Shared(path) => rust_path(path),
        Ty::String => quote! { String },
        Ty::Bool => quote! { bool },
        Ty::I32 => quote! { i32 },
        Ty::I64 => quote! { i64 },
        Ty::F64 => quote! { f64 },
        Ty::Value => quote! { ::aberta_runtime::reexport::serde_json::Value },
        Ty::Map => {
            quote! { ::aberta_runtime::reexport::serde_json::Map<String, ::aberta_runtime::reexport::serde_json::Value> }
        }
        Ty::Vec(inner) => {
            let inner = rust_type(inner);
            quote! { Vec<#inner> }
        }
    }
}

/// A `MetaSchemaRef` expression for a value of `ty` with `checks` (needs `registry` in scope).
pub fn schema_ref(ty: &Ty, checks: &Checks) -> TokenStream {
    match ty {
        Ty::Named(_) | Ty::Shared(_) => {
            let t = rust_type(ty);
            quote! { ::aberta_runtime::schema::of::<#t>(registry) }
        }
        _ => {
            let body = schema_body(ty, checks);
            quote! { ::aberta_runtime::schema::inline(#body) }
        }
    }
}

/// A `MetaSchema` expression for a value of `ty` with `checks`.
pub fn schema_body(ty: &Ty, checks: &Checks) -> TokenStream {
    let format = checks.format.as_deref().map(|f| {
        let f = Literal::string(f);
        quote! { format: Some(#f), }
    });
    let usize_field = |name: &str, value: Option<u64>| {
        value.map(|n| {
            let name = ident(name);
            let n = Literal::usize_unsuffixed(n as usize);
            quote! { #name: Some(#n), }
        })
    };
    let f64_field = |name: &str, excl: &str, value: Option<(f64, bool)>| {
        value.map(|(n, exclusive)| {
            let name = ident(name);
            let excl = ident(excl);
            let n = Literal::f64_suffixed(n);
            let e = exclusive.then(|| quote! { #excl: Some(true), });
            quote! { #name: Some(#n), #e }
        })
    };
    match ty {
        Ty::String => {
            let pattern = checks.pattern_source.as_deref().map(|p| {
                let p = Literal::string(p);
                quote! { pattern: Some(#p.to_string()), }
            });
            let max = usize_field("max_length", checks.max_length);
            let min = usize_field("min_length", checks.min_length);
            let enums = (!checks.enum_values.is_empty()).then(|| {
                let values = checks.enum_values.iter().map(|s| Literal::string(s));
                quote! { enum_items: vec![#(::aberta_runtime::reexport::serde_json::Value::from(#values)),*], }
            });
            quote! { ::aberta_runtime::schema::MetaSchema { #format #pattern #max #min #enums ..::aberta_runtime::schema::MetaSchema::new("string") } }
        }
        Ty::I32 | Ty::I64 | Ty::F64 => {
            let json = if matches!(ty, Ty::F64) {
                "number"
            } else {
                "integer"
            };
            let min = f64_field("minimum", "exclusive_minimum", checks.minimum);
            let max = f64_field("maximum", "exclusive_maximum", checks.maximum);
            quote! { ::aberta_runtime::schema::MetaSchema { #format #min #max ..::aberta_runtime::schema::MetaSchema::new(#json) } }
        }
        Ty::Bool => quote! { ::aberta_runtime::schema::MetaSchema::new("boolean") },
        Ty::Value => quote! { ::aberta_runtime::schema::MetaSchema::ANY },
        Ty::Map => quote! {
            ::aberta_runtime::schema::MetaSchema {
                additional_properties: Some(Box::new(::aberta_runtime::schema::inline(::aberta_runtime::schema::MetaSchema::ANY))),
                ..::aberta_runtime::schema::MetaSchema::new("object")
            }
        },
        Ty::Vec(inner) => {
            let default = Checks::default();
            let items = schema_ref(inner, checks.items.as_deref().unwrap_or(&default));
            let min = usize_field("min_items", checks.min_items);
            let max = usize_field("max_items", checks.max_items);
            let unique = checks
                .unique_items
                .then(|| quote! { unique_items: Some(true), });
            quote! { ::aberta_runtime::schema::MetaSchema { #min #max #unique ..::aberta_runtime::schema::array(#items) } }
        }
        Ty::Named(_) | Ty::Shared(_) => {
            let r = schema_ref(ty, &Checks::default());
            quote! { ::aberta_runtime::schema::MetaSchema { all_of: vec![#r], ..::aberta_runtime::schema::MetaSchema::ANY } }
        }
    }
}
