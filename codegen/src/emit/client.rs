//! `client.rs` of a generated crate: a progenitor client over the overlaid document.
//!
//! progenitor takes one success and one error type per operation and knows nothing of
//! `application/jwt`, so the document it sees is prepared: prose dropped (the client must not
//! copy it), `default` responses dropped, every error status given one shared error body,
//! signed bodies described as JSON (the hooks sign and verify them), body-less 2xx dropped
//! beside one with a body, operationIds filled in. Component schemas are replaced by this
//! crate's own models, so the client repeats no type.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::{Literal, TokenStream};
use progenitor_impl::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle};
use quote::quote;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::ir::Api;
use crate::load::Document;

pub fn client(api: &Api, doc: &Document) -> Result<TokenStream, Error> {
    let prepared = prepare(api, &doc.value);
    let spec: openapiv3::OpenAPI = serde_json::from_value(prepared)
        .map_err(|e| Error::spec(&doc.file, "", format!("prepared client document: {e}")))?;

    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Positional)
        .with_tag(TagStyle::Merged)
        .with_hooks(HooksMode::Expected)
        .with_inner_type(quote! { ::aberta_runtime::client::ClientHooks });
    for def in &api.types {
        if def.pointer.starts_with("/components/schemas/") {
            settings.with_replacement(
                &def.schema_name,
                format!("crate::models::{}", def.ident),
                std::iter::empty(),
            );
        }
    }
    // progenitor reports some failures by panicking; keep its message, not a backtrace.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let generated = catch_unwind(AssertUnwindSafe(|| {
        Generator::new(&settings).generate_tokens(&spec)
    }));
    std::panic::set_hook(hook);
    let generated = generated
        .map_err(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Error::spec(&doc.file, "", format!("progenitor panicked: {reason}"))
        })?
        .map_err(|e| Error::spec(&doc.file, "", format!("progenitor: {e}")))?;

    // progenitor names operations by their snake-case method name in `OperationInfo`.
    let signed: Vec<_> = api
        .operations
        .iter()
        .filter(|op| op.signed())
        .map(|op| Literal::string(&op.ident))
        .collect();
    let is_signed = if signed.is_empty() {
        quote! { false }
    } else {
        quote! { matches!(operation_id, #(#signed)|*) }
    };
    Ok(quote! {
        #generated

        /// Whether the operation (progenitor's method name) sends or receives an
        /// `application/jwt` body.
        fn is_signed(#[allow(unused_variables)] operation_id: &str) -> bool { #is_signed }

        impl ClientHooks<::aberta_runtime::client::ClientHooks> for Client {
            async fn pre<E>(&self, request: &mut reqwest::Request, info: &OperationInfo) -> Result<(), Error<E>> {
                self.inner.pre(request, info.operation_id, is_signed(info.operation_id))
            }

            async fn exec(&self, request: reqwest::Request, info: &OperationInfo) -> reqwest::Result<reqwest::Response> {
                self.inner.exec(&self.client, request, info.operation_id, is_signed(info.operation_id)).await
            }
        }
    })
}

/// The overlaid document reduced to what progenitor can take (see the module docs).
fn prepare(api: &Api, value: &Value) -> Value {
    let mut doc = strip_prose(value, false);
    let error_schema = doc
        .pointer("/components/schemas/ResponseError")
        .is_some()
        .then(|| json!({ "$ref": "#/components/schemas/ResponseError" }));
    let root = doc.clone();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    let mut op_index = 0;
    for (_, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(ir_op) = api.operations.get(op_index) {
                op.insert("operationId".into(), Value::String(ir_op.id.clone()));
            }
            op_index += 1;
            if let Some(body) = op.get_mut("requestBody") {
                jwt_as_json(body);
            }
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                prepare_responses(responses, &error_schema, &root);
            }
        }
    }
    doc
}

fn prepare_responses(
    responses: &mut Map<String, Value>,
    error_schema: &Option<Value>,
    root: &Value,
) {
    responses.shift_remove("default");
    for response in responses.values_mut() {
        let target = response
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .map(String::from);
        if let Some(resolved) = target.and_then(|t| root.pointer(&t).cloned()) {
            *response = resolved;
        }
    }
    let has_success_body = responses.iter().any(|(status, r)| {
        status.starts_with('2') && (r.get("content").is_some() || r.get("$ref").is_some())
    });
    responses.retain(|status, r| {
        !(has_success_body
            && status.starts_with('2')
            && r.get("content").is_none()
            && r.get("$ref").is_none())
    });
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            *response = match error_schema {
                Some(schema) => json!({
                    "description": "error",
                    "content": { "application/json": { "schema": schema } }
                }),
                None => json!({ "description": "error" }),
            };
        } else {
            jwt_as_json(response);
        }
    }
}

/// Describes an `application/jwt` body as the JSON it carries.
fn jwt_as_json(holder: &mut Value) {
    if let Some(content) = holder.get_mut("content").and_then(Value::as_object_mut)
        && let Some(media) = content.shift_remove("application/jwt")
    {
        content.insert("application/json".into(), media);
    }
}

/// Empties descriptions and drops summaries and examples (but not properties that happen to
/// be called so), so no prose of the spec reaches the generated client.
fn strip_prose(value: &Value, in_properties: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| in_properties || !matches!(k.as_str(), "summary" | "example" | "examples"))
                .map(|(k, v)| {
                    let description = if !in_properties && k == "description" && v.is_string() {
                        // openapiv3 requires some descriptions; keep the key, drop the prose.
                        Value::String(String::new())
                    } else if !in_properties && k == "info" {
                        json!({ "title": v.get("title").cloned().unwrap_or_default(), "version": v.get("version").cloned().unwrap_or_default() })
                    } else {
                        strip_prose(v, k == "properties" && !in_properties)
                    };
                    (k.clone(), description)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| strip_prose(v, false)).collect()),
        other => other.clone(),
    }
}
