//! The consents 3.3.1 API (`ofb_consents_v3::server::ConsentsApi`) over [`Consents`].
//!
//! Error policy, checked in this order: a missing, inactive or wrongly bound token answers 401;
//! a token of the wrong grant type or scope, or a consent of another client, 403; an unknown
//! consent 404; a business rule 422 with the spec's code for the operation; an internal
//! failure 500 (logged, without documents). A refused call changes nothing.

use std::sync::Arc;

use aberta_auth::{AuthServer, TokenInfo};
use aberta_runtime::RequestContext;
use aberta_runtime::error_body::Rejection;
use aberta_runtime::payload::Json;
use aberta_runtime::reexport::poem::http::StatusCode;
use async_trait::async_trait;
use ofb_consents_v3::models::{
    self, LinksConsents, ResponseConsent, ResponseConsentData, ResponseConsentExtensions,
    ResponseConsentExtensionsData, ResponseConsentRead, ResponseConsentReadData,
    ResponseConsentReadDataJourney, ResponseConsentReadDataRejection,
    ResponseConsentReadDataRejectionReason, ResponseConsentReadExtensions,
    ResponseConsentReadExtensionsData,
};
use ofb_consents_v3::server::{
    ConsentsApi, ConsentsDeleteConsentsConsentIdRequest, ConsentsDeleteConsentsConsentIdResponse,
    ConsentsGetConsentsConsentIdExtensionsRequest, ConsentsGetConsentsConsentIdExtensionsResponse,
    ConsentsGetConsentsConsentIdRequest, ConsentsGetConsentsConsentIdResponse,
    ConsentsPostConsentsConsentIdExtendsRequest, ConsentsPostConsentsConsentIdExtendsResponse,
    ConsentsPostConsentsRequest, ConsentsPostConsentsResponse,
};
use serde::de::DeserializeOwned;

use crate::core::{Consents, tpp};
use crate::error::ConsentsError;
use crate::permissions;
use crate::records::{ConsentRecord, NewConsent, NewExtension};
use crate::state::{Action, Refusal};
use crate::time;

/// The consents API over `consents`, checking tokens with `auth`.
pub fn consents_api(consents: Arc<Consents>, auth: Arc<AuthServer>) -> Arc<dyn ConsentsApi> {
    Arc::new(ConsentsService { consents, auth })
}

struct ConsentsService {
    consents: Arc<Consents>,
    auth: Arc<AuthServer>,
}

/// A refusal before it becomes the operation's response type.
#[derive(Debug)]
enum Refused {
    Unauthorized(&'static str),
    Forbidden(&'static str),
    NotFound,
    Unprocessable {
        code: &'static str,
        title: &'static str,
        detail: String,
    },
    Internal,
}

impl From<ConsentsError> for Refused {
    fn from(err: ConsentsError) -> Self {
        tracing::error!(%err, "consents request failed");
        Self::Internal
    }
}

fn unprocessable(code: &'static str, title: &'static str, detail: &str) -> Refused {
    Refused::Unprocessable {
        code,
        title,
        detail: detail.to_string(),
    }
}

fn invalid_expiry() -> Refused {
    unprocessable(
        "DATA_EXPIRACAO_INVALIDA",
        "Data de expiração inválida",
        "expirationDateTime must be a future date later than the current one",
    )
}

/// A spec enum from its wire name.
fn wire<T: DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).ok()
}

fn wire_all<T: DeserializeOwned>(values: &[String]) -> Vec<T> {
    values.iter().filter_map(|v| wire(v)).collect()
}

/// The OFB error each operation's generated `From<Rejection>` puts on its declared variant.
impl From<Refused> for Rejection {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Unauthorized(detail) => Rejection::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Não autorizado",
                detail,
            ),
            Refused::Forbidden(detail) => {
                Rejection::new(StatusCode::FORBIDDEN, "FORBIDDEN", "Acesso negado", detail)
            }
            Refused::NotFound => Rejection::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Consentimento não encontrado",
                "no consent with this id",
            ),
            Refused::Internal => Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "Erro interno",
                "internal error",
            ),
            Refused::Unprocessable {
                code,
                title,
                detail,
            } => Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, code, title, detail),
        }
    }
}

impl ConsentsService {
    async fn token(&self, ctx: &RequestContext) -> Result<TokenInfo, Refused> {
        match self.auth.check_bearer(ctx).await {
            Ok(Ok(info)) => Ok(info),
            Ok(Err(refusal)) => {
                tracing::info!(?refusal, "consents call without a usable token");
                Err(Refused::Unauthorized(
                    "the access token is missing, inactive or bound to another certificate",
                ))
            }
            Err(err) => {
                tracing::error!(%err, "checking a token");
                Err(Refused::Internal)
            }
        }
    }

