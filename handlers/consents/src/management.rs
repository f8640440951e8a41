//! The bank's own consent management API (not regulated): its channels list a customer's
//! consents, read one with its history, and revoke one for the customer or for the bank.
//! Served on an internal listener; every call needs `Authorization: Bearer <admin token>`.

use std::sync::Arc;

use aberta_auth::AuthServer;
use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, SecurityScheme};

use crate::core::Consents;
use crate::records::{ConsentRecord, HistoryRecord, LinkedResource};
use crate::state::{Action, Status};
use crate::time;

/// The management routes: `/consents…` plus `/openapi.json`.
pub fn management_routes(
    consents: Arc<Consents>,
    auth: Arc<AuthServer>,
    admin_token: String,
) -> poem::Route {
    // The authorization server is not needed yet: revocation goes through the shared store.
    drop(auth);
    let service = OpenApiService::new(
        Management {
            consents,
            admin_token,
        },
        "Aberta consent management",
        "1.0.0",
    );
    let spec = service.spec_endpoint();
    poem::Route::new()
        .at("/openapi.json", spec)
        .nest("/", service)
}

struct Management {
    consents: Arc<Consents>,
    admin_token: String,
}

#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
struct AdminToken(Bearer);

/// A consent as the bank's channels see it (no documents: the caller already knows them).
#[derive(Debug, Object)]
struct ConsentSummary {
    consent_id: String,
    brand: String,
    client_id: String,
    status: String,
    permissions: Vec<String>,
    creation_date_time: String,
    status_update_date_time: String,
    /// Absent: no end date.
    expiration_date_time: Option<String>,
    rejected_by: Option<String>,
    rejection_reason: Option<String>,
}

#[derive(Debug, Object)]
struct HistoryEntry {
    from_status: Option<String>,
    to_status: String,
    actor: String,
    reason: Option<String>,
    date_time: String,
}

#[derive(Debug, Object)]
struct ResourceEntry {
    resource_id: String,
    resource_type: String,
    status: String,
}

#[derive(Debug, Object)]
struct ConsentDetail {
    consent: ConsentSummary,
    history: Vec<HistoryEntry>,
    resources: Vec<ResourceEntry>,
}

#[derive(Debug, Object)]
struct Problem {
    message: String,
}

fn problem(message: &str) -> Json<Problem> {
    Json(Problem {
        message: message.to_string(),
    })
}

#[derive(ApiResponse)]
enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<ConsentSummary>>),
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

