//! The consent portal: server-rendered (askama), white-label per brand, plain HTML forms with
//! stable names (`username`, `password`, `approve`, `reject`, `account`) so certification
//! runs and scripted tests can drive it. Approval completes the authorization request with the
//! hybrid `code id_token` response in the redirect URI's fragment.

use std::collections::HashMap;
use std::sync::Arc;

use aberta_store::entity::{code, grant, session};
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde_json::json;

use crate::brand::Brand;
use crate::client_meta::ClientMetadata;
use crate::error::AuthError;
use crate::id_token::{self, IdTokenClaims};
use crate::identity::{EndUser, UserAccount};
use crate::request_object::AuthorizationParams;
use crate::state::AuthServer;

/// How long an authorization code lives.
const CODE_TTL: i64 = 60;
/// Grants without a consent live this long (client tokens of `openid` only).
const DEFAULT_GRANT_TTL: i64 = 90 * 24 * 3600;

/// The brand's look, shared by every page.
pub struct Look {
    pub name: String,
    pub logo: String,
    pub primary: String,
    pub accent: String,
    pub welcome: String,
}

impl Look {
    fn of(brand: &Brand) -> Self {
        let c = &brand.config;
        Self {
            name: c.display_name.clone(),
            logo: c.logo_url.clone(),
            primary: c.primary_colour.clone(),
            accent: c.accent_colour.clone(),
            welcome: c.welcome_text.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    look: Look,
    session: String,
    client_name: String,
    error: Option<String>,
}

pub struct PermissionGroup {
    pub title: String,
    pub items: Vec<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    look: Look,
    session: String,
    client_name: String,
    user_name: String,
    groups: Vec<PermissionGroup>,
    accounts: Vec<UserAccount>,
    /// A payment consent's details; empty for data sharing.
    payment: Vec<(String, String)>,
    /// The accounts to pay from, one to pick; empty when the consent names it.
    paying_accounts: Vec<UserAccount>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    look: Look,
    code: String,
    message: String,
}

fn html(status: StatusCode, page: Result<String, askama::Error>) -> Response {
    match page {
        Ok(body) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header("x-frame-options", "DENY")
            .body(body),
        Err(err) => {
            tracing::error!(%err, "page rendering failed");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body("internal error")
        }
    }
}

/// The error page (when there is no redirect URI we may trust).
pub fn error_page(brand: &Brand, code: &str, message: &str) -> Response {
    tracing::info!(code, message, "authorization refused with an error page");
    html(
        StatusCode::BAD_REQUEST,
        ErrorPage {
            look: Look::of(brand),
            code: code.to_string(),
            message: message.to_string(),
        }
        .render(),
    )
}

pub fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .header("cache-control", "no-store")
        .finish()
}

/// The cookie that ties a portal session to the browser that started it at `/authorize`: a
/// MAC of the session id under the brand's key, so any instance checks it without state. A
/// session opened from another browser (a link an attacker sends, with the attacker's session)
/// or a cross-site form post (`SameSite=Lax` withholds the cookie) is refused. One flow per
/// browser at a time: a new one replaces the cookie.
pub const BINDING_COOKIE: &str = "aberta_portal";

fn binding(brand: &Brand, session_id: &str) -> String {
    crate::crypto::b64(
        aws_lc_rs::hmac::sign(
            &brand.mac,
            format!("portal-binding\n{session_id}").as_bytes(),
        )
        .as_ref(),
    )
}

/// The `Set-Cookie` value that binds `session_id` to this browser.
pub fn binding_cookie(brand: &Brand, session_id: &str) -> String {
    format!(
        "{BINDING_COOKIE}={}; Path=/portal; Secure; HttpOnly; SameSite=Lax; Max-Age=900",
        binding(brand, session_id)
    )
}

fn bound_to_this_browser(req: &Request, brand: &Brand, session_id: &str) -> bool {
    let expected = binding(brand, session_id);
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == BINDING_COOKIE
                && value.len() == expected.len()
                && value
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
}

/// A live session with its request, or the error page to show.
struct Flow {
    brand: Arc<Brand>,
    session: session::Model,
    params: AuthorizationParams,
    metadata: ClientMetadata,
    jwks_uri: String,
}

async fn flow(server: &AuthServer, req: &Request, session_id: &str) -> Result<Flow, Response> {
    let brand = server
        .brand(req)
        .map_err(poem::IntoResponse::into_response)?;
    let expired = || {
        error_page(
            &brand,
            "invalid_request",
            "this authorization has expired; start again",
        )
    };
    if !bound_to_this_browser(req, &brand, session_id) {
        return Err(error_page(
            &brand,
            "access_denied",
            "this authorization was started in another browser; start again from the app",
        ));
    }
    let now = crate::time::now();
    let internal = |err: &dyn std::fmt::Display| {
        tracing::error!(%err, "portal storage failure");
        error_page(&brand, "server_error", "try again later")
    };
    let session = match server.store.session(brand.id(), session_id, now).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(expired()),
        Err(err) => return Err(internal(&err)),
    };
    let par = match server
        .store
        .par(brand.id(), &session.request_uri, now)
        .await
    {
        Ok(Some(par)) => par,
        Ok(None) => return Err(expired()),
        Err(err) => return Err(internal(&err)),
    };
    let params: AuthorizationParams =
        serde_json::from_str(&par.params).map_err(|err| internal(&err))?;
    let client = match server.store.client(brand.id(), &par.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            return Err(error_page(
                &brand,
                "invalid_client",
                "the client is no longer registered",
            ));
        }
        Err(err) => return Err(internal(&err)),
    };
    let metadata = ClientMetadata::of(&client).map_err(|err| internal(&err))?;
    Ok(Flow {
        brand: brand.clone(),
        session,
        params,
        metadata,
        jwks_uri: client.jwks_uri,
    })
}

