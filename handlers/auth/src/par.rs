//! `POST /par` (RFC 9126): authenticates the client, validates its signed request object and
//! stores it under a fresh single-use `request_uri`.

use std::sync::Arc;

use aberta_store::entity::par;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};

use crate::error::{OAuthError, json_response};
use crate::state::AuthServer;

pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

#[handler]
pub async fn push(
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
    if form.contains_key("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri is not allowed at the PAR endpoint",
        ));
    }
    let request = crate::form::required(&form, "request")
        .map_err(|_| OAuthError::invalid_request("a signed request object is required"))?;
    let params = crate::request_object::validate(server, &brand, &client, request).await?;
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", crate::crypto::random_token());
    let ttl = server.config.par_ttl;
    server
        .store
        .insert_par(par::Model {
            request_uri: request_uri.clone(),
            brand: brand.id().to_string(),
            client_id: client.client_id.clone(),
            params: serde_json::to_string(&params).map_err(crate::AuthError::from)?,
            expires_at: crate::time::now() + ttl,
            consumed: false,
        })
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "request_uri": request_uri, "expires_in": ttl }),
    ))
}
