//! `connector.rs` of a generated crate: the seam to the bank's backend for the operations
//! `codegen/config.yml` marks as served by it.

use proc_macro2::TokenStream;
use quote::quote;

use super::models::rust_type;
use super::{doc, ident};
use crate::ir::*;

const PAGE_PARAMS: [&str; 2] = ["page", "page-size"];

pub fn connector(api: &Api) -> Option<TokenStream> {
    let ops: Vec<_> = api.operations.iter().filter(|op| op.connector).collect();
    if ops.is_empty() {
        return None;
    }
    let trait_name = ident(&format!("{}Connector", api.stem));
    let methods = ops.iter().map(|op| {
        let method = ident(&op.ident);
        let input = ident(&format!("{}Input", op.type_stem));
        let output = output_type(api, op);
        let doc = doc(&format!("{} `{}`", api.cite(&op.pointer), op.id));
        quote! {
            #doc
            async fn #method(&self, ctx: &::aberta_runtime::connector::ConnectorContext, input: #input)
                -> Result<#output, ::aberta_runtime::connector::ConnectorError>;
        }
    });
    let inputs = ops.iter().map(|op| input_type(api, op));
    let trait_doc = doc(&format!(
        " What the platform asks the bank's backend for `{}` {}: only requests that passed every check reach it.",
        api.name, api.version
    ));
    Some(quote! {
        #trait_doc
        #[::aberta_runtime::reexport::async_trait]
        pub trait #trait_name: Send + Sync + 'static {
            #(#methods)*
        }

        #(#inputs)*
    })
}

fn is_paginated(op: &Operation) -> bool {
    PAGE_PARAMS.iter().all(|name| {
        op.params
            .iter()
            .any(|p| p.location == Location::Query && p.name == *name)
    })
}

fn input_type(api: &Api, op: &Operation) -> TokenStream {
    let input = ident(&format!("{}Input", op.type_stem));
    let doc = doc(&format!(
        "{} `{}`: what the bank needs.",
        api.cite(&op.pointer),
        op.id
    ));
    let paginated = is_paginated(op);
    let fields = op
        .params
        .iter()
        .filter(|p| p.location != Location::Header)
        .filter(|p| !(paginated && PAGE_PARAMS.contains(&p.name.as_str())))
        .map(|p| {
            let name = ident(&p.ident);
            let ty = ident(&p.ty);
            if p.required {
                quote! { pub #name: crate::params::#ty, }
            } else {
                quote! { pub #name: Option<crate::params::#ty>, }
            }
        });
    let page = paginated.then(|| quote! { pub page: ::aberta_runtime::connector::PageRequest, });
    let body = op.body.as_ref().map(|b| {
        let ty = rust_type(&b.ty);
        if b.required {
            quote! { pub body: #ty, }
        } else {
            quote! { pub body: Option<#ty>, }
        }
    });
    quote! {
        #doc
        #[derive(Debug, Clone)]
        pub struct #input { #(#fields)* #page #body }
    }
}

/// The `data` of the first successful response with a body; a `Page` of its items when the
/// operation is paginated.
fn output_type(api: &Api, op: &Operation) -> TokenStream {
    let success = op
        .responses
        .iter()
        .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
        .find_map(|r| r.content.as_ref());
    let Some(content) = success else {
        return quote! { () };
    };
    let data = data_field(api, &content.ty);
    match (data, is_paginated(op)) {
        (Some(Ty::Vec(item)), true) => {
            let item = rust_type(&item);
            quote! { ::aberta_runtime::connector::Page<#item> }
        }
        (Some(ty), _) => rust_type(&ty),
        (None, _) => rust_type(&content.ty),
    }
}

fn data_field(api: &Api, ty: &Ty) -> Option<Ty> {
    let Ty::Named(name) = ty else { return None };
    let def = api.types.iter().find(|d| &d.ident == name)?;
    let Kind::Struct { fields, .. } = &def.kind else {
        return None;
    };
    fields
        .iter()
        .find(|f| f.json == "data" && f.required)
        .map(|f| f.ty.clone())
}
