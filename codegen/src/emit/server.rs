//! `params.rs` and `server.rs` of a generated crate: parameter types, the server trait with a
//! request struct and response enum per operation, and the poem-openapi routes that call it.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::models::{rust_type, schema_body, value_checks};
use super::{doc, ident};
use crate::ir::*;

pub fn params(api: &Api) -> TokenStream {
    let arms = api.params.iter().flat_map(|p| {
        let raw = rust_type(&p.raw);
        let checks = value_checks(quote! { value }, &p.raw, &p.checks);
        let check = if checks.is_empty() {
            quote! { |_, _| {} }
        } else {
            quote! { |value, v| { #checks } }
        };
        p.pointers
            .iter()
            .map(|pointer| {
                let pointer = Literal::string(pointer);
                quote! { #pointer => Some(::aberta_runtime::validate::check_value::<#raw>(json, #check)), }
            })
            .collect::<Vec<_>>()
    });
    let index = quote! {
        /// Checks `json` against the parameter schema the spec defines at `pointer`; `None` when
        /// no parameter is defined there.
        #[allow(unused_variables)]
        pub fn check_parameter(pointer: &str, json: &[u8]) -> Option<Result<(), ::aberta_runtime::Violations>> {
            match pointer {
                #(#arms)*
                _ => None,
            }
        }
    };
    let defs = api.params.iter().map(|p| {
        let name = ident(&p.ident);
        let raw = rust_type(&p.raw);
        let schema = schema_body(&p.raw, &p.checks);
        let checks = value_checks(quote! { value }, &p.raw, &p.checks);
        let doc = doc(&format!(
            " A parameter schema of `{}` {}.",
            api.name, api.version
        ));
        quote! {
            ::aberta_runtime::parameter!(#doc #name(#raw), #schema, |value, v| { #checks });
        }
    });
    quote! { #(#defs)* #index }
}

pub fn server(api: &Api) -> TokenStream {
    let trait_name = ident(&format!("{}Api", api.stem));
    let routes_name = ident(&format!("{}Routes", api.stem));
    let signed = api.signed();

    let methods = api.operations.iter().map(|op| {
        let method = ident(&op.ident);
        let request = ident(&format!("{}Request", op.type_stem));
        let response = ident(&format!("{}Response", op.type_stem));
        let doc = doc(&format!("{} `{}`", api.cite(&op.pointer), op.id));
        quote! {
            #doc
            async fn #method(&self, ctx: ::aberta_runtime::RequestContext, request: #request) -> #response;
        }
    });

    let types = api.operations.iter().map(|op| operation_types(api, op));
    let handlers = api
        .operations
        .iter()
        .map(|op| route_method(api, op, &trait_name));

    let base_path = Literal::string(&api.base_path);
    let title = Literal::string(&format!("{} {}", api.name, api.version));
    let version = Literal::string(&api.version);
    let trait_doc = doc(&format!(
        " The `{}` {} API: one method per operation. Implement it in `handlers/` and mount it with [`routes`].",
        api.name, api.version
    ));
    let (jws_field, jws_param, jws_value, jws_data) = if signed {
        (
            quote! { jws: ::aberta_runtime::jws::JwsHandle, },
            quote! { , jws: ::std::sync::Arc<dyn ::aberta_runtime::jws::JwsCodec> },
            quote! { jws: ::aberta_runtime::jws::JwsHandle(jws), },
            quote! {
                let handle = ::aberta_runtime::jws::JwsHandle(jws.clone());
                let service = service(api, jws);
                let service = ::aberta_runtime::reexport::poem::EndpointExt::data(service, handle);
                let service = ::aberta_runtime::reexport::poem::EndpointExt::with(service, ::aberta_runtime::gate::Gate::new(OPERATIONS));
                ::aberta_runtime::reexport::poem::Route::new().nest(
                    BASE_PATH,
                    ::aberta_runtime::reexport::poem::EndpointExt::with(service, ::aberta_runtime::fapi_headers::FapiHeaders::new(#version)),
                )
            },
        )
    } else {
        (
            quote! {},
            quote! {},
            quote! {},
            quote! {
                let service = service(api);
                let service = ::aberta_runtime::reexport::poem::EndpointExt::with(service, ::aberta_runtime::gate::Gate::new(OPERATIONS));
                ::aberta_runtime::reexport::poem::Route::new().nest(
                    BASE_PATH,
                    ::aberta_runtime::reexport::poem::EndpointExt::with(service, ::aberta_runtime::fapi_headers::FapiHeaders::new(#version)),
                )
            },
        )
    };
    let table = api.operations.iter().map(|op| {
        let method = Literal::string(&op.method.to_uppercase());
        let path = Literal::string(&op.path);
        let secured = op.secured;
        let refuse = if rejection_handler(api, op, &ident(&format!("{}Response", op.type_stem))).is_some() {
            let name = ident(&format!("{}_refuse", op.ident));
            quote! { #name }
        } else {
            quote! { ::aberta_runtime::gate::undeclared }
        };
        quote! {
            ::aberta_runtime::gate::Operation { method: #method, path: #path, secured: #secured, refuse: #refuse },
        }
    });
    let routes_doc = doc(&format!(
        " Mounts `api` under [`BASE_PATH`] with the FAPI response headers behind the runtime's gate (405 with `Allow` for a method the spec does not give a path; the request's `AuthHook`, when set, before a secured operation reads anything){}; the served document is [`openapi_document`].",
        if signed {
            ", verifying and signing `application/jwt` bodies with `jws`"
        } else {
            ""
        }
    ));

    quote! {
        use ::aberta_runtime::reexport::poem_openapi;

        /// Where the routes are mounted.
        pub const BASE_PATH: &str = #base_path;

        #trait_doc
        #[::aberta_runtime::reexport::async_trait]
        pub trait #trait_name: Send + Sync + 'static {
            #(#methods)*
        }

        #(#types)*

        /// The poem-openapi routes over an implementation of the trait.
        pub struct #routes_name {
            api: ::std::sync::Arc<dyn #trait_name>,
            #jws_field
        }

        #[poem_openapi::OpenApi]
        impl #routes_name {
            #(#handlers)*
        }

        /// The poem-openapi service for `api`, for composing with other services.
        pub fn service(api: ::std::sync::Arc<dyn #trait_name> #jws_param) -> poem_openapi::OpenApiService<#routes_name, ()> {
            poem_openapi::OpenApiService::new(#routes_name { api, #jws_value }, #title, #version).server(BASE_PATH)
        }

        /// Every operation of the spec, for the gate in front of the routes.
        pub static OPERATIONS: &[::aberta_runtime::gate::Operation] = &[#(#table)*];

        #routes_doc
        pub fn routes(api: ::std::sync::Arc<dyn #trait_name> #jws_param) -> ::aberta_runtime::reexport::poem::Route {
            #jws_data
        }

        /// The OpenAPI document the routes serve.
        pub fn openapi_document() -> ::aberta_runtime::reexport::serde_json::Value {
            ::aberta_runtime::document::document::<#routes_name>(#title, #version, BASE_PATH)
        }
    }
}

fn operation_types(api: &Api, op: &Operation) -> TokenStream {
    let request = ident(&format!("{}Request", op.type_stem));
    let response = ident(&format!("{}Response", op.type_stem));
    let cite = doc(&format!("{} `{}`", api.cite(&op.pointer), op.id));

    let param_fields = op.params.iter().map(|p| {
        let name = ident(&p.ident);
        let ty = ident(&p.ty);
        let wire = doc(&format!(" `{}` ({:?})", p.name, p.location).to_lowercase());
        if p.required {
            quote! { #wire pub #name: crate::params::#ty, }
        } else {
            quote! { #wire pub #name: Option<crate::params::#ty>, }
        }
    });
    let body_field = op.body.as_ref().map(|b| {
        let ty = rust_type(&b.ty);
        if b.required {
            quote! { pub body: #ty, }
        } else {
            quote! { pub body: Option<#ty>, }
        }
    });

    let variants = op.responses.iter().map(|r| {
        let variant = ident(&r.variant);
        let status_attr = r.status.map(|s| {
            let s = Literal::u16_unsuffixed(s);
            quote! { #[oai(status = #s)] }
        });
        let status_field = r
            .status
            .is_none()
            .then(|| quote! { ::aberta_runtime::reexport::poem::http::StatusCode, });
        let payload = r.content.as_ref().map(|c| {
            let p = payload_type(c);
            quote! { #p, }
        });
        let headers = r.headers.iter().map(|h| {
            let h = Literal::string(&h.to_lowercase());
            quote! { #[oai(header = #h)] Option<String>, }
        });
        let fields = quote! { #status_field #payload #(#headers)* };
        if fields.is_empty() {
            quote! { #status_attr #variant, }
        } else {
            quote! { #status_attr #variant(#fields), }
        }
    });

    let rejection = rejection_handler(api, op, &response);
    let handler_attr = rejection.is_some().then(|| {
        let name = Literal::string(&format!("{}_rejected", op.ident));
        quote! { #[oai(bad_request_handler = #name)] }
    });
    let sign = op.signed().then(|| sign_method(op, &response));

    quote! {
        #cite
        #[derive(Debug)]
        pub struct #request { #(#param_fields)* #body_field }

        #cite
        #[derive(Debug, poem_openapi::ApiResponse)]
        #handler_attr
        pub enum #response { #(#variants)* }

        #rejection
        #sign
    }
}

fn payload_type(content: &Content) -> TokenStream {
    let ty = rust_type(&content.ty);
    match content.content_type.as_str() {
        "application/jwt" => quote! { ::aberta_runtime::payload::Jwt<#ty> },
        "application/json" => quote! { ::aberta_runtime::payload::Json<#ty> },
        _ => quote! { ::aberta_runtime::payload::JsonUtf8<#ty> },
    }
}

fn payload_ctor(content: &Content, value: TokenStream) -> TokenStream {
    match content.content_type.as_str() {
        "application/jwt" => quote! { ::aberta_runtime::payload::Jwt::unsigned(#value) },
        "application/json" => quote! { ::aberta_runtime::payload::Json(#value) },
        _ => quote! { ::aberta_runtime::payload::JsonUtf8(#value) },
    }
}

/// Signs every `application/jwt` response body after the handler returns.
fn sign_method(op: &Operation, response: &proc_macro2::Ident) -> TokenStream {
    let arms = op.responses.iter().filter_map(|r| {
        let c = r.content.as_ref()?;
        if !c.signed {
            return None;
        }
        let variant = ident(&r.variant);
        let pattern = if r.status.is_none() {
            quote! { Self::#variant(_, body, ..) }
        } else {
            quote! { Self::#variant(body, ..) }
        };
        Some(quote! { #pattern => body.sign(jws, ctx), })
    });
    quote! {
        impl #response {
            fn sign_with(&mut self, jws: &::aberta_runtime::jws::JwsHandle, ctx: &::aberta_runtime::RequestContext) {
                #[allow(clippy::single_match)]
                match self { #(#arms)* _ => {} }
            }
        }
    }
}

/// Maps an OFB error ([`Rejection`](aberta_runtime::error_body::Rejection)) to the operation's
/// own error variants, through a generated `From<Rejection>`: handlers refuse with it, and the
/// bad-request handler uses it for requests refused before the handler (bad parameter, body,
/// signature or media type). Emitted when the operation's 400 body can be built from the OFB
/// error body without failing; otherwise the composition root's fallback applies.
///
/// A status the operation declares goes to its variant; any other goes to `Default` when the
/// operation has one (a handler's refusal keeps its status), else to 400. Requests refused
/// before the handler with an undeclared status answer 400, as the spec lists no other.
fn rejection_handler(
    api: &Api,
    op: &Operation,
    response: &proc_macro2::Ident,
) -> Option<TokenStream> {
    let bad_request = op.responses.iter().find(|r| r.status == Some(400))?;
    let content = bad_request.content.as_ref().filter(|c| !c.signed)?;
    let build = error_body_builder(api, &content.ty)?;
    let headers_none = |r: &Response| {
        r.headers
            .iter()
            .map(|_| quote! { , None })
            .collect::<TokenStream>()
    };
    let fallback_payload = payload_ctor(content, build);
    let fallback_headers = headers_none(bad_request);
    let mut armed = vec![Literal::u16_unsuffixed(400)];
    let arms: Vec<TokenStream> = op
        .responses
        .iter()
        .filter_map(|r| {
            let status = r.status?;
            if status <= 400 {
                return None;
            }
            let c = r.content.as_ref().filter(|c| !c.signed)?;
            let variant = ident(&r.variant);
            let s = Literal::u16_unsuffixed(status);
            armed.push(s.clone());
            let payload = payload_ctor(c, quote! { body });
            let headers = headers_none(r);
            Some(quote! {
                #s => if let Some(body) = rejection.body_as() { return #response::#variant(#payload #headers); },
            })
        })
        .collect();
    let default_arm = op
        .responses
        .iter()
        .find(|r| r.status.is_none())
        .and_then(|r| {
            let c = r.content.as_ref().filter(|c| !c.signed)?;
            let variant = ident(&r.variant);
            let payload = payload_ctor(c, quote! { body });
            let headers = headers_none(r);
            Some(quote! {
                if rejection.status != ::aberta_runtime::reexport::poem::http::StatusCode::BAD_REQUEST {
                    if let Some(body) = rejection.body_as() {
                        return #response::#variant(rejection.status, #payload #headers);
                    }
                }
            })
        });
    let fn_name = ident(&format!("{}_rejected", op.ident));
    let refuse_name = ident(&format!("{}_refuse", op.ident));
    let codes_422 = validation_codes_422(api, op)
        .into_iter()
        .map(Literal::string);
    let bad_variant = ident(&bad_request.variant);
    Some(quote! {
        impl ::core::convert::From<::aberta_runtime::error_body::Rejection> for #response {
            #[allow(unused_variables)]
            fn from(rejection: ::aberta_runtime::error_body::Rejection) -> Self {
                #[allow(clippy::single_match)]
                match rejection.status.as_u16() {
                    #(#arms)*
                    _ => {}
                }
                #default_arm
                let body = rejection.body;
                #response::#bad_variant(#fallback_payload #fallback_headers)
            }
        }
        fn #fn_name(err: ::aberta_runtime::reexport::poem::Error) -> #response {
            let mut rejection = ::aberta_runtime::error_body::Rejection::from_error(&err, &[#(#codes_422),*]);
            if !matches!(rejection.status.as_u16(), #(#armed)|*) {
                rejection.status = ::aberta_runtime::reexport::poem::http::StatusCode::BAD_REQUEST;
            }
            rejection.into()
        }
        /// A refusal made before the route (the gate's 401 or 405) in this operation's error
        /// shape, when it declares the status; otherwise it is handed back.
        fn #refuse_name(rejection: ::aberta_runtime::error_body::Rejection) -> ::core::result::Result<::aberta_runtime::reexport::poem::Response, ::aberta_runtime::error_body::Rejection> {
            if matches!(rejection.status.as_u16(), #(#armed)|*) {
                Ok(::aberta_runtime::reexport::poem::IntoResponse::into_response(#response::from(rejection)))
            } else {
                Err(rejection)
            }
        }
    })
}

/// The validation codes (`PARAMETRO_INVALIDO`, `PARAMETRO_NAO_INFORMADO`) the operation's 422
/// schema admits: none without a 422, both when its `code` is a free string or cannot be
/// told, else those its `code` enum lists (a code outside the enum answers 400 instead).
fn validation_codes_422(api: &Api, op: &Operation) -> Vec<&'static str> {
    const CODES: [&str; 2] = ["PARAMETRO_INVALIDO", "PARAMETRO_NAO_INFORMADO"];
    let Some(unprocessable) = op.responses.iter().find(|r| r.status == Some(422)) else {
        return Vec::new();
    };
    let Some(allowed) = unprocessable
        .content
        .as_ref()
        .and_then(|c| code_enum(api, &c.ty))
    else {
        return CODES.to_vec();
    };
    CODES
        .into_iter()
        .filter(|code| allowed.iter().any(|a| a == code))
        .collect()
}

/// The values of `errors[].code` in an error body type, when an enum restricts them.
fn code_enum(api: &Api, body: &Ty) -> Option<Vec<String>> {
    let fields_of = |ty: &Ty| {
        let Ty::Named(name) = ty else { return None };
        match &api.types.iter().find(|d| &d.ident == name)?.kind {
            Kind::Struct { fields, .. } => Some(fields.clone()),
            _ => None,
        }
    };
    let errors = fields_of(body)?.into_iter().find(|f| f.json == "errors")?;
    let item = match errors.ty {
        Ty::Vec(item) => *item,
        other => other,
    };
    let code = fields_of(&item)?.into_iter().find(|f| f.json == "code")?;
    match &code.ty {
        Ty::Named(name) => match &api.types.iter().find(|d| &d.ident == name)?.kind {
            Kind::Enum { variants } => Some(variants.iter().map(|(v, _)| v.clone()).collect()),
            _ => None,
        },
        Ty::String if !code.checks.enum_values.is_empty() => Some(code.checks.enum_values.clone()),
        _ => None,
    }
}

/// An expression building the 400 body type from `body` (a shared `ResponseError`), when the
/// generator can prove the construction cannot fail.
fn error_body_builder(api: &Api, ty: &Ty) -> Option<TokenStream> {
    let Ty::Named(name) = ty else { return None };
    let def = api.types.iter().find(|d| &d.ident == name)?;
    match &def.kind {
        Kind::Alias { path, .. } if path.ends_with("shared::ResponseError") => {
            Some(quote! { body })
        }
        Kind::Struct { fields, .. } => {
            let type_name = ident(name);
            let mut inits = Vec::new();
            for f in fields {
                let fname = ident(&f.ident);
                if f.json == "errors" && f.required {
                    let Ty::Vec(item) = &f.ty else { return None };
                    let item_init = error_item_builder(api, item)?;
                    inits.push(
                        quote! { #fname: body.errors.into_iter().map(|e| #item_init).collect(), },
                    );
                } else if !f.required
                    && f.ty == Ty::String
                    && matches!(f.json.as_str(), "message" | "detail")
                {
                    // A body without `errors` still says why.
                    inits.push(quote! { #fname: body.errors.first().map(|e| e.detail.clone()), });
                } else if !f.required {
                    inits.push(quote! { #fname: None, });
                } else {
                    return None;
                }
            }
            Some(quote! { crate::models::#type_name { #(#inits)* } })
        }
        _ => None,
    }
}

fn error_item_builder(api: &Api, ty: &Ty) -> Option<TokenStream> {
    let Ty::Named(name) = ty else { return None };
    let def = api.types.iter().find(|d| &d.ident == name)?;
    let Kind::Struct { fields, .. } = &def.kind else {
        return None;
    };
    let type_name = ident(name);
    let mut inits = Vec::new();
    for f in fields {
        let fname = ident(&f.ident);
        let source = match f.json.as_str() {
            "code" => quote! { e.code },
            "title" => quote! { e.title },
            "detail" => quote! { e.detail },
            _ if !f.required => {
                inits.push(quote! { #fname: None, });
                continue;
            }
            _ => return None,
        };
        if f.ty != Ty::String {
            return None;
        }
        if f.required {
            inits.push(quote! { #fname: #source, });
        } else {
            inits.push(quote! { #fname: Some(#source), });
        }
    }
    Some(quote! { crate::models::#type_name { #(#inits)* } })
}

fn route_method(api: &Api, op: &Operation, _trait_name: &proc_macro2::Ident) -> TokenStream {
    let method = ident(&op.ident);
    let request = ident(&format!("{}Request", op.type_stem));
    let response = ident(&format!("{}Response", op.type_stem));
    let path = Literal::string(&poem_path(&op.path));
    let spec_path = Literal::string(&op.path);
    let http_method = Literal::string(&op.method);
    let operation_id = Literal::string(&op.id);

    let args = op.params.iter().map(|p| {
        let local = ident(&format!("p_{}", p.ident));
        let name = Literal::string(&p.name);
        let ty = ident(&p.ty);
        let inner = if p.required {
            quote! { crate::params::#ty }
        } else {
            quote! { Option<crate::params::#ty> }
        };
        let wrapper = match p.location {
            Location::Path => quote! { poem_openapi::param::Path },
            Location::Query => quote! { poem_openapi::param::Query },
            Location::Header => quote! { poem_openapi::param::Header },
        };
        quote! { #[oai(name = #name)] #local: #wrapper<#inner>, }
    });
    let inits = op.params.iter().map(|p| {
        let local = ident(&format!("p_{}", p.ident));
        let field = ident(&p.ident);
        quote! { #field: #local.0, }
    });
    let (body_arg, body_init) = match &op.body {
        None => (quote! {}, quote! {}),
        Some(b) => {
            let content = Content {
                content_type: b.content_type.clone(),
                schema_pointer: b.schema_pointer.clone(),
                ty: b.ty.clone(),
                signed: b.signed,
            };
            let ty = payload_type(&content);
            let take = if b.signed {
                quote! { body.value }
            } else {
                quote! { body.0 }
            };
            if b.required {
                (quote! { body: #ty, }, quote! { body: #take, })
            } else {
                (
                    quote! { body: ::aberta_runtime::payload::Optional<#ty>, },
                    quote! { body: body.0.map(|body| #take), },
                )
            }
        }
    };
    let sign = op
        .signed()
        .then(|| quote! { response.sign_with(&self.jws, &ctx); });
    let mutability = op.signed().then(|| quote! { mut });
    let doc = doc(&format!("{} `{}`", api.cite(&op.pointer), op.id));
    quote! {
        #doc
        #[oai(path = #path, method = #http_method, operation_id = #operation_id)]
        async fn #method(&self, raw: &::aberta_runtime::reexport::poem::Request, #(#args)* #body_arg) -> #response {
            let ctx = ::aberta_runtime::RequestContext::from_request(raw, #operation_id, #spec_path);
            let request = #request { #(#inits)* #body_init };
            let #mutability response = self.api.#method(ctx.clone(), request).await;
            #sign
            response
        }
    }
}

/// `/consents/{consentId}` as poem writes it: `/consents/:consentId`.
fn poem_path(path: &str) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}
