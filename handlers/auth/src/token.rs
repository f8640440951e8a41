//! `POST /token`: authorization_code (PKCE, single use; a replayed code revokes its grant),
//! refresh_token (no rotation; only while the grant and its consent live) and
//! client_credentials. Access tokens are bound to the client certificate (`cnf.x5t#S256`).

use std::collections::HashMap;
use std::sync::Arc;

use aberta_runtime::context::ClientCert;
use aberta_store::CodeOutcome;
use aberta_store::entity::client;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};
use serde_json::{Value, json};

use crate::access_token::{self, TokenInfo};
use crate::brand::Brand;
use crate::client_meta::ClientMetadata;
use crate::error::{AuthError, OAuthError, json_response};
use crate::id_token::{self, IdTokenClaims};
use crate::request_object::AuthorizationParams;
use crate::state::AuthServer;

/// Scopes a client_credentials token may carry.
const CLIENT_SCOPES: [&str; 3] = ["consents", "payments", "resources"];

#[handler]
pub async fn token(
    req: &Request,
    body: poem::Body,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    match run(req, body, server).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    }
}

async fn run(req: &Request, body: poem::Body, server: &AuthServer) -> Result<Response, OAuthError> {
    let crate::client_auth::AuthenticatedForm {
        brand,
        form,
        client,
    } = crate::client_auth::authenticated_form(server, req, body).await?;
    let cert = req.extensions().get::<ClientCert>();
    let thumbprint = cert.map(|c| c.thumbprint.clone()).unwrap_or_default();
    let grant_type = crate::form::required(&form, "grant_type")?;
    let metadata = ClientMetadata::of(&client)?;
    if !metadata.grant_types.is_empty() && !metadata.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::unauthorized_client(
            "grant_type not registered for this client",
        ));
    }
    match grant_type {
        "authorization_code" => {
            authorization_code(server, &brand, &client, &form, thumbprint).await
        }
        "refresh_token" => refresh(server, &brand, &client, &form, thumbprint).await,
        "client_credentials" => client_credentials(server, &brand, &client, &form, thumbprint),
        _ => Err(OAuthError::unsupported_grant_type("unsupported grant_type")),
    }
}

fn base_info(
    server: &AuthServer,
    brand: &Brand,
    client: &client::Model,
    scope: String,
    thumbprint: String,
) -> TokenInfo {
    let now = crate::time::now();
    TokenInfo {
        brand: brand.id().to_string(),
        client_id: client.client_id.clone(),
        scope,
        thumbprint,
        exp: now + server.config.access_token_ttl,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        grant_id: None,
        subject: None,
        consent_id: None,
    }
}

fn token_body(
    server: &AuthServer,
    access_token: &str,
    info: &TokenInfo,
) -> serde_json::Map<String, Value> {
    let mut body = serde_json::Map::new();
    body.insert("access_token".into(), json!(access_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(server.config.access_token_ttl));
    body.insert("scope".into(), json!(info.scope));
    body
}

fn client_credentials(
    server: &AuthServer,
    brand: &Brand,
    client: &client::Model,
    form: &HashMap<String, String>,
    thumbprint: String,
) -> Result<Response, OAuthError> {
    let allowed: Vec<&str> = client
        .scope
        .split_whitespace()
        .filter(|s| CLIENT_SCOPES.contains(s))
        .collect();
    let scope = match form.get("scope").filter(|s| !s.trim().is_empty()) {
        Some(asked) => {
            let granted: Vec<&str> = asked
                .split_whitespace()
                .filter(|s| allowed.contains(s))
                .collect();
            if granted.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "none of the requested scopes is allowed",
                ));
            }
            granted.join(" ")
        }
        None => allowed.join(" "),
    };
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the client has no client_credentials scope",
        ));
    }
    let info = base_info(server, brand, client, scope, thumbprint);
    let access = access_token::mint(brand, &info)?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Object(token_body(server, &access, &info)),
    ))
}

