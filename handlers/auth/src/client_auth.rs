//! `private_key_jwt` client authentication (PS256, keys from the client's `jwks_uri`) over a
//! mutual-TLS connection whose certificate belongs to the client's software statement.

use std::collections::HashMap;

use aberta_runtime::context::ClientCert;
use aberta_store::entity::client;
use serde_json::Value;

use crate::brand::Brand;
use crate::error::OAuthError;
use crate::state::AuthServer;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest an assertion may live (`exp` from now). Its `jti` is kept until it expires,
/// so the cap bounds the replay table; RFC 7523 §3 lets a server refuse an `exp` unreasonably
/// far ahead, and clients sign assertions for a minute or a few.
const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// Reads a JWS payload without verifying it (to find out whose key verifies it).
pub fn unverified_claims(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let mut parts = jwt.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    match serde_json::from_slice(&crate::crypto::unb64(payload)?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The `alg` and `kid` of a compact JWS header.
pub fn header_alg_kid(jwt: &str) -> Option<(String, Option<String>)> {
    let header = jwt.split('.').next()?;
    let value: Value = serde_json::from_slice(&crate::crypto::unb64(header)?).ok()?;
    let alg = value.get("alg")?.as_str()?.to_string();
    let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
    Some((alg, kid))
}

/// Does `aud` (a string or an array) contain one of `accepted`?
pub fn audience_matches(aud: Option<&Value>, accepted: &[String]) -> bool {
    match aud {
        Some(Value::String(one)) => accepted.iter().any(|a| a == one),
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .any(|one| accepted.iter().any(|a| a == one)),
        _ => false,
    }
}

/// Verifies a JWS with the client's keys; `None` when no key verifies it.
pub async fn verify_with_client_keys(
    server: &AuthServer,
    client: &client::Model,
    jwt: &str,
    kid: Option<&str>,
) -> Result<Option<serde_json::Map<String, Value>>, OAuthError> {
    let verifier = match server.keys.verifier(&client.jwks_uri, kid).await {
        Ok(Some(verifier)) => verifier,
        Ok(None) => return Ok(None),
        Err(err) => {
            tracing::warn!(%err, "client key set unavailable");
            return Ok(None);
        }
    };
    Ok(josekit::jwt::decode_with_verifier(jwt, verifier.as_ref())
        .ok()
        .map(|(payload, _)| payload.claims_set().clone()))
}

/// A client-authenticated form request (PAR, token, introspection, revocation): its brand,
/// its form fields and the authenticated client.
pub struct AuthenticatedForm {
    pub brand: std::sync::Arc<Brand>,
    pub form: HashMap<String, String>,
    pub client: client::Model,
}

/// Reads the brand and the form of `req`, then authenticates its client (mTLS plus
/// private_key_jwt). A request without a client certificate is refused before its body is
/// read, and the body is read up to [`OAUTH_FORM_LIMIT`](crate::form::OAUTH_FORM_LIMIT) only.
pub async fn authenticated_form(
    server: &AuthServer,
    req: &poem::Request,
    body: poem::Body,
) -> Result<AuthenticatedForm, OAuthError> {
    let brand = server.brand(req)?;
    let cert = req
        .extensions()
        .get::<ClientCert>()
        .ok_or_else(no_certificate)?;
    let limit = crate::form::OAUTH_FORM_LIMIT;
    let bytes = crate::form::read_limited(req.headers(), body, limit)
        .await
        .map_err(|refusal| refusal.oauth(limit))?;
    let form = crate::form::parse(&bytes)?;
    let client = authenticate(server, &brand, &form, Some(cert)).await?;
    Ok(AuthenticatedForm {
        brand,
        form,
        client,
    })
}

/// Authenticates the client of a PAR, token, introspection or revocation request.
pub async fn authenticate(
    server: &AuthServer,
    brand: &Brand,
    form: &HashMap<String, String>,
    cert: Option<&ClientCert>,
) -> Result<client::Model, OAuthError> {
    let cert = cert.ok_or_else(no_certificate)?;
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(OAuthError::invalid_client(
            "private_key_jwt client authentication is required",
        ));
    }
    let assertion = form
        .get("client_assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("client_assertion is required"))?;
    let (alg, kid) = header_alg_kid(assertion)
        .ok_or_else(|| OAuthError::invalid_client("client_assertion is not a JWS"))?;
    if alg != "PS256" {
        return Err(OAuthError::invalid_client(
            "client_assertion must be signed PS256",
        ));
    }
    let claims = unverified_claims(assertion)
        .ok_or_else(|| OAuthError::invalid_client("client_assertion is not a JWT"))?;
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    let (Some(iss), Some(sub)) = (iss, sub) else {
        return Err(OAuthError::invalid_client(
            "client_assertion lacks iss or sub",
        ));
    };
    if iss != sub {
        return Err(OAuthError::invalid_client(
            "client_assertion iss and sub differ",
        ));
    }
    if let Some(client_id) = form.get("client_id")
        && client_id != iss
    {
        return Err(OAuthError::invalid_client(
            "client_id does not match the assertion",
        ));
    }
    let client = server
        .store
        .client(brand.id(), iss)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let verified = verify_with_client_keys(server, &client, assertion, kid.as_deref())
        .await?
        .ok_or_else(|| OAuthError::invalid_client("client_assertion signature does not verify"))?;
    let now = crate::time::now();
    let exp = match verified.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now => exp,
        _ => {
            return Err(OAuthError::invalid_client(
                "client_assertion is expired or lacks exp",
            ));
        }
    };
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err(OAuthError::invalid_client(
            "client_assertion exp is more than an hour ahead",
        ));
    }
    let jti = verified
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("client_assertion lacks jti"))?;
    if !audience_matches(verified.get("aud"), &brand.assertion_audiences()) {
        return Err(OAuthError::invalid_client(
            "client_assertion aud is not this server",
        ));
    }
    match &cert.subject {
        Some(id) if id.org_id == client.org_id && id.software_id == client.software_id => {}
        _ => {
            return Err(OAuthError::invalid_client(
                "the client certificate does not belong to this client",
            ));
        }
    }
    // Last, so that an assertion refused for another reason does not spend its jti.
    let fresh = server
        .store
        .record_assertion(
            brand.id(),
            &client.client_id,
            &crate::crypto::digest(jti),
            exp,
            now,
        )
        .await?;
    if !fresh {
        tracing::warn!(client_id = %client.client_id, "client assertion replayed");
        return Err(OAuthError::invalid_client(
            "client_assertion was already used",
        ));
    }
    Ok(client)
}

fn no_certificate() -> OAuthError {
    OAuthError::invalid_client("a mutual-TLS client certificate is required")
}
