//! `GET /authorize`: takes only `client_id` and `request_uri` (everything else came in the
//! pushed request object), opens a portal session and sends the browser to the login page.
//! An unknown, expired, used or foreign `request_uri` gets an error page, never a redirect.

use std::collections::HashMap;
use std::sync::Arc;

use aberta_store::entity::session;
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};

use crate::portal::{binding_cookie, error_page, see_other};
use crate::state::AuthServer;

#[handler]
pub async fn authorize(
    req: &Request,
    Query(query): Query<HashMap<String, String>>,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    let brand = match server.brand(req) {
        Ok(brand) => brand,
        Err(err) => return err.into_response(),
    };
    let (Some(client_id), Some(request_uri)) = (query.get("client_id"), query.get("request_uri"))
    else {
        return error_page(
            &brand,
            "invalid_request",
            "client_id and request_uri are required",
        );
    };
    let now = crate::time::now();
    let par = match server.store.par(brand.id(), request_uri, now).await {
        Ok(Some(par)) => par,
        Ok(None) => {
            return error_page(
                &brand,
                "invalid_request_uri",
                "the request_uri is unknown, expired or used",
            );
        }
        Err(err) => {
            tracing::error!(%err, "reading a PAR request");
            return error_page(&brand, "server_error", "try again later");
        }
    };
    if &par.client_id != client_id {
        return error_page(
            &brand,
            "invalid_request_uri",
            "the request_uri belongs to another client",
        );
    }
    let session_id = crate::crypto::random_token();
    let row = session::Model {
        session_id: session_id.clone(),
        brand: brand.id().to_string(),
        request_uri: par.request_uri.clone(),
        client_id: par.client_id.clone(),
        user: None,
        expires_at: par.expires_at.max(now + 600),
    };
    if let Err(err) = server.store.insert_session(row).await {
        tracing::error!(%err, "storing a portal session");
        return error_page(&brand, "server_error", "try again later");
    }
    let mut resp = see_other(&format!("/portal/login?session={session_id}"));
    if let Ok(cookie) = binding_cookie(&brand, &session_id).parse() {
        resp.headers_mut()
            .insert(poem::http::header::SET_COOKIE, cookie);
    }
    resp
}
