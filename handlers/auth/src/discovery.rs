//! `/.well-known/openid-configuration` (every field of requirements §1.3) and `/jwks`.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};
use serde_json::{Value, json};

use crate::brand::Brand;
use crate::error::json_response;
use crate::request_object::{LOA2, LOA3};
use crate::state::AuthServer;

/// Static scopes the server grants (by role, see DCR).
pub const SCOPES: [&str; 19] = [
    "openid",
    "consents",
    "resources",
    "accounts",
    "credit-cards-accounts",
    "customers",
    "invoice-financings",
    "financings",
    "loans",
    "unarranged-accounts-overdraft",
    "bank-fixed-incomes",
    "credit-fixed-incomes",
    "variable-incomes",
    "treasure-titles",
    "funds",
    "exchanges",
    "payments",
    "recurring-payments",
    "nrp-consents",
];

pub fn document(brand: &Brand) -> Value {
    let url = |p: &str| brand.url(p);
    json!({
        "issuer": brand.issuer(),
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/jwks"),
        "registration_endpoint": url("/register"),
        "pushed_authorization_request_endpoint": url("/par"),
        "introspection_endpoint": url("/introspect"),
        "revocation_endpoint": url("/revoke"),
        "require_pushed_authorization_requests": true,
        "response_types_supported": ["code id_token"],
        "response_modes_supported": ["fragment"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "subject_types_supported": ["public"],
        "scopes_supported": SCOPES,
        "claims_supported": ["sub", "acr", "auth_time", "nonce", "c_hash", "s_hash", "at_hash"],
        "claims_parameter_supported": true,
        "acr_values_supported": [LOA2, LOA3],
        "code_challenge_methods_supported": ["S256"],
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": true,
        "request_object_signing_alg_values_supported": ["PS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["PS256"],
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
        "id_token_signing_alg_values_supported": ["PS256"],
        "id_token_encryption_alg_values_supported": ["RSA-OAEP"],
        "id_token_encryption_enc_values_supported": ["A256GCM"],
        "userinfo_signing_alg_values_supported": ["PS256"],
        "tls_client_certificate_bound_access_tokens": true,
        "mtls_endpoint_aliases": {
            "token_endpoint": url("/token"),
            "registration_endpoint": url("/register"),
            "userinfo_endpoint": url("/userinfo"),
            "pushed_authorization_request_endpoint": url("/par"),
            "introspection_endpoint": url("/introspect"),
            "revocation_endpoint": url("/revoke"),
        },
    })
}

#[handler]
pub async fn discovery(req: &Request, Data(server): Data<&Arc<AuthServer>>) -> Response {
    match server.brand(req) {
        Ok(brand) => json_response(StatusCode::OK, &document(&brand)),
        Err(err) => err.into_response(),
    }
}

#[handler]
pub async fn jwks(req: &Request, Data(server): Data<&Arc<AuthServer>>) -> Response {
    match server.brand(req) {
        Ok(brand) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/json")
            .body(brand.jwks_json.clone()),
        Err(err) => err.into_response(),
    }
}
