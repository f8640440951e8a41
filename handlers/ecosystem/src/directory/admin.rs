//! Admin calls (bearer = the admin token): register an organisation, register a software
//! statement (its certificates and keys are issued on the spot).

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde_json::json;

use super::Directory;
use crate::EcosystemError;
use crate::http_error;
use crate::registry::{OrganisationSpec, SoftwareSpec};

#[handler]
pub(super) async fn create_organisation(
    req: &Request,
    body: poem::Body,
    Data(dir): Data<&Arc<Directory>>,
) -> Response {
    if let Err(resp) = crate::admin::check_admin(req.headers(), &dir.admin_token) {
        return resp;
    }
    let spec: OrganisationSpec = match read_json(body).await {
        Ok(spec) => spec,
        Err(resp) => return resp,
    };
    match dir.registry.create_organisation(&spec) {
        Ok(org) => http_error::json(StatusCode::CREATED, &json!(org)),
        Err(err) => map_error(err),
    }
}

#[handler]
pub(super) async fn create_software(
    req: &Request,
    Path(org_id): Path<String>,
    body: poem::Body,
    Data(dir): Data<&Arc<Directory>>,
) -> Response {
    if let Err(resp) = crate::admin::check_admin(req.headers(), &dir.admin_token) {
        return resp;
    }
    let spec: SoftwareSpec = match read_json(body).await {
        Ok(spec) => spec,
        Err(resp) => return resp,
    };
    let dir = dir.clone();
    // RSA key generation takes a while: keep it off the reactor.
    let created = tokio::task::spawn_blocking(move || {
        let software = dir.registry.create_software(&dir.pki, &org_id, &spec)?;
        let keys = dir.registry.key_files(&org_id, &software.software_id)?;
        Ok::<_, EcosystemError>((software, keys))
    })
    .await;
    match created {
        Ok(Ok((software, keys))) => http_error::json(
            StatusCode::CREATED,
            &json!({ "software": software, "keys": keys }),
        ),
        Ok(Err(err)) => map_error(err),
        Err(_) => http_error::internal(),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(body: poem::Body) -> Result<T, Response> {
    let bytes = body
        .into_bytes_limit(256 * 1024)
        .await
        .map_err(|_| bad_request("the body could not be read"))?;
    serde_json::from_slice(&bytes).map_err(|e| bad_request(&e.to_string()))
}

fn bad_request(detail: &str) -> Response {
    http_error::ofb(StatusCode::BAD_REQUEST, "PARAMETRO_INVALIDO", detail)
}

fn map_error(err: EcosystemError) -> Response {
    match err {
        EcosystemError::UnknownOrganisation(_) => http_error::not_found("unknown organisation"),
        EcosystemError::Invalid(detail) => bad_request(&detail),
        EcosystemError::AlreadyExists(what) => http_error::ofb(
            StatusCode::CONFLICT,
            "CONFLICT",
            &format!("{what} already exists"),
        ),
        other => {
            tracing::error!(err = %other, "admin call failed");
            http_error::internal()
        }
    }
}
