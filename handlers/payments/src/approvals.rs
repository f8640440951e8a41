//! The bank's own API for payment consents that need several approvers (not regulated): its
//! channels record each further approver's decision on a PARTIALLY_ACCEPTED consent. Served
//! on the internal listener; every call needs `Authorization: Bearer <internal token>`.

use std::sync::Arc;

use poem_openapi::auth::Bearer;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, SecurityScheme};

use crate::accounts::ApprovalRules;
use crate::consents::{self, Approved, PaymentConsents, Transition, reason};
use crate::portal::customer_context;

/// The approval routes, to mount at `…/payment-consents`: `/{consentId}/approvals`,
/// `/{consentId}/rejection` and `/openapi.json`.
pub fn approval_routes(
    consents: Arc<PaymentConsents>,
    rules: Arc<dyn ApprovalRules>,
    internal_token: String,
) -> poem::Route {
    let service = OpenApiService::new(
        Approvals {
            consents,
            rules,
            internal_token,
        },
        "Aberta payment consent approvals",
        "1.0.0",
    );
    let spec = service.spec_endpoint();
    poem::Route::new()
        .at("/openapi.json", spec)
        .nest("/", service)
}

struct Approvals {
    consents: Arc<PaymentConsents>,
    rules: Arc<dyn ApprovalRules>,
    internal_token: String,
}

#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
struct InternalToken(Bearer);

/// Who decides: the CPF the bank's channel authenticated.
#[derive(Debug, Object)]
struct Decision {
    approver_document: String,
}

#[derive(Debug, Object)]
struct ConsentState {
    consent_id: String,
    status: String,
    /// Approvals still missing (0 once AUTHORISED).
    approvals_missing: u32,
}

#[derive(Debug, Object)]
struct Problem {
    message: String,
}

#[derive(ApiResponse)]
enum DecisionResponse {
    #[oai(status = 200)]
    Ok(Json<ConsentState>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// The bank's rules do not let this person approve for the customer, or they already
    /// did.
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// The consent is not waiting for approvals.
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

fn problem(message: impl Into<String>) -> Json<Problem> {
    Json(Problem {
        message: message.into(),
    })
}

/// The brand is part of a payment consent id (`urn:<brand>:pix-…`).
fn brand_of(consent_id: &str) -> Option<&str> {
    let mut parts = consent_id.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("urn"), Some(brand), Some(tail)) if tail.starts_with("pix-") => Some(brand),
        _ => None,
    }
}

impl Approvals {
    /// Checks the token, the consent and the approver; the consent's brand when all hold.
    async fn admit<'a>(
        &self,
        token: &InternalToken,
        consent_id: &'a str,
        approver: &str,
    ) -> Result<&'a str, DecisionResponse> {
        if !aberta_store::same_secret(&token.0.token, &self.internal_token) {
            return Err(DecisionResponse::Unauthorized(problem(
                "bad internal token",
            )));
        }
        let not_found = || DecisionResponse::NotFound(problem("no such payment consent"));
        let brand = brand_of(consent_id).ok_or_else(not_found)?;
        let now = chrono::Utc::now().timestamp();
        let consent = match self.consents.get(brand, consent_id, now).await {
            Ok(Some(consent)) => consent,
            Ok(None) => return Err(not_found()),
            Err(err) => {
                tracing::error!(%err, "reading a payment consent for approval");
                return Err(DecisionResponse::Internal(problem("internal error")));
            }
        };
        if consent.status != consents::PARTIALLY_ACCEPTED {
            return Err(DecisionResponse::Conflict(problem(format!(
                "the consent is {}",
                consent.status
            ))));
        }
        match self
            .rules
            .may_approve(&customer_context(&consent), approver)
            .await
        {
            Ok(true) => Ok(brand),
            Ok(false) => Err(DecisionResponse::Forbidden(problem(
                "this person may not approve payments for the customer",
            ))),
            Err(err) => {
                tracing::error!(%err, "the bank's approval rules failed");
                Err(DecisionResponse::Internal(problem("internal error")))
            }
        }
    }
}

#[OpenApi]
impl Approvals {
    /// One more approver approves a PARTIALLY_ACCEPTED payment consent; the last one needed
    /// makes it AUTHORISED.
    #[oai(
        path = "/:consent_id/approvals",
        method = "post",
        operation_id = "approvePaymentConsent"
    )]
    async fn approve(
        &self,
        token: InternalToken,
        consent_id: Path<String>,
        body: Json<Decision>,
    ) -> DecisionResponse {
        let brand = match self
            .admit(&token, &consent_id, &body.approver_document)
            .await
        {
            Ok(brand) => brand,
            Err(answer) => return answer,
        };
        let now = chrono::Utc::now().timestamp();
        let state = |status: &str, missing| {
            DecisionResponse::Ok(Json(ConsentState {
                consent_id: consent_id.0.clone(),
                status: status.to_string(),
                approvals_missing: missing,
            }))
        };
        match self
            .consents
            .approve(brand, &consent_id, &body.approver_document, now)
            .await
        {
            Ok(Approved::Authorised) => state(consents::AUTHORISED, 0),
            Ok(Approved::Waiting(missing)) => state(consents::PARTIALLY_ACCEPTED, missing),
            Ok(Approved::AlreadyApproved) => {
                DecisionResponse::Forbidden(problem("this person already approved it"))
            }
            Ok(Approved::NotFrom(status)) => {
                DecisionResponse::Conflict(problem(format!("the consent is {status}")))
            }
            Ok(Approved::NotFound) => {
                DecisionResponse::NotFound(problem("no such payment consent"))
            }
            Err(err) => {
                tracing::error!(%err, "approving a payment consent");
                DecisionResponse::Internal(problem("internal error"))
            }
        }
    }

    /// An approver declines a PARTIALLY_ACCEPTED payment consent: it is REJECTED
    /// (`REJEITADO_USUARIO`).
    #[oai(
        path = "/:consent_id/rejection",
        method = "post",
        operation_id = "rejectPaymentConsent"
    )]
    async fn reject(
        &self,
        token: InternalToken,
        consent_id: Path<String>,
        body: Json<Decision>,
    ) -> DecisionResponse {
        let brand = match self
            .admit(&token, &consent_id, &body.approver_document)
            .await
        {
            Ok(brand) => brand,
            Err(answer) => return answer,
        };
        let now = chrono::Utc::now().timestamp();
        match self
            .consents
            .reject_from(
                brand,
                &consent_id,
                consents::PARTIALLY_ACCEPTED,
                reason::REJEITADO_USUARIO,
                now,
            )
            .await
        {
            Ok(Transition::Done) => DecisionResponse::Ok(Json(ConsentState {
                consent_id: consent_id.0.clone(),
                status: consents::REJECTED.to_string(),
                approvals_missing: 0,
            })),
            Ok(Transition::NotFrom(status)) => {
                DecisionResponse::Conflict(problem(format!("the consent is {status}")))
            }
            Ok(Transition::NotFound) => {
                DecisionResponse::NotFound(problem("no such payment consent"))
            }
            Err(err) => {
                tracing::error!(%err, "rejecting a payment consent");
                DecisionResponse::Internal(problem("internal error"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brand_comes_from_the_consent_id() {
        assert_eq!(brand_of("urn:aberta-demo:pix-3f1c"), Some("aberta-demo"));
        assert_eq!(brand_of("urn:aberta-demo:3f1c"), None);
        assert_eq!(brand_of("pix-3f1c"), None);
    }
}
