//! DCR/DCM (RFC 7591/7592 as profiled by OFB, requirements §2) through the generated
//! [`DcrApi`]: the software statement is verified against the directory's keys, the
//! certificate must belong to its organisation and software, URIs must be the SSA's, scopes
//! come from its active roles, one client per SSA, and the registration access token is never
//! rotated (only its hash is stored; GET and PUT echo the one presented).

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::payload::Json;
use aberta_store::StoreError;
use aberta_store::entity::client;
use ofb_dcr_v2::models::{
    ClientGetResponseSuccess, ClientRegistrationRequest, ClientRegistrationResponseError,
    ClientRegistrationResponseErrorError as Code, ClientRegistrationResponseSuccess,
};
use ofb_dcr_v2::server::*;
use serde_json::{Map, Value, json};

use crate::brand::Brand;
use crate::client_auth::header_alg_kid;
use crate::client_meta::ClientMetadata;
use crate::dcr_guard;
use crate::error::AuthError;
use crate::state::AuthServer;

/// How old a software statement may be.
const SSA_MAX_AGE: i64 = 300;

const DADOS: &[&str] = &[
    "openid",
    "accounts",
    "credit-cards-accounts",
    "consents",
    "customers",
    "invoice-financings",
    "financings",
    "loans",
    "unarranged-accounts-overdraft",
    "resources",
    "bank-fixed-incomes",
    "credit-fixed-incomes",
    "variable-incomes",
    "treasure-titles",
    "funds",
    "exchanges",
];
const PAGTO: &[&str] = &[
    "openid",
    "payments",
    "recurring-payments",
    "nrp-consents",
    "consents",
];

/// The scopes the active roles allow, in a stable order.
fn scopes_for(roles: &[String]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = vec!["openid"];
    for role in roles {
        let add: &[&'static str] = match role.as_str() {
            "DADOS" => DADOS,
            "PAGTO" => PAGTO,
            _ => &[],
        };
        for scope in add {
            if !out.contains(scope) {
                out.push(scope);
            }
        }
    }
    out
}

/// Why a registration request is refused.
enum Refusal {
    Bad(Code, String),
    /// An RFC code the generated enum lacks (sent through the DCR layer).
    BadOther(&'static str, String),
    Unauthorized(String),
    Internal,
}

impl From<AuthError> for Refusal {
    fn from(err: AuthError) -> Self {
        tracing::error!(%err, "registration failed");
        Refusal::Internal
    }
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        AuthError::from(err).into()
    }
}

fn bad(code: Code, d: impl Into<String>) -> Refusal {
    Refusal::Bad(code, d.into())
}

fn error_body(code: Code, description: String) -> Json<ClientRegistrationResponseError> {
    tracing::info!(error = code.as_str(), %description, "registration refused");
    Json(ClientRegistrationResponseError {
        error: code,
        error_description: Some(description),
    })
}

/// Maps a [`Refusal`] onto one of the generated response enums.
macro_rules! refuse {
    ($resp:ident, $unauth:ident, $refusal:expr) => {
        match $refusal {
            Refusal::Bad(code, d) => $resp::BadRequest(error_body(code, d)),
            Refusal::BadOther(code, d) => {
                dcr_guard::override_error(code);
                $resp::BadRequest(error_body(Code::InvalidClientMetadata, d))
            }
            Refusal::Unauthorized(d) => {
                tracing::info!(description = %d, "registration call unauthorised");
                $resp::Unauthorized(Json(ofb_dcr_v2::models::$unauth {
                    error: Some("invalid_token".to_string()),
                    error_description: Some(d),
                }))
            }
            Refusal::Internal => $resp::BadRequest(error_body(
                Code::InvalidClientMetadata,
                "the registration could not be processed; try again".to_string(),
            )),
        }
    };
}

/// The validated software statement and the metadata it allows.
struct Validated {
    org_id: String,
    software_id: String,
    jwks_uri: String,
    scope: String,
    metadata: ClientMetadata,
}

