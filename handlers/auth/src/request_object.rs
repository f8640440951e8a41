//! The signed request object pushed to PAR (FAPI1 Advanced + Brazil, requirements §1.5):
//! PS256 by the client's key, `aud` = issuer, `exp`/`nbf` within 60 minutes, `nonce`, PKCE
//! S256, a registered redirect URI, scopes the client may ask for, `code id_token`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::brand::Brand;
use crate::client_auth::{audience_matches, header_alg_kid, verify_with_client_keys};
use crate::client_meta::ClientMetadata;
use crate::error::OAuthError;
use crate::state::AuthServer;
use aberta_store::entity::client;

pub const LOA2: &str = "urn:brasil:openbanking:loa2";
pub const LOA3: &str = "urn:brasil:openbanking:loa3";
const HOUR: i64 = 3600;

/// What an authorization request asked for, once validated; stored with the PAR request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizationParams {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: String,
    pub code_challenge: String,
    /// The acr the client asked for (loa3 only when it named it; loa2 otherwise).
    pub acr: String,
    pub consent_id: Option<String>,
}

fn text<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

fn bad(d: &str) -> OAuthError {
    OAuthError::invalid_request_object(d)
}

/// Validates the request object of a PAR request from `client`.
pub async fn validate(
    server: &AuthServer,
    brand: &Brand,
    client: &client::Model,
    request: &str,
) -> Result<AuthorizationParams, OAuthError> {
    let (alg, kid) =
        header_alg_kid(request).ok_or_else(|| bad("the request object is not a JWS"))?;
    if alg != "PS256" {
        return Err(bad("the request object must be signed PS256"));
    }
    let claims = verify_with_client_keys(server, client, request, kid.as_deref())
        .await?
        .ok_or_else(|| bad("the request object signature does not verify"))?;
    let now = crate::time::now();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("exp is required"))?;
    let nbf = claims
        .get("nbf")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("nbf is required"))?;
    if exp <= now {
        return Err(bad("the request object has expired"));
    }
    if nbf > now + 10 {
        return Err(bad("the request object is not valid yet"));
    }
    if exp - nbf > HOUR {
        return Err(bad("exp is more than 60 minutes after nbf"));
    }
    if now - nbf > HOUR {
        return Err(bad("nbf is more than 60 minutes in the past"));
    }
    if !audience_matches(claims.get("aud"), &[brand.issuer().to_string()]) {
        return Err(bad("aud must be the issuer"));
    }
    if text(&claims, "iss") != Some(client.client_id.as_str()) {
        return Err(bad("iss must be the client_id"));
    }
    if let Some(client_id) = text(&claims, "client_id")
        && client_id != client.client_id
    {
        return Err(bad("client_id does not match the authenticated client"));
    }
    if claims.contains_key("request_uri") || claims.contains_key("request") {
        return Err(bad(
            "request_uri and request are not allowed inside a request object",
        ));
    }
    if claims.contains_key("id_token_hint") {
        return Err(bad("id_token_hint is not supported"));
    }
    if text(&claims, "response_type") != Some("code id_token") {
        return Err(bad("response_type must be 'code id_token'"));
    }
    if let Some(mode) = text(&claims, "response_mode")
        && mode != "fragment"
    {
        return Err(bad("response_mode must be fragment"));
    }
    let metadata = ClientMetadata::of(client)?;
    let redirect_uri =
        text(&claims, "redirect_uri").ok_or_else(|| bad("redirect_uri is required"))?;
    if !metadata.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(OAuthError::invalid_request(
            "redirect_uri is not registered",
        ));
    }
    let nonce = text(&claims, "nonce").ok_or_else(|| bad("nonce is required"))?;
    let code_challenge = text(&claims, "code_challenge")
        .ok_or_else(|| OAuthError::invalid_request("PKCE code_challenge is required"))?;
    if text(&claims, "code_challenge_method") != Some("S256") {
        return Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        ));
    }
    let scope = text(&claims, "scope").ok_or_else(|| bad("scope is required"))?;
    let consent_id = check_scope(scope, &client.scope)?;
    if let Some(consent_id) = &consent_id {
        check_consent(server, brand, client, consent_id).await?;
    }
    Ok(AuthorizationParams {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: scope.to_string(),
        state: text(&claims, "state").map(str::to_owned),
        nonce: nonce.to_string(),
        code_challenge: code_challenge.to_string(),
        acr: requested_acr(&claims),
        consent_id,
    })
}

/// `openid` required; every static scope registered for the client; at most one
/// `consent:<id>`, which is returned.
fn check_scope(scope: &str, allowed: &str) -> Result<Option<String>, OAuthError> {
    let mut consent = None;
    let mut openid = false;
    for item in scope.split_whitespace() {
        if let Some(id) = item.strip_prefix("consent:") {
            if consent.replace(id.to_string()).is_some() || id.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "one consent:<id> scope is allowed",
                ));
            }
        } else if !allowed.split_whitespace().any(|a| a == item) {
            return Err(OAuthError::invalid_scope(format!(
                "scope '{item}' is not allowed"
            )));
        }
        openid |= item == "openid";
    }
    if !openid {
        return Err(OAuthError::invalid_scope("the openid scope is required"));
    }
    Ok(consent)
}

async fn check_consent(
    server: &AuthServer,
    brand: &Brand,
    client: &client::Model,
    consent_id: &str,
) -> Result<(), OAuthError> {
    let view = server
        .consents
        .consent(brand.id(), consent_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("unknown consent"))?;
    if view.client_id != client.client_id {
        return Err(OAuthError::invalid_request(
            "the consent belongs to another client",
        ));
    }
    if view.status != crate::consent::AWAITING_AUTHORISATION {
        return Err(OAuthError::invalid_request(
            "the consent is not awaiting authorisation",
        ));
    }
    Ok(())
}

/// loa3 when the client accepts only loa3 (in `claims.id_token.acr.value(s)` or
/// `acr_values`), loa2 otherwise.
fn requested_acr(claims: &Map<String, Value>) -> String {
    let mut accepted: Vec<String> = Vec::new();
    let mut collect = |v: &Value| match v {
        Value::String(s) => accepted.extend(s.split_whitespace().map(str::to_owned)),
        Value::Array(items) => {
            accepted.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
        }
        _ => {}
    };
    if let Some(acr) = claims
        .get("claims")
        .and_then(|c| c.pointer("/id_token/acr"))
    {
        for key in ["value", "values"] {
            if let Some(v) = acr.get(key) {
                collect(v);
            }
        }
    }
    if let Some(v) = claims.get("acr_values") {
        collect(v);
    }
    let only_loa3 = accepted.iter().any(|a| a == LOA3) && !accepted.iter().any(|a| a == LOA2);
    if only_loa3 { LOA3 } else { LOA2 }.to_string()
}