// Built once per request and returned at once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
enum DetailResponse {
    #[oai(status = 200)]
    Ok(Json<ConsentDetail>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

// Built once per request and returned at once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
enum RevokeResponse {
    #[oai(status = 200)]
    Ok(Json<ConsentSummary>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// The consent is already rejected.
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

fn summary(r: &ConsentRecord) -> ConsentSummary {
    ConsentSummary {
        consent_id: r.consent_id.clone(),
        brand: r.brand.clone(),
        client_id: r.client_id.clone(),
        status: r.status.as_str().to_string(),
        permissions: r.permissions.clone(),
        creation_date_time: time::format(r.created_at),
        status_update_date_time: time::format(r.status_updated_at),
        expiration_date_time: r.expires_at.map(time::format),
        rejected_by: r.rejection.map(|x| x.by.as_str().to_string()),
        rejection_reason: r.rejection.map(|x| x.reason.as_str().to_string()),
    }
}

fn history_entry(h: HistoryRecord) -> HistoryEntry {
    HistoryEntry {
        from_status: h.from_status,
        to_status: h.to_status,
        actor: h.actor,
        reason: h.reason,
        date_time: time::format(h.at),
    }
}

fn resource_entry(r: LinkedResource) -> ResourceEntry {
    ResourceEntry {
        resource_id: r.resource_id,
        resource_type: r.resource_type,
        status: r.status,
    }
}

fn is_document(value: &str) -> bool {
    let cpf = value.len() == 11 && value.bytes().all(|b| b.is_ascii_digit());
    let cnpj = value.len() == 14
        && value[..12]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && value[12..].bytes().all(|b| b.is_ascii_digit());
    cpf || cnpj
}

impl Management {
    fn admitted(&self, token: &AdminToken) -> bool {
        aberta_store::same_secret(&token.0.token, &self.admin_token)
    }

    async fn revoke(&self, token: AdminToken, consent_id: &str, action: Action) -> RevokeResponse {
        if !self.admitted(&token) {
            return RevokeResponse::Unauthorized(problem("bad admin token"));
        }
        let record = match self.consents.get_any_brand(consent_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return RevokeResponse::NotFound(problem("no such consent")),
            Err(err) => {
                tracing::error!(%err, "management read");
                return RevokeResponse::Internal(problem("internal error"));
            }
        };
        let actor = match action {
            Action::BankRevoke => "ASPSP",
            _ => "USER",
        };
        match self
            .consents
            .act(&record.brand, consent_id, action, actor)
            .await
        {
            Ok(Some(Ok(r))) => RevokeResponse::Ok(Json(summary(&r))),
            Ok(Some(Err(_))) => {
                RevokeResponse::Conflict(problem("the consent is already rejected"))
            }
            Ok(None) => RevokeResponse::NotFound(problem("no such consent")),
            Err(err) => {
                tracing::error!(%err, "management revoke");
                RevokeResponse::Internal(problem("internal error"))
            }
        }
    }
}

#[OpenApi]
impl Management {
    /// The consents of a customer: `document` is the CPF of the user who gave them or the
    /// CNPJ of the business they concern.
    #[oai(path = "/consents", method = "get")]
    async fn list(
        &self,
        token: AdminToken,
        document: Query<String>,
        status: Query<Option<String>>,
        brand: Query<Option<String>>,
    ) -> ListResponse {
        if !self.admitted(&token) {
            return ListResponse::Unauthorized(problem("bad admin token"));
        }
        if !is_document(&document.0) {
            return ListResponse::BadRequest(problem("document must be a CPF or a CNPJ"));
        }
        let status = match status.0.as_deref() {
            None => None,
            Some(s) => match Status::parse(s) {
                Some(s) => Some(s),
                None => return ListResponse::BadRequest(problem("unknown status")),
            },
        };
        match self
            .consents
            .find_by_document(&document.0, status, brand.0.as_deref())
            .await
        {
            Ok(records) => ListResponse::Ok(Json(records.iter().map(summary).collect())),
            Err(err) => {
                tracing::error!(%err, "management list");
                ListResponse::Internal(problem("internal error"))
            }
        }
    }

    /// One consent with its full history and linked resources.
    #[oai(path = "/consents/:consent_id", method = "get")]
    async fn detail(&self, token: AdminToken, consent_id: Path<String>) -> DetailResponse {
        if !self.admitted(&token) {
            return DetailResponse::Unauthorized(problem("bad admin token"));
        }
        let load = async {
            let Some(record) = self.consents.get_any_brand(&consent_id.0).await? else {
                return Ok(None);
            };
            let history = self.consents.history(&consent_id.0).await?;
            let resources = self.consents.linked_resources(&consent_id.0).await?;
            Ok::<_, crate::ConsentsError>(Some(ConsentDetail {
                consent: summary(&record),
                history: history.into_iter().map(history_entry).collect(),
                resources: resources.into_iter().map(resource_entry).collect(),
            }))
        };
        match load.await {
            Ok(Some(detail)) => DetailResponse::Ok(Json(detail)),
            Ok(None) => DetailResponse::NotFound(problem("no such consent")),
            Err(err) => {
                tracing::error!(%err, "management detail");
                DetailResponse::Internal(problem("internal error"))
            }
        }
    }

    /// The customer revokes the consent through the bank's channels (`rejectedBy=USER`).
    #[oai(path = "/consents/:consent_id", method = "delete")]
    async fn revoke_for_customer(
        &self,
        token: AdminToken,
        consent_id: Path<String>,
    ) -> RevokeResponse {
        self.revoke(token, &consent_id.0, Action::UserRevoke).await
    }

    /// The bank revokes the consent for a security reason (`rejectedBy=ASPSP`,
    /// `INTERNAL_SECURITY_REASON`).
    #[oai(path = "/consents/:consent_id/revoke", method = "post")]
    async fn revoke_for_bank(&self, token: AdminToken, consent_id: Path<String>) -> RevokeResponse {
        self.revoke(token, &consent_id.0, Action::BankRevoke).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_secrets() {
        assert!(is_document("76109277673"));
        assert!(is_document("12ABC34501DE35"));
        assert!(!is_document("7610927767"));
        assert!(!is_document("12abc34501de35"));
    }
}