    /// Create, read and delete take a client_credentials token with scope `consents`.
    async fn client_token(&self, ctx: &RequestContext) -> Result<TokenInfo, Refused> {
        let info = self.token(ctx).await?;
        if info.is_customer_token() || !info.has_scope("consents") {
            return Err(Refused::Forbidden(
                "this operation takes a client_credentials token with scope consents",
            ));
        }
        Ok(info)
    }

    /// The consent, when it exists in the token's brand and belongs to the token's client.
    async fn owned(&self, info: &TokenInfo, consent_id: &str) -> Result<ConsentRecord, Refused> {
        let record = self
            .consents
            .get(&info.brand, consent_id)
            .await?
            .ok_or(Refused::NotFound)?;
        if record.client_id != info.client_id {
            return Err(Refused::Forbidden("the consent belongs to another client"));
        }
        Ok(record)
    }

    async fn create(
        &self,
        ctx: &RequestContext,
        request: ConsentsPostConsentsRequest,
    ) -> Result<ResponseConsent, Refused> {
        let info = self.client_token(ctx).await?;
        let data = request.body.data;
        let requested: Vec<&str> = data.permissions.iter().map(|p| p.as_str()).collect();
        let granted = permissions::validate(
            &requested,
            data.business_entity.is_some(),
            &self.consents.config().offered,
        )
        .map_err(|e| unprocessable(e.code(), e.title(), e.detail()))?;
        let now = self.consents.now();
        let expires_at = match data.expiration_date_time.as_deref() {
            None => None,
            Some(value) => match time::parse(value) {
                Some(t) if t > now => Some(t),
                _ => return Err(invalid_expiry()),
            },
        };
        let new = NewConsent {
            client_id: info.client_id.clone(),
            logged_user_cpf: data
                .logged_user
                .document
                .identification
                .as_str()
                .to_string(),
            logged_user_rel: data.logged_user.document.rel.clone(),
            business_cnpj: data
                .business_entity
                .as_ref()
                .map(|b| b.document.identification.clone()),
            business_rel: data
                .business_entity
                .as_ref()
                .map(|b| b.document.rel.clone()),
            permissions: granted,
            expires_at,
            is_linked: data.is_linked,
        };
        let record = self.consents.create(&info.brand, new).await?;
        Ok(ResponseConsent {
            data: ResponseConsentData {
                consent_id: record.consent_id.clone(),
                creation_date_time: time::format(record.created_at),
                status: wire(record.status.as_str()).ok_or(Refused::Internal)?,
                status_update_date_time: time::format(record.status_updated_at),
                permissions: wire_all(&record.permissions),
                expiration_date_time: record.expires_at.map(time::format),
            },
            links: Some(LinksConsents {
                self_: consent_url(ctx, &record.consent_id),
            }),
            meta: Some(models::Meta {
                request_date_time: aberta_runtime::error_body::now(),
            }),
        })
    }

    async fn read(
        &self,
        ctx: &RequestContext,
        consent_id: &str,
    ) -> Result<ResponseConsentRead, Refused> {
        let info = self.client_token(ctx).await?;
        let record = self.owned(&info, consent_id).await?;
        read_body(ctx, &record)
    }

    async fn delete(&self, ctx: &RequestContext, consent_id: &str) -> Result<(), Refused> {
        let info = self.client_token(ctx).await?;
        let record = self.owned(&info, consent_id).await?;
        match self
            .consents
            .act(
                &info.brand,
                &record.consent_id,
                Action::Delete,
                &tpp(&info.client_id),
            )
            .await?
        {
            None => Err(Refused::NotFound),
            Some(Ok(_)) => Ok(()),
            Some(Err(_)) => Err(unprocessable(
                "CONSENTIMENTO_EM_STATUS_REJEITADO",
                "Consentimento em status rejeitado",
                "the consent is already rejected",
            )),
        }
    }

