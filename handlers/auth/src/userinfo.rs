//! `GET|POST /userinfo` (OIDC Core 5.3): the subject of a certificate-bound `openid` token.

use std::sync::Arc;

use aberta_runtime::context::ClientCert;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};
use serde_json::json;

use crate::access_token::TokenInfo;
use crate::error::{OAuthError, json_response};
use crate::state::AuthServer;

/// The active token of the request's `Authorization: Bearer`, bound to its certificate.
pub async fn bearer(server: &AuthServer, req: &Request) -> Result<TokenInfo, OAuthError> {
    let brand = server.brand(req)?;
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| OAuthError::token_required("a bearer token is required"))?;
    let info = server
        .introspect_token(brand.id(), token)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the token is not active"))?;
    let cert = req
        .extensions()
        .get::<ClientCert>()
        .ok_or_else(|| OAuthError::invalid_token("a client certificate is required"))?;
    if cert.thumbprint != info.thumbprint {
        return Err(OAuthError::invalid_token(
            "the token is bound to another certificate",
        ));
    }
    Ok(info)
}

#[handler]
pub async fn userinfo(req: &Request, Data(server): Data<&Arc<AuthServer>>) -> Response {
    let info = match bearer(server, req).await {
        Ok(info) => info,
        Err(err) => return err.into_response(),
    };
    let Some(subject) = info
        .subject
        .filter(|_| info.scope.split_whitespace().any(|s| s == "openid"))
    else {
        return OAuthError::insufficient_scope("the token lacks openid").into_response();
    };
    json_response(StatusCode::OK, &json!({ "sub": subject }))
}
