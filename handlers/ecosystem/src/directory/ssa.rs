//! `GET /organisations/{org}/softwarestatements/{ss}/assertion`: the software statement
//! assertion, a PS256 JWT signed by the directory key with the claims of DCR §2.4.

use std::sync::Arc;

use aberta_runtime::context::ClientCert;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde_json::{Map, Value, json};

use super::Directory;
use crate::EcosystemError;
use crate::http_error;
use crate::registry::{Organisation, Software};

/// The `iss` of every assertion the simulator signs.
pub const SSA_ISSUER: &str = "Aberta sandbox SSA issuer";

#[handler]
pub(super) async fn assertion(
    req: &Request,
    Path((org_id, software_id)): Path<(String, String)>,
    Data(dir): Data<&Arc<Directory>>,
) -> Response {
    let caller = match dir
        .tokens
        .authorise(req.headers(), req.extensions().get::<ClientCert>())
    {
        Ok(caller) => caller,
        Err(resp) => return resp,
    };
    let org = match dir.registry.organisation(&org_id) {
        Ok(org) => org,
        Err(EcosystemError::UnknownOrganisation(_)) => {
            return http_error::not_found("unknown organisation");
        }
        Err(_) => return http_error::internal(),
    };
    if caller.org_id != org.org_id {
        return http_error::ofb(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "a software statement can be read only by its own organisation",
        );
    }
    let software = match dir.registry.software(&org_id, &software_id) {
        Ok(software) => software,
        Err(EcosystemError::UnknownSoftware { .. }) => {
            return http_error::not_found("unknown software statement");
        }
        Err(_) => return http_error::internal(),
    };
    match dir
        .signing
        .sign_jwt(claims(&dir.keystore_url(), &org, &software))
    {
        Ok(jwt) => Response::builder()
            .status(StatusCode::OK)
            .content_type("application/jwt")
            .body(jwt),
        Err(err) => {
            tracing::error!(%err, "SSA signing failed");
            http_error::internal()
        }
    }
}

/// The SSA claims (requirements §2.4), with fresh `iat` and `jti`.
pub(crate) fn claims(keystore: &str, org: &Organisation, sw: &Software) -> Map<String, Value> {
    let base = format!("{keystore}/{}/{}", org.org_id, sw.software_id);
    let registration = |role: &str| format!("{}-OBB-{role}", &org.cnpj[..8.min(org.cnpj.len())]);
    let value = json!({
        "software_mode": sw.mode,
        "software_redirect_uris": sw.redirect_uris,
        "software_statement_roles": sw.roles.iter().map(|role| json!({
            "role": role,
            "authorisation_domain": "Open Banking",
            "status": "Active",
        })).collect::<Vec<_>>(),
        "software_client_name": sw.client_name,
        "org_status": org.status,
        "software_client_id": sw.software_id,
        "iss": SSA_ISSUER,
        "software_tos_uri": format!("https://{}.example/tos", sw.software_id),
        "software_client_description": sw.description,
        "software_jwks_uri": format!("{base}/application.jwks"),
        "software_policy_uri": format!("https://{}.example/policy", sw.software_id),
        "software_id": sw.software_id,
        "software_client_uri": format!("https://{}.example", sw.software_id),
        "software_jwks_inactive_uri": format!("{base}/inactive/application.jwks"),
        "software_jwks_transport_uri": format!("{base}/transport.jwks"),
        "software_jwks_transport_inactive_uri": format!("{base}/inactive/transport.jwks"),
        "software_logo_uri": format!("https://{}.example/logo.png", sw.software_id),
        "org_id": org.org_id,
        "org_number": org.cnpj,
        "software_environment": "sandbox",
        "software_version": sw.version,
        "software_roles": sw.roles,
        "org_name": org.name,
        "organisation_competent_authority_claims": org.roles.iter().map(|role| json!({
            "authorisation_domain": "Open Banking",
            "authorisations": [],
            "registration_id": registration(role),
            "authority_id": "bcb",
            "authority_name": "Banco Central",
            "authorisation_role": role,
            "authority_code": "BCB",
            "status": "Active",
        })).collect::<Vec<_>>(),
        "software_api_webhook_uris": sw.webhook_uris,
        "software_origin_uris": sw.origin_uris,
        "iat": chrono::Utc::now().timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