    async fn extensions(
        &self,
        ctx: &RequestContext,
        request: ConsentsGetConsentsConsentIdExtensionsRequest,
    ) -> Result<ResponseConsentReadExtensions, Refused> {
        let consent_id = request.consent_id.0.as_str();
        let info = self.token(ctx).await?;
        let allowed = if info.is_customer_token() {
            token_is_for(&info, consent_id)
        } else {
            info.has_scope("consents")
        };
        if !allowed {
            return Err(Refused::Forbidden(
                "the token gives no access to this consent's renewals",
            ));
        }
        let record = self.owned(&info, consent_id).await?;
        // Below 25 counts as 25 (the spec's PageSize parameter); above 1000 never reaches us.
        let page = request.page.map(|p| p.0).unwrap_or(1).max(1) as u64;
        let page_size = request.page_size.map(|p| p.0).unwrap_or(25).clamp(25, 1000) as u64;
        let (items, total) = self
            .consents
            .extensions(&info.brand, &record.consent_id, page, page_size)
            .await?;
        let total_pages = total.div_ceil(page_size).max(1);
        let mut data = Vec::with_capacity(items.len());
        for item in items {
            data.push(ResponseConsentReadExtensionsData {
                expiration_date_time: item.expires_at.map(time::format),
                logged_user: models::LoggedUserExtensions {
                    document: models::LoggedUserDocumentExtensions {
                        identification: aberta_runtime::shared::Cpf::try_from(item.logged_user_cpf)
                            .map_err(|_| Refused::Internal)?,
                        rel: item.logged_user_rel,
                    },
                },
                request_date_time: time::format(item.requested_at),
                previous_expiration_date_time: item.previous_expires_at.map(time::format),
                x_fapi_customer_ip_address: Some(item.customer_ip),
                x_customer_user_agent: Some(item.customer_user_agent),
            });
        }
        let base = format!("{}/extensions", consent_url(ctx, &record.consent_id));
        let link = |p: u64| format!("{base}?page={p}&page-size={page_size}");
        let before = page > 1;
        let after = page < total_pages;
        Ok(ResponseConsentReadExtensions {
            data,
            links: Some(models::Links {
                self_: link(page),
                first: before.then(|| link(1)),
                prev: before.then(|| link((page - 1).min(total_pages))),
                next: after.then(|| link(page + 1)),
                last: after.then(|| link(total_pages)),
            }),
            meta: Some(models::MetaExtensions {
                total_records: i32::try_from(total).unwrap_or(i32::MAX),
                total_pages: i32::try_from(total_pages).unwrap_or(i32::MAX),
                request_date_time: aberta_runtime::error_body::now(),
            }),
        })
    }

    async fn extend(
        &self,
        ctx: &RequestContext,
        request: ConsentsPostConsentsConsentIdExtendsRequest,
    ) -> Result<ResponseConsentExtensions, Refused> {
        let consent_id = request.consent_id.0.as_str();
        let info = self.token(ctx).await?;
        if !info.is_customer_token() {
            return Err(Refused::Forbidden(
                "renewing takes an authorization_code token of the consent",
            ));
        }
        if !token_is_for(&info, consent_id) {
            return Err(Refused::Forbidden(
                "the token was issued for another consent",
            ));
        }
        let record = self.owned(&info, consent_id).await?;
        let data = request.body.data;
        // Only the customer who gave the consent (and, for a business, its CNPJ) renews it.
        if data.logged_user.document.identification.as_str() != record.logged_user_cpf {
            return Err(Refused::Forbidden(
                "loggedUser is not the customer of this consent",
            ));
        }
        let business = data
            .business_entity
            .as_ref()
            .map(|b| b.document.identification.as_str());
        if business != record.business_cnpj.as_deref() {
            return Err(Refused::Forbidden(
                "businessEntity does not match the consent's",
            ));
        }
        let expires_at = match data.expiration_date_time.as_deref() {
            None => None,
            Some(value) => Some(time::parse(value).ok_or_else(invalid_expiry)?),
        };
        let ext = NewExtension {
            expires_at,
            logged_user_cpf: data
                .logged_user
                .document
                .identification
                .as_str()
                .to_string(),
            logged_user_rel: data.logged_user.document.rel.clone(),
            customer_ip: request.x_fapi_customer_ip_address.0.clone(),
            customer_user_agent: request.x_customer_user_agent.0.clone(),
        };
        let record = match self.consents.extend(&info.brand, consent_id, ext).await? {
            None => return Err(Refused::NotFound),
            Some(Ok(record)) => record,
            Some(Err(Refusal::InvalidExpiry)) => return Err(invalid_expiry()),
            Some(Err(_)) => {
                return Err(unprocessable(
                    "ESTADO_CONSENTIMENTO_INVALIDO",
                    "Estado inválido do consentimento",
                    "only an AUTHORISED consent can be renewed",
                ));
            }
        };
        Ok(ResponseConsentExtensions {
            data: ResponseConsentExtensionsData {
                consent_id: record.consent_id.clone(),
                creation_date_time: time::format(record.created_at),
                status: wire(record.status.as_str()).ok_or(Refused::Internal)?,
                status_update_date_time: time::format(record.status_updated_at),
                permissions: wire_all(&record.permissions),
                expiration_date_time: record.expires_at.map(time::format),
            },
            links: Some(LinksConsents {
                self_: consent_url(ctx, &record.consent_id),
            }),
            meta: Some(models::Meta {
                request_date_time: aberta_runtime::error_body::now(),
            }),
        })
    }
}