fn client_name(flow: &Flow) -> String {
    flow.metadata
        .client_name
        .clone()
        .unwrap_or_else(|| flow.params.client_id.clone())
}

#[handler]
pub async fn login_page(
    req: &Request,
    Query(query): Query<HashMap<String, String>>,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    let session_id = query.get("session").map(String::as_str).unwrap_or_default();
    let flow = match flow(server, req, session_id).await {
        Ok(flow) => flow,
        Err(resp) => return resp,
    };
    render_login(&flow, None, StatusCode::OK)
}

fn render_login(flow: &Flow, error: Option<&str>, status: StatusCode) -> Response {
    html(
        status,
        LoginPage {
            look: Look::of(&flow.brand),
            session: flow.session.session_id.clone(),
            client_name: client_name(flow),
            error: error.map(str::to_owned),
        }
        .render(),
    )
}

/// A portal form's fields, read under [`PORTAL_FORM_LIMIT`](crate::form::PORTAL_FORM_LIMIT);
/// an oversized or malformed form gets the error page.
async fn portal_form(
    server: &AuthServer,
    req: &Request,
    body: poem::Body,
) -> Result<Vec<(String, String)>, Response> {
    use crate::form::{BodyRefusal, PORTAL_FORM_LIMIT, read_limited};
    let brand = server.brand(req).map_err(IntoResponse::into_response)?;
    let bytes = match read_limited(req.headers(), body, PORTAL_FORM_LIMIT).await {
        Ok(bytes) => bytes,
        Err(BodyRefusal::TooLarge) => {
            let mut resp = error_page(&brand, "invalid_request", "the form is too large");
            resp.set_status(StatusCode::PAYLOAD_TOO_LARGE);
            return Err(resp);
        }
        Err(BodyRefusal::Unreadable) => {
            return Err(error_page(
                &brand,
                "invalid_request",
                "the form could not be read",
            ));
        }
    };
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| error_page(&brand, "invalid_request", "the form is malformed"))
}