async fn authorization_code(
    server: &AuthServer,
    brand: &Brand,
    client: &client::Model,
    form: &HashMap<String, String>,
    thumbprint: String,
) -> Result<Response, OAuthError> {
    let code = crate::form::required(form, "code")?;
    let verifier = form
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_grant("code_verifier is required"))?;
    let now = crate::time::now();
    let code_hash = crate::crypto::digest(code);
    let row = match server.store.use_code(brand.id(), &code_hash, now).await? {
        CodeOutcome::Fresh(row) => row,
        CodeOutcome::Reused { grant_id } => {
            server.store.revoke_grant(brand.id(), &grant_id).await?;
            tracing::warn!("authorization code replayed; its grant is revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        CodeOutcome::Unknown => return Err(OAuthError::invalid_grant("unknown or expired code")),
    };
    let params: AuthorizationParams =
        serde_json::from_str(&row.payload).map_err(AuthError::from)?;
    if row.client_id != client.client_id {
        server.store.revoke_grant(brand.id(), &row.grant_id).await?;
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if let Some(redirect_uri) = form.get("redirect_uri")
        && *redirect_uri != params.redirect_uri
    {
        server.store.revoke_grant(brand.id(), &row.grant_id).await?;
        return Err(OAuthError::invalid_grant("redirect_uri does not match"));
    }
    if !crate::crypto::pkce_matches(verifier, &params.code_challenge) {
        server.store.revoke_grant(brand.id(), &row.grant_id).await?;
        return Err(OAuthError::invalid_grant("code_verifier does not match"));
    }
    let grant = server
        .store
        .grant(brand.id(), &row.grant_id)
        .await?
        .filter(|g| !g.revoked)
        .ok_or_else(|| OAuthError::invalid_grant("the grant was revoked"))?;
    let refresh_token = crate::crypto::random_token();
    server
        .store
        .set_refresh(
            brand.id(),
            &grant.grant_id,
            &crate::crypto::digest(&refresh_token),
        )
        .await?;
    let mut info = base_info(server, brand, client, grant.scope.clone(), thumbprint);
    info.grant_id = Some(grant.grant_id.clone());
    info.subject = Some(grant.subject.clone());
    info.consent_id = grant.consent_id.clone();
    let access = access_token::mint(brand, &info)?;
    let claims: Value = serde_json::from_str(&grant.claims).unwrap_or(Value::Null);
    let id_token = id_token::sign(
        brand,
        &IdTokenClaims {
            subject: &grant.subject,
            client_id: &client.client_id,
            nonce: Some(&params.nonce),
            acr: claims["acr"]
                .as_str()
                .unwrap_or(crate::request_object::LOA2),
            auth_time: claims["auth_time"].as_i64().unwrap_or(now),
            code: None,
            state: None,
            access_token: Some(&access),
        },
    )?;
    let mut body = token_body(server, &access, &info);
    body.insert("refresh_token".into(), json!(refresh_token));
    body.insert("id_token".into(), json!(id_token));
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

async fn refresh(
    server: &AuthServer,
    brand: &Brand,
    client: &client::Model,
    form: &HashMap<String, String>,
    thumbprint: String,
) -> Result<Response, OAuthError> {
    let refresh_token = crate::form::required(form, "refresh_token")?;
    let now = crate::time::now();
    let grant = server
        .store
        .grant_by_refresh(brand.id(), &crate::crypto::digest(refresh_token), now)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown, expired or revoked refresh token"))?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token belongs to another client",
        ));
    }
    if let Some(consent_id) = &grant.consent_id {
        let live = server
            .consents
            .consent(brand.id(), consent_id)
            .await?
            .is_some_and(|c| c.status == crate::consent::AUTHORISED && c.expires_at > now);
        if !live {
            return Err(OAuthError::invalid_grant(
                "the consent is no longer authorised",
            ));
        }
    }
    let mut info = base_info(server, brand, client, grant.scope.clone(), thumbprint);
    info.grant_id = Some(grant.grant_id.clone());
    info.subject = Some(grant.subject.clone());
    info.consent_id = grant.consent_id.clone();
    let access = access_token::mint(brand, &info)?;
    let mut body = token_body(server, &access, &info);
    body.insert("refresh_token".into(), json!(refresh_token));
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}
