//! The keystore: `openbanking.jwks` (the directory's SSA key), `{org}/application.jwks`, and
//! per software `{org}/{software}/application.jwks` and `transport.jwks`, each also under
//! `inactive/`.

use std::sync::Arc;

use josekit::jwk::JwkSet;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Response, handler};

use super::Directory;
use crate::EcosystemError;
use crate::http_error;
use crate::keys;

#[handler]
pub(super) async fn jwks(Path(path): Path<String>, Data(dir): Data<&Arc<Directory>>) -> Response {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let set = match segments.as_slice() {
        ["openbanking.jwks"] => Ok(keys::jwk_set(vec![dir.signing.public_jwk().clone()])),
        [org, "application.jwks"] => dir.registry.organisation_jwks(org, false),
        [org, "inactive", "application.jwks"] => dir.registry.organisation_jwks(org, true),
        [org, sw, "application.jwks"] => dir.registry.application_jwks(org, sw, false),
        [org, sw, "transport.jwks"] => dir.registry.transport_jwks(org, sw, false),
        [org, sw, "inactive", "application.jwks"] => dir.registry.application_jwks(org, sw, true),
        [org, sw, "inactive", "transport.jwks"] => dir.registry.transport_jwks(org, sw, true),
        _ => return http_error::not_found("no such key set"),
    };
    match set {
        Ok(set) => jwks_response(&set),
        Err(EcosystemError::UnknownOrganisation(_)) => {
            http_error::not_found("unknown organisation")
        }
        Err(EcosystemError::UnknownSoftware { .. }) => {
            http_error::not_found("unknown software statement")
        }
        Err(err) => {
            tracing::error!(%err, "keystore read failed");
            http_error::internal()
        }
    }
}

fn jwks_response(set: &JwkSet) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .content_type("application/json")
        .body(set.to_string())
}