#[handler]
pub async fn login(
    req: &Request,
    body: poem::Body,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    let form: HashMap<String, String> = match portal_form(server, req, body).await {
        Ok(fields) => fields.into_iter().collect(),
        Err(resp) => return resp,
    };
    let session_id = form.get("session").map(String::as_str).unwrap_or_default();
    let flow = match flow(server, req, session_id).await {
        Ok(flow) => flow,
        Err(resp) => return resp,
    };
    let username = form.get("username").map(String::as_str).unwrap_or_default();
    let password = form.get("password").map(String::as_str).unwrap_or_default();
    let user = match server
        .identity
        .authenticate(flow.brand.id(), username, password)
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => {
            return render_login(
                &flow,
                Some("CPF ou senha inválidos."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(err) => {
            tracing::error!(%err, "identity provider failed");
            return error_page(&flow.brand, "server_error", "try again later");
        }
    };
    // The login names the customer (CPF, name, businesses): sealed at rest.
    let stored = match server.keyring.seal(
        SESSION_USER_COLUMN,
        &serde_json::to_string(&user).unwrap_or_default(),
    ) {
        Ok(sealed) => sealed,
        Err(err) => {
            tracing::error!(%err, "sealing the login");
            return error_page(&flow.brand, "server_error", "try again later");
        }
    };
    if let Err(err) = server
        .store
        .set_session_user(flow.brand.id(), &flow.session.session_id, &stored)
        .await
    {
        tracing::error!(%err, "storing the login");
        return error_page(&flow.brand, "server_error", "try again later");
    }
    see_other(&format!(
        "/portal/consent?session={}",
        flow.session.session_id
    ))
}

/// The sealed-column name of a session's login (the key ring binds each value to it).
const SESSION_USER_COLUMN: &str = "auth_session.user";

fn session_user(server: &AuthServer, flow: &Flow) -> Option<EndUser> {
    let sealed = flow.session.user.as_deref()?;
    let json = server.keyring.open(SESSION_USER_COLUMN, sealed).ok()?;
    serde_json::from_str(&json).ok()
}

#[handler]
pub async fn consent_page(
    req: &Request,
    Query(query): Query<HashMap<String, String>>,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    let session_id = query.get("session").map(String::as_str).unwrap_or_default();
    let flow = match flow(server, req, session_id).await {
        Ok(flow) => flow,
        Err(resp) => return resp,
    };
    let Some(user) = session_user(server, &flow) else {
        return see_other(&format!("/portal/login?session={session_id}"));
    };
    match render_consent(server, &flow, &user).await {
        Ok(resp) => resp,
        Err(err) => {
            tracing::error!(%err, "consent page");
            error_page(&flow.brand, "server_error", "try again later")
        }
    }
}

async fn render_consent(
    server: &AuthServer,
    flow: &Flow,
    user: &EndUser,
) -> Result<Response, AuthError> {
    let mut permissions = Vec::new();
    let mut payment = None;
    if let Some(consent_id) = &flow.params.consent_id
        && let Some(view) = server.consents.consent(flow.brand.id(), consent_id).await?
    {
        permissions = view.permissions;
        payment = view.payment;
    }
    let accounts = if permissions.is_empty() {
        Vec::new()
    } else {
        server.identity.accounts(flow.brand.id(), user).await?
    };
    let mut groups = group_permissions(&permissions);
    groups.push(PermissionGroup {
        title: "Escopos".into(),
        items: flow
            .params
            .scope
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    });
    Ok(html(
        StatusCode::OK,
        ConsentPage {
            look: Look::of(&flow.brand),
            session: flow.session.session_id.clone(),
            client_name: client_name(flow),
            user_name: user.name.clone(),
            groups,
            accounts,
            payment: payment
                .as_ref()
                .map(|p| p.lines.clone())
                .unwrap_or_default(),
            paying_accounts: payment.map(|p| p.accounts).unwrap_or_default(),
        }
        .render(),
    ))
}

/// Groups permissions as the consents spec groups them.
fn group_permissions(permissions: &[String]) -> Vec<PermissionGroup> {
    const GROUPS: [(&str, &[&str]); 6] = [
        ("Dados cadastrais", &["CUSTOMERS_"]),
        ("Contas", &["ACCOUNTS_"]),
        ("Cartão de crédito", &["CREDIT_CARDS_"]),
        (
            "Operações de crédito",
            &[
                "LOANS_",
                "FINANCINGS_",
                "INVOICE_FINANCINGS_",
                "UNARRANGED_",
            ],
        ),
        (
            "Investimentos e câmbio",
            &[
                "BANK_FIXED",
                "CREDIT_FIXED",
                "VARIABLE_",
                "TREASURE_",
                "FUNDS_",
                "EXCHANGES_",
            ],
        ),
        ("Recursos", &["RESOURCES_"]),
    ];
    let mut out: Vec<PermissionGroup> = Vec::new();
    for permission in permissions {
        let title = GROUPS
            .iter()
            .find(|(_, prefixes)| prefixes.iter().any(|p| permission.starts_with(p)))
            .map(|(title, _)| *title)
            .unwrap_or("Outras");
        match out.iter_mut().find(|g| g.title == title) {
            Some(group) => group.items.push(permission.clone()),
            None => out.push(PermissionGroup {
                title: title.to_string(),
                items: vec![permission.clone()],
            }),
        }
    }
    out
}

#[handler]
pub async fn decide(
    req: &Request,
    body: poem::Body,
    Data(server): Data<&Arc<AuthServer>>,
) -> Response {
    let fields = match portal_form(server, req, body).await {
        Ok(fields) => fields,
        Err(resp) => return resp,
    };
    // Several `account` fields when the customer picks several accounts.
    let accounts: Vec<String> = fields
        .iter()
        .filter(|(name, _)| name == "account")
        .map(|(_, value)| value.clone())
        .collect();
    let form: HashMap<String, String> = fields.into_iter().collect();
    let session_id = form.get("session").map(String::as_str).unwrap_or_default();
    let flow = match flow(server, req, session_id).await {
        Ok(flow) => flow,
        Err(resp) => return resp,
    };
    let Some(user) = session_user(server, &flow) else {
        return see_other(&format!("/portal/login?session={session_id}"));
    };
    let result = if form.contains_key("approve") && !form.contains_key("reject") {
        approve(server, &flow, &user, &accounts).await
    } else {
        reject(server, &flow, "access_denied").await
    };
    match result {
        Ok(resp) => resp,
        Err(err) => {
            tracing::error!(%err, "completing the authorization");
            error_page(&flow.brand, "server_error", "try again later")
        }
    }
}

/// The redirect URI with `params` in the fragment.
fn fragment_redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let fragment = serde_urlencoded::to_string(params).unwrap_or_default();
    see_other(&format!("{redirect_uri}#{fragment}"))
}

async fn reject(server: &AuthServer, flow: &Flow, error: &str) -> Result<Response, AuthError> {
    let brand = flow.brand.id();
    server
        .store
        .consume_par(brand, &flow.session.request_uri, crate::time::now())
        .await?;
    if let Some(consent_id) = &flow.params.consent_id {
        server.consents.reject(brand, consent_id).await?;
    }
    server
        .store
        .delete_session(brand, &flow.session.session_id)
        .await?;
    let mut params = vec![("error", error)];
    if let Some(state) = &flow.params.state {
        params.push(("state", state.as_str()));
    }
    Ok(fragment_redirect(&flow.params.redirect_uri, &params))
}

async fn approve(
    server: &AuthServer,
    flow: &Flow,
    user: &EndUser,
    accounts: &[String],
) -> Result<Response, AuthError> {
    let brand = &flow.brand;
    let now = crate::time::now();
    // The id_token states what the login achieved; a client asking for loa3 from a
    // single-factor login gets access_denied rather than a false claim.
    if flow.params.acr == crate::request_object::LOA3 && user.acr != crate::request_object::LOA3 {
        return reject(server, flow, "access_denied").await;
    }
    let acr = user.acr.clone();
    let mut grant_expiry = now + DEFAULT_GRANT_TTL;
    if let Some(consent_id) = &flow.params.consent_id {
        match server
            .consents
            .authorise(brand.id(), consent_id, user, accounts)
            .await?
        {
            Ok(()) => {}
            Err(refusal) => {
                tracing::info!(?refusal, "the consent refused this authorization");
                return reject(server, flow, "access_denied").await;
            }
        }
        if let Some(view) = server.consents.consent(brand.id(), consent_id).await? {
            grant_expiry = view.expires_at.max(now + 3600);
        }
    }
    let code = crate::crypto::random_token();
    let grant_id = uuid::Uuid::new_v4().to_string();
    let grant_row = grant::Model {
        grant_id: grant_id.clone(),
        brand: brand.id().to_string(),
        client_id: flow.params.client_id.clone(),
        subject: user.subject.clone(),
        scope: flow.params.scope.clone(),
        consent_id: flow.params.consent_id.clone(),
        refresh_hash: None,
        claims: json!({ "acr": acr, "auth_time": now }).to_string(),
        expires_at: grant_expiry,
        revoked: false,
        created_at: now,
    };
    let code_row = code::Model {
        code_hash: crate::crypto::digest(&code),
        brand: brand.id().to_string(),
        client_id: flow.params.client_id.clone(),
        grant_id,
        payload: serde_json::to_string(&flow.params)?,
        expires_at: now + CODE_TTL,
        used: false,
    };
    let signed = id_token::sign(
        brand,
        &IdTokenClaims {
            subject: &user.subject,
            client_id: &flow.params.client_id,
            nonce: Some(&flow.params.nonce),
            acr: &acr,
            auth_time: now,
            code: Some(&code),
            state: flow.params.state.as_deref(),
            access_token: None,
        },
    )?;
    let Some(encrypted) = id_token::encrypt_for(server, &flow.jwks_uri, &signed).await? else {
        return reject(server, flow, "invalid_request").await;
    };
    let completed = server
        .store
        .complete_authorization(
            &flow.session.request_uri,
            &flow.session.session_id,
            grant_row,
            code_row,
            now,
        )
        .await?;
    if !completed {
        return Ok(error_page(
            brand,
            "invalid_request_uri",
            "this authorization was already completed",
        ));
    }
    let mut params = vec![("code", code.as_str()), ("id_token", encrypted.as_str())];
    if let Some(state) = &flow.params.state {
        params.push(("state", state.as_str()));
    }
    Ok(fragment_redirect(&flow.params.redirect_uri, &params))
}
