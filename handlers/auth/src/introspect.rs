//! `POST /introspect` (RFC 7662) for other instances and resource servers, and
//! `POST /revoke` (RFC 7009). Both authenticate the caller with private_key_jwt over mTLS.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};
use serde_json::json;

use crate::access_token;
use crate::error::{OAuthError, json_response};
use crate::state::AuthServer;

#[handler]
pub async fn introspect(
    req: &Request,
    body: poem::Body,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    match run_introspect(req, body, server).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    }
}

async fn run_introspect(
    req: &Request,
    body: poem::Body,
    server: &AuthServer,
) -> Result<Response, OAuthError> {
    let crate::client_auth::AuthenticatedForm { brand, form, .. } =
        crate::client_auth::authenticated_form(server, req, body).await?;
    let token = crate::form::required(&form, "token")?;
    let body = match server.introspect_token(brand.id(), token).await? {
        Some(info) => {
            let mut body = json!({
                "active": true,
                "scope": info.scope,
                "client_id": info.client_id,
                "token_type": "Bearer",
                "exp": info.exp,
                "iat": info.iat,
                "iss": brand.issuer(),
                "jti": info.jti,
                "cnf": { "x5t#S256": info.thumbprint },
            });
            if let Some(sub) = info.subject {
                body["sub"] = json!(sub);
            }
            if let Some(consent) = info.consent_id {
                body["consent_id"] = json!(consent);
            }
            body
        }
        None => json!({ "active": false }),
    };
    Ok(json_response(StatusCode::OK, &body))
}

#[handler]
pub async fn revoke(
    req: &Request,
    body: poem::Body,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    match run_revoke(req, body, server).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    }
}

async fn run_revoke(
    req: &Request,
    body: poem::Body,
    server: &AuthServer,
) -> Result<Response, OAuthError> {
    let crate::client_auth::AuthenticatedForm {
        brand,
        form,
        client,
    } = crate::client_auth::authenticated_form(server, req, body).await?;
    let token = crate::form::required(&form, "token")?;
    let now = crate::time::now();
    if let Some(info) = access_token::open(&brand, token) {
        if info.client_id == client.client_id {
            server
                .store
                .revoke_token(brand.id(), &info.jti, info.exp)
                .await?;
        }
    } else if let Some(grant) = server
        .store
        .grant_by_refresh(brand.id(), &crate::crypto::digest(token), now)
        .await?
        && grant.client_id == client.client_id
    {
        server
            .store
            .revoke_grant(brand.id(), &grant.grant_id)
            .await?;
    }
    Ok(Response::builder().status(StatusCode::OK).finish())
}