fn strings(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    claims
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The `DcrApi` implementation.
pub struct Registration {
    server: Arc<AuthServer>,
}

impl Registration {
    pub fn new(server: Arc<AuthServer>) -> Self {
        Self { server }
    }

    fn brand(&self, ctx: &RequestContext) -> Result<Arc<Brand>, Refusal> {
        self.server
            .brand_of(&ctx.headers, None)
            .map_err(|e| bad(Code::InvalidClientMetadata, e.description))
    }

    async fn verify_ssa(&self, ssa: &str) -> Result<Map<String, Value>, Refusal> {
        let invalid = |d: &str| bad(Code::InvalidSoftwareStatement, d);
        let (alg, kid) =
            header_alg_kid(ssa).ok_or_else(|| invalid("the software statement is not a JWS"))?;
        if alg != "PS256" {
            return Err(invalid("the software statement must be signed PS256"));
        }
        let url = &self.server.config.directory_jwks_url;
        let verifier = self
            .server
            .keys
            .verifier(url, kid.as_deref())
            .await?
            .ok_or_else(|| invalid("no directory key verifies the software statement"))?;
        let (payload, _) = josekit::jwt::decode_with_verifier(ssa, verifier.as_ref())
            .map_err(|_| invalid("the software statement signature does not verify"))?;
        let claims = payload.claims_set().clone();
        let now = crate::time::now();
        match claims.get("iat").and_then(Value::as_i64) {
            Some(iat) if iat <= now + 10 && now - iat <= SSA_MAX_AGE => Ok(claims),
            _ => Err(invalid(
                "the software statement was issued more than 5 minutes ago",
            )),
        }
    }

    /// Every rule of requirements §2.3 on a POST or PUT body.
    async fn validate(
        &self,
        ctx: &RequestContext,
        body: Option<ClientRegistrationRequest>,
    ) -> Result<Validated, Refusal> {
        let cert = ctx.client_cert.as_ref().ok_or_else(|| {
            Refusal::Unauthorized("a mutual-TLS client certificate is required".into())
        })?;
        let body = body.ok_or_else(|| {
            bad(
                Code::InvalidClientMetadata,
                "a registration body is required",
            )
        })?;
        let ssa = self.verify_ssa(&body.software_statement).await?;
        let text = |name: &str| {
            ssa.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (org_id, software_id) = (text("org_id"), text("software_id"));
        if text("org_status") != "Active" {
            return Err(bad(
                Code::UnapprovedSoftwareStatement,
                "the organisation is not active",
            ));
        }
        match &cert.subject {
            Some(id) if id.org_id == org_id && id.software_id == software_id => {}
            _ => {
                return Err(bad(
                    Code::UnapprovedSoftwareStatement,
                    "the client certificate does not belong to the software statement",
                ));
            }
        }
        let ssa_jwks = text("software_jwks_uri");
        let jwks_uri = body.jwks_uri.clone().unwrap_or_else(|| ssa_jwks.clone());
        if jwks_uri != ssa_jwks {
            return Err(bad(
                Code::InvalidClientMetadata,
                "jwks_uri must be the software statement's",
            ));
        }
        let allowed_redirects = strings(&ssa, "software_redirect_uris");
        if body.redirect_uris.is_empty()
            || !body
                .redirect_uris
                .iter()
                .all(|r| allowed_redirects.contains(r))
        {
            return Err(bad(
                Code::InvalidRedirectUri,
                "redirect_uris must be among the software statement's",
            ));
        }
        let webhooks = body.webhook_uris.clone().unwrap_or_default();
        let allowed_webhooks = strings(&ssa, "software_api_webhook_uris");
        if !webhooks.iter().all(|w| allowed_webhooks.contains(w)) {
            return Err(bad(
                Code::InvalidWebhookUris,
                "webhook_uris must be among the software statement's",
            ));
        }
        let algs_ok = body
            .id_token_signed_response_alg
            .as_deref()
            .is_none_or(|a| a == "PS256")
            && body
                .request_object_signing_alg
                .as_deref()
                .is_none_or(|a| a == "PS256")
            && body
                .id_token_encrypted_response_alg
                .as_deref()
                .is_none_or(|a| a == "RSA-OAEP")
            && body
                .id_token_encrypted_response_enc
                .as_deref()
                .is_none_or(|a| a == "A256GCM");
        if !algs_ok {
            return Err(bad(
                Code::InvalidClientMetadata,
                "only PS256, RSA-OAEP and A256GCM are supported",
            ));
        }
        let roles: Vec<String> = ssa
            .get("software_statement_roles")
            .and_then(Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter(|r| r.get("status").and_then(Value::as_str) == Some("Active"))
                    .filter_map(|r| r.get("role").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| strings(&ssa, "software_roles"));
        let allowed = scopes_for(&roles);
        let scope = match dcr_guard::requested_scope() {
            Some(asked) => {
                if let Some(extra) = asked.split_whitespace().find(|s| !allowed.contains(s)) {
                    return Err(Refusal::BadOther(
                        "invalid_scope",
                        format!("scope '{extra}' is not allowed by the software statement's roles"),
                    ));
                }
                asked.split_whitespace().collect::<Vec<_>>().join(" ")
            }
            None => allowed.join(" "),
        };
        let grant_types = body
            .grant_types
            .as_ref()
            .map(|g| g.iter().map(|g| g.as_str().to_string()).collect())
            .unwrap_or_else(|| {
                vec![
                    "authorization_code".into(),
                    "refresh_token".into(),
                    "client_credentials".into(),
                ]
            });
        Ok(Validated {
            org_id,
            software_id,
            jwks_uri,
            scope,
            metadata: ClientMetadata {
                redirect_uris: body.redirect_uris.clone(),
                webhook_uris: webhooks,
                client_name: body.client_name.clone().or_else(|| {
                    ssa.get("software_client_name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
                grant_types,
                roles,
            },
        })
    }

    /// The client the request's registration access token (and certificate) manages.
    async fn managed_client(
        &self,
        ctx: &RequestContext,
        client_id: &str,
    ) -> Result<(Arc<Brand>, client::Model, String), Refusal> {
        let brand = self.brand(ctx)?;
        let token = ctx
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Refusal::Unauthorized("a registration access token is required".into())
            })?;
        let client = self
            .server
            .store
            .client(brand.id(), client_id)
            .await?
            .filter(|c| c.rat_hash == crate::crypto::digest(token))
            .ok_or_else(|| Refusal::Unauthorized("invalid registration access token".into()))?;
        let cert_ok = ctx
            .client_cert
            .as_ref()
            .and_then(|c| c.subject.as_ref())
            .is_some_and(|id| id.org_id == client.org_id && id.software_id == client.software_id);
        if !cert_ok {
            return Err(Refusal::Unauthorized(
                "the client certificate does not belong to this client".into(),
            ));
        }
        Ok((brand, client, token.to_string()))
    }

    fn describe(
        brand: &Brand,
        client: &client::Model,
        rat: &str,
    ) -> Result<(ClientGetResponseSuccess, Value), Refusal> {
        let metadata = ClientMetadata::of(client)?;
        let extra = json!({
            "redirect_uris": metadata.redirect_uris,
            "webhook_uris": metadata.webhook_uris,
            "client_name": metadata.client_name,
            "grant_types": metadata.grant_types,
            "scope": client.scope,
            "jwks_uri": client.jwks_uri,
            "software_id": client.software_id,
            "token_endpoint_auth_method": "private_key_jwt",
            "response_types": ["code id_token"],
            "id_token_signed_response_alg": "PS256",
            "id_token_encrypted_response_alg": "RSA-OAEP",
            "id_token_encrypted_response_enc": "A256GCM",
            "request_object_signing_alg": "PS256",
            "require_pushed_authorization_requests": true,
            "tls_client_certificate_bound_access_tokens": true,
            "subject_type": "public",
        });
        Ok((
            ClientGetResponseSuccess {
                client_id: client.client_id.clone(),
                client_secret: None,
                client_id_issued_at: Some(client.created_at),
                client_secret_expires_at: None,
                registration_client_uri: brand.url(&format!("/register/{}", client.client_id)),
                registration_access_token: rat.to_string(),
            },
            extra,
        ))
    }

    async fn register(
        &self,
        ctx: RequestContext,
        body: Option<ClientRegistrationRequest>,
    ) -> Result<(ClientRegistrationResponseSuccess, Value), Refusal> {
        let brand = self.brand(&ctx)?;
        let v = self.validate(&ctx, body).await?;
        let now = crate::time::now();
        let rat = crate::crypto::random_token();
        let row = client::Model {
            client_id: uuid::Uuid::new_v4().to_string(),
            brand: brand.id().to_string(),
            ssa_key: format!("{}/{}", brand.id(), v.software_id),
            software_id: v.software_id,
            org_id: v.org_id,
            jwks_uri: v.jwks_uri,
            scope: v.scope,
            metadata: serde_json::to_string(&v.metadata).map_err(AuthError::from)?,
            rat_hash: crate::crypto::digest(&rat),
            created_at: now,
            updated_at: now,
        };
        match self.server.store.insert_client(row.clone()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(bad(
                    Code::UnapprovedSoftwareStatement,
                    "a client is already registered for this software statement",
                ));
            }
            Err(err) => return Err(err.into()),
        }
        tracing::info!(client_id = %row.client_id, "client registered");
        let (got, extra) = Self::describe(&brand, &row, &rat)?;
        Ok((
            ClientRegistrationResponseSuccess {
                client_id: got.client_id,
                client_secret: None,
                client_id_issued_at: got.client_id_issued_at,
                client_secret_expires_at: None,
                registration_client_uri: got.registration_client_uri,
                registration_access_token: got.registration_access_token,
            },
            extra,
        ))
    }

    async fn read(
        &self,
        ctx: RequestContext,
        client_id: &str,
    ) -> Result<(ClientGetResponseSuccess, Value), Refusal> {
        let (brand, client, rat) = self.managed_client(&ctx, client_id).await?;
        Self::describe(&brand, &client, &rat)
    }

    async fn update(
        &self,
        ctx: RequestContext,
        client_id: &str,
        body: Option<ClientRegistrationRequest>,
    ) -> Result<(ClientGetResponseSuccess, Value), Refusal> {
        let (brand, client, rat) = self.managed_client(&ctx, client_id).await?;
        // DCM answers a redirect URI outside the SSA with invalid_client_metadata (§2.5).
        let v = self
            .validate(&ctx, body)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Bad(Code::InvalidRedirectUri, d) => bad(Code::InvalidClientMetadata, d),
                other => other,
            })?;
        if v.software_id != client.software_id || v.org_id != client.org_id {
            return Err(bad(
                Code::UnapprovedSoftwareStatement,
                "the software statement is for another software",
            ));
        }
        let updated = client::Model {
            jwks_uri: v.jwks_uri,
            scope: v.scope,
            metadata: serde_json::to_string(&v.metadata).map_err(AuthError::from)?,
            updated_at: crate::time::now(),
            ..client
        };
        if !self.server.store.update_client(updated.clone()).await? {
            return Err(Refusal::Unauthorized("the client no longer exists".into()));
        }
        Self::describe(&brand, &updated, &rat)
    }

    async fn delete(&self, ctx: RequestContext, client_id: &str) -> Result<(), Refusal> {
        let (brand, client, _) = self.managed_client(&ctx, client_id).await?;
        self.server
            .store
            .delete_client(brand.id(), &client.client_id)
            .await?;
        tracing::info!(client_id = %client.client_id, "client deleted");
        Ok(())
    }
}

#[aberta_runtime::reexport::async_trait]
impl DcrApi for Registration {
    async fn get_register(
        &self,
        ctx: RequestContext,
        request: GetRegisterRequest,
    ) -> GetRegisterResponse {
        match self.read(ctx, &request.client_id.0).await {
            Ok((got, extra)) => {
                dcr_guard::set_metadata(extra);
                GetRegisterResponse::Ok(Json(got))
            }
            Err(refusal) => refuse!(GetRegisterResponse, GetRegisterResponse401, refusal),
        }
    }

    async fn put_register(
        &self,
        ctx: RequestContext,
        request: PutRegisterRequest,
    ) -> PutRegisterResponse {
        match self.update(ctx, &request.client_id.0, request.body).await {
            Ok((got, extra)) => {
                dcr_guard::set_metadata(extra);
                PutRegisterResponse::Ok(Json(got))
            }
            Err(refusal) => refuse!(PutRegisterResponse, PutRegisterResponse401, refusal),
        }
    }

    async fn post_register(
        &self,
        ctx: RequestContext,
        request: PostRegisterRequest,
    ) -> PostRegisterResponse {
        match self.register(ctx, request.body).await {
            Ok((created, extra)) => {
                dcr_guard::set_metadata(extra);
                PostRegisterResponse::Created(Json(created))
            }
            Err(Refusal::Unauthorized(d)) => {
                tracing::info!(description = %d, "registration unauthorised");
                PostRegisterResponse::Unauthorized(Json(
                    ofb_dcr_v2::models::PostRegisterResponse401 {
                        error: Some(ofb_dcr_v2::models::PostRegisterResponse401Error::InvalidToken),
                        error_description: Some(d),
                    },
                ))
            }
            Err(refusal) => match refusal {
                Refusal::Bad(code, d) => PostRegisterResponse::BadRequest(error_body(code, d)),
                Refusal::BadOther(code, d) => {
                    dcr_guard::override_error(code);
                    PostRegisterResponse::BadRequest(error_body(Code::InvalidClientMetadata, d))
                }
                _ => PostRegisterResponse::BadRequest(error_body(
                    Code::InvalidClientMetadata,
                    "the registration could not be processed; try again".to_string(),
                )),
            },
        }
    }

    async fn delete_register(
        &self,
        ctx: RequestContext,
        request: DeleteRegisterRequest,
    ) -> DeleteRegisterResponse {
        match self.delete(ctx, &request.client_id.0).await {
            Ok(()) => DeleteRegisterResponse::NoContent,
            Err(refusal) => refuse!(DeleteRegisterResponse, DeleteRegisterResponse401, refusal),
        }
    }

    async fn get_register_client_id(
        &self,
        ctx: RequestContext,
        request: GetRegisterClientIdRequest,
    ) -> GetRegisterClientIdResponse {
        match self.read(ctx, &request.client_id.0).await {
            Ok((got, extra)) => {
                dcr_guard::set_metadata(extra);
                GetRegisterClientIdResponse::Ok(Json(got))
            }
            Err(refusal) => refuse!(
                GetRegisterClientIdResponse,
                GetRegisterClientIdResponse401,
                refusal
            ),
        }
    }

    async fn put_register_client_id(
        &self,
        ctx: RequestContext,
        request: PutRegisterClientIdRequest,
    ) -> PutRegisterClientIdResponse {
        match self.update(ctx, &request.client_id.0, request.body).await {
            Ok((got, extra)) => {
                dcr_guard::set_metadata(extra);
                PutRegisterClientIdResponse::Ok(Json(got))
            }
            Err(refusal) => refuse!(
                PutRegisterClientIdResponse,
                PutRegisterClientIdResponse401,
                refusal
            ),
        }
    }

    async fn delete_register_client_id(
        &self,
        ctx: RequestContext,
        request: DeleteRegisterClientIdRequest,
    ) -> DeleteRegisterClientIdResponse {
        match self.delete(ctx, &request.client_id.0).await {
            Ok(()) => DeleteRegisterClientIdResponse::NoContent,
            Err(refusal) => refuse!(
                DeleteRegisterClientIdResponse,
                DeleteRegisterClientIdResponse401,
                refusal
            ),
        }
    }
}