/// Whether a customer token was issued for `consent_id`.
fn token_is_for(info: &TokenInfo, consent_id: &str) -> bool {
    info.consent_id.as_deref() == Some(consent_id)
        || info.has_scope(&format!("consent:{consent_id}"))
}

fn consent_url(ctx: &RequestContext, consent_id: &str) -> String {
    let authority = ctx.authority.as_deref().unwrap_or("localhost");
    format!(
        "https://{authority}{}/consents/{consent_id}",
        ofb_consents_v3::server::BASE_PATH
    )
}

fn read_body(ctx: &RequestContext, record: &ConsentRecord) -> Result<ResponseConsentRead, Refused> {
    let rejection = match record.rejection {
        Some(r) => Some(ResponseConsentReadDataRejection {
            rejected_by: wire(r.by.as_str()).ok_or(Refused::Internal)?,
            reason: ResponseConsentReadDataRejectionReason {
                code: wire(r.reason.as_str()).ok_or(Refused::Internal)?,
                additional_information: record.rejection_info.clone(),
            },
        }),
        None => None,
    };
    Ok(ResponseConsentRead {
        data: ResponseConsentReadData {
            consent_id: record.consent_id.clone(),
            creation_date_time: time::format(record.created_at),
            status: wire(record.status.as_str()).ok_or(Refused::Internal)?,
            status_update_date_time: time::format(record.status_updated_at),
            permissions: wire_all(&record.permissions),
            expiration_date_time: record.expires_at.map(time::format),
            rejection,
            journey: record
                .is_linked
                .map(|linked| ResponseConsentReadDataJourney {
                    is_linked: Some(linked),
                    link_id: None,
                }),
        },
        links: Some(LinksConsents {
            self_: consent_url(ctx, &record.consent_id),
        }),
        meta: Some(models::Meta {
            request_date_time: aberta_runtime::error_body::now(),
        }),
    })
}

#[async_trait]
impl ConsentsApi for ConsentsService {
    async fn consents_post_consents(
        &self,
        ctx: RequestContext,
        request: ConsentsPostConsentsRequest,
    ) -> ConsentsPostConsentsResponse {
        use ConsentsPostConsentsResponse as R;
        match self.create(&ctx, request).await {
            Ok(body) => R::Created(Json(body), None, None),
            Err(refused) => Rejection::from(refused).into(),
        }
    }

    async fn consents_get_consents_consent_id(
        &self,
        ctx: RequestContext,
        request: ConsentsGetConsentsConsentIdRequest,
    ) -> ConsentsGetConsentsConsentIdResponse {
        use ConsentsGetConsentsConsentIdResponse as R;
        match self.read(&ctx, &request.consent_id.0).await {
            Ok(body) => R::Ok(Json(body), None, None),
            Err(refused) => Rejection::from(refused).into(),
        }
    }

    async fn consents_delete_consents_consent_id(
        &self,
        ctx: RequestContext,
        request: ConsentsDeleteConsentsConsentIdRequest,
    ) -> ConsentsDeleteConsentsConsentIdResponse {
        use ConsentsDeleteConsentsConsentIdResponse as R;
        match self.delete(&ctx, &request.consent_id.0).await {
            Ok(()) => R::NoContent(None, None),
            Err(refused) => Rejection::from(refused).into(),
        }
    }

    async fn consents_get_consents_consent_id_extensions(
        &self,
        ctx: RequestContext,
        request: ConsentsGetConsentsConsentIdExtensionsRequest,
    ) -> ConsentsGetConsentsConsentIdExtensionsResponse {
        use ConsentsGetConsentsConsentIdExtensionsResponse as R;
        match self.extensions(&ctx, request).await {
            Ok(body) => R::Ok(Json(body), None, None),
            Err(refused) => Rejection::from(refused).into(),
        }
    }

    async fn consents_post_consents_consent_id_extends(
        &self,
        ctx: RequestContext,
        request: ConsentsPostConsentsConsentIdExtendsRequest,
    ) -> ConsentsPostConsentsConsentIdExtendsResponse {
        use ConsentsPostConsentsConsentIdExtendsResponse as R;
        match self.extend(&ctx, request).await {
            Ok(body) => R::Created(Json(body), None, None),
            Err(refused) => Rejection::from(refused).into(),
        }
    }
}
