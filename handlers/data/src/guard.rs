//! The checks every protected call passes before the bank is asked anything (requirements
//! §1.13), in this order: the token (401), its customer grant and consent binding (401), the
//! API's scope (403), the consent: known (401), the client's (403), `AUTHORISED` and unexpired
//! (401), granting the endpoint's permission (403); the path's resource: linked to the consent
//! (403) and shareable now (403 with its `STATUS_RESOURCE_*` code); then the operational
//! limit (423). Reads: the token check and one consent read, plus the counter when limits
//! are on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aberta_auth::{AuthServer, BearerRefusal, TokenInfo};
use aberta_runtime::RequestContext;
use aberta_runtime::connector::{ConnectorContext, ConnectorError};
use aberta_runtime::shared::{Cnpj, Cpf};
use sea_orm::DatabaseConnection;

use crate::consent::{AUTHORISED, ConsentGate, DataConsent};
use crate::endpoints::Endpoint;
use crate::error::DataError;
use crate::limits::{self, CallKey, OperationalLimits};
use crate::recall::{RecallKeys, RecallScope};
use crate::refusal::Refusal;

/// What the regulatory budget leaves the bank by default (requirements §4: p95 1.5 s for the
/// high-frequency endpoints).
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(1500);

/// The guard shared by the eight APIs.
pub struct ResourceGuard {
    auth: Arc<AuthServer>,
    gate: Arc<dyn ConsentGate>,
    limits: OperationalLimits,
    db: DatabaseConnection,
    budget: Duration,
    recall: RecallKeys,
}

/// A call the guard let through: what to tell the connector, and the consent it read.
#[derive(Debug)]
pub struct Access {
    pub connector: ConnectorContext,
    pub consent: DataConsent,
    pub client_id: String,
    /// The `pagination-key` the answer's links carry: the one presented, when it was good,
    /// or a new one for this client, consent, operation and resource.
    pub pagination_key: Option<String>,
    counted: Option<CallKey>,
}

impl ResourceGuard {
    /// The guard over `store`'s database; creates the operational-limit table.
    pub async fn new(
        auth: Arc<AuthServer>,
        gate: Arc<dyn ConsentGate>,
        limits: OperationalLimits,
        store: &aberta_store::Store,
        keyring: Arc<aberta_store::KeyRing>,
    ) -> Result<Self, DataError> {
        limits::migrate(store.connection()).await?;
        Ok(Self {
            auth,
            gate,
            limits,
            recall: RecallKeys::new(keyring),
            db: store.connection().clone(),
            budget: DEFAULT_BUDGET,
        })
    }

    /// How long the bank may take for one call.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Runs every check for `endpoint` (and the path's `resource_id`). A `pagination_key`
    /// this platform issued for the same client, consent, operation and resource marks a
    /// re-call, which operational limits do not count; any other is ignored.
    pub async fn check(
        &self,
        ctx: &RequestContext,
        endpoint: &'static Endpoint,
        resource_id: Option<&str>,
        pagination_key: Option<&str>,
    ) -> Result<Access, Refusal> {
        let token = match self.auth.check_bearer(ctx).await {
            Ok(Ok(token)) => token,
            Ok(Err(refusal)) => return Err(bearer_refusal(refusal)),
            Err(err) => {
                tracing::error!(error = %err, "token check failed");
                return Err(Refusal::internal("the token could not be checked"));
            }
        };
        let consent = after_token(
            self.gate.as_ref(),
            &token,
            endpoint,
            resource_id,
            unix_now(),
        )
        .await?;
        let connector = self.connector_context(ctx, &token.brand, &consent)?;
        let now = unix_now();
        let scope = RecallScope {
            brand: &token.brand,
            client_id: &token.client_id,
            consent_id: &consent.consent_id,
            operation_id: endpoint.operation_id,
            resource_id: resource_id.unwrap_or_default(),
        };
        let recall = pagination_key.filter(|key| self.recall.verify(key, &scope, now));
        let pagination_key = match recall {
            Some(key) => Some(key.to_string()),
            None if endpoint.limited => Some(self.recall.issue(&scope, now)),
            None => None,
        };
        let counted = self
            .admit(&token, &consent, endpoint, resource_id, recall.is_some())
            .await?;
        Ok(Access {
            connector,
            consent,
            client_id: token.client_id,
            pagination_key,
            counted,
        })
    }

    /// Gives back the operational-limit unit of a call the bank did not answer with data.
    pub async fn settle<T>(&self, access: &Access, outcome: &Result<T, ConnectorError>) {
        if outcome.is_ok() {
            return;
        }
        if let Some(key) = &access.counted
            && let Err(err) = limits::decrement(&self.db, key).await
        {
            tracing::warn!(error = %err, "operational-limit counter not given back");
        }
    }

    fn connector_context(
        &self,
        ctx: &RequestContext,
        brand: &str,
        consent: &DataConsent,
    ) -> Result<ConnectorContext, Refusal> {
        let customer = Cpf::try_from(consent.customer_cpf.clone()).map_err(|_| {
            tracing::error!(consent_id = %consent.consent_id, "consent holds a malformed CPF");
            Refusal::internal("the consent cannot be served")
        })?;
        let business = match &consent.business_cnpj {
            None => None,
            Some(cnpj) => Some(Cnpj::try_from(cnpj.clone()).map_err(|_| {
                tracing::error!(consent_id = %consent.consent_id, "consent holds a malformed CNPJ");
                Refusal::internal("the consent cannot be served")
            })?),
        };
        Ok(ConnectorContext {
            consent: None,
            brand: brand.to_string(),
            customer: Some(customer),
            business,
            consent_id: Some(consent.consent_id.clone()),
            interaction_id: ctx
                .header(aberta_runtime::fapi_headers::INTERACTION_ID)
                .unwrap_or_default()
                .to_string(),
            deadline: Some(Instant::now() + self.budget),
        })
    }

    async fn admit(
        &self,
        token: &TokenInfo,
        consent: &DataConsent,
        endpoint: &'static Endpoint,
        resource_id: Option<&str>,
        recall: bool,
    ) -> Result<Option<CallKey>, Refusal> {
        let Some(limit) = self.limits.limit_for(endpoint) else {
            return Ok(None);
        };
        if recall {
            return Ok(None);
        }
        let key = CallKey {
            brand: token.brand.clone(),
            client_id: token.client_id.clone(),
            consent_id: consent.consent_id.clone(),
            endpoint: endpoint.operation_id,
            resource_id: resource_id.unwrap_or_default().to_string(),
            month: limits::current_month(),
        };
        let calls = limits::increment(&self.db, &key).await.map_err(|err| {
            tracing::error!(error = %err, "operational-limit counter failed");
            Refusal::internal("the call could not be counted")
        })?;
        if calls > i64::from(limit) {
            if let Err(err) = limits::decrement(&self.db, &key).await {
                tracing::warn!(error = %err, "operational-limit counter not given back");
            }
            return Err(Refusal::locked());
        }
        Ok(Some(key))
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn bearer_refusal(refusal: BearerRefusal) -> Refusal {
    Refusal::unauthorized(refusal.detail())
}

/// Everything after the token check: its grant and scope, then the consent read through
/// `gate` and judged by [`check_consent`].
pub async fn after_token(
    gate: &dyn ConsentGate,
    token: &TokenInfo,
    endpoint: &Endpoint,
    resource_id: Option<&str>,
    now: i64,
) -> Result<DataConsent, Refusal> {
    let consent_id = check_token(token, endpoint)?;
    let consent = gate
        .consent(&token.brand, consent_id)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "consent read failed");
            Refusal::internal("the consent could not be read")
        })?;
    check_consent(
        consent.as_ref(),
        &token.client_id,
        endpoint,
        resource_id,
        now,
    )?;
    consent.ok_or_else(|| Refusal::unauthorized("unknown consent"))
}

/// The token is a customer's, bound to a consent, and carries the API's scope.
pub fn check_token<'t>(token: &'t TokenInfo, endpoint: &Endpoint) -> Result<&'t str, Refusal> {
    if !token.is_customer_token() {
        return Err(Refusal::unauthorized(
            "the token was not issued by a customer authorisation",
        ));
    }
    let Some(consent_id) = token.consent_id.as_deref() else {
        return Err(Refusal::unauthorized("the token is bound to no consent"));
    };
    if !token.has_scope(endpoint.scope) {
        return Err(Refusal::forbidden(format!(
            "the token lacks the scope {}",
            endpoint.scope
        )));
    }
    Ok(consent_id)
}

/// The consent lets `client_id` call `endpoint` on `resource_id` at `now`.
pub fn check_consent(
    consent: Option<&DataConsent>,
    client_id: &str,
    endpoint: &Endpoint,
    resource_id: Option<&str>,
    now: i64,
) -> Result<(), Refusal> {
    let Some(consent) = consent else {
        return Err(Refusal::unauthorized("unknown consent"));
    };
    if consent.client_id != client_id {
        return Err(Refusal::forbidden("the consent belongs to another client"));
    }
    if consent.status != AUTHORISED {
        return Err(Refusal::unauthorized("the consent is not authorised"));
    }
    if consent.expires_at.is_some_and(|at| at <= now) {
        return Err(Refusal::unauthorized("the consent has expired"));
    }
    if !consent.has_permission(endpoint.permission) {
        return Err(Refusal::forbidden(format!(
            "the consent does not grant {}",
            endpoint.permission
        )));
    }
    let (Some(resource_type), Some(resource_id)) = (endpoint.resource_type, resource_id) else {
        return Ok(());
    };
    let Some(linked) = consent.resource(resource_type, resource_id) else {
        return Err(Refusal::forbidden(
            "the resource is not shared by this consent",
        ));
    };
    match Refusal::for_resource_status(&linked.status) {
        Some(refusal) => Err(refusal),
        None if linked.status == crate::consent::AVAILABLE => Ok(()),
        None => Err(Refusal::forbidden(
            "the resource is not shared by this consent",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::LinkedResource;
    use crate::endpoints;
    use async_trait::async_trait;

    /// Consents held in memory.
    struct VecGate(Vec<(String, DataConsent)>);

    #[async_trait]
    impl ConsentGate for VecGate {
        async fn consent(
            &self,
            brand: &str,
            consent_id: &str,
        ) -> Result<Option<DataConsent>, DataError> {
            Ok(self
                .0
                .iter()
                .find(|(b, c)| b == brand && c.consent_id == consent_id)
                .map(|(_, c)| c.clone()))
        }
    }

    const NOW: i64 = 1_700_000_000;

    fn token() -> TokenInfo {
        TokenInfo {
            brand: "bank".to_string(),
            client_id: "client-1".to_string(),
            scope: "openid accounts consent:urn:bank:c1".to_string(),
            thumbprint: "t".to_string(),
            exp: NOW + 300,
            iat: NOW,
            jti: "j".to_string(),
            grant_id: Some("g".to_string()),
            subject: Some("u".to_string()),
            consent_id: Some("urn:bank:c1".to_string()),
        }
    }

    fn consent() -> DataConsent {
        let linked = |id: &str, status: &str| LinkedResource {
            resource_id: id.to_string(),
            resource_type: "ACCOUNT".to_string(),
            status: status.to_string(),
        };
        DataConsent {
            consent_id: "urn:bank:c1".to_string(),
            client_id: "client-1".to_string(),
            status: "AUTHORISED".to_string(),
            expires_at: Some(NOW + 3600),
            permissions: vec!["ACCOUNTS_READ".to_string(), "RESOURCES_READ".to_string()],
            customer_cpf: "12345678901".to_string(),
            business_cnpj: None,
            resources: vec![
                linked("acc-ok", "AVAILABLE"),
                linked("acc-closed", "UNAVAILABLE"),
                linked("acc-blocked", "TEMPORARILY_UNAVAILABLE"),
                linked("acc-joint", "PENDING_AUTHORISATION"),
            ],
        }
    }

    async fn decide(
        token: &TokenInfo,
        consent: DataConsent,
        endpoint: &Endpoint,
        resource: Option<&str>,
    ) -> Result<DataConsent, Refusal> {
        let gate = VecGate(vec![("bank".to_string(), consent)]);
        after_token(&gate, token, endpoint, resource, NOW).await
    }

    fn status_code(r: Result<DataConsent, Refusal>) -> (u16, String) {
        let refusal = r.unwrap_err();
        (refusal.status, refusal.code.into_owned())
    }

    #[tokio::test]
    async fn an_entitled_call_passes() {
        let got = decide(&token(), consent(), &endpoints::ACCOUNT, Some("acc-ok")).await;
        assert_eq!(got.unwrap().consent_id, "urn:bank:c1");
        assert!(
            decide(&token(), consent(), &endpoints::ACCOUNTS, None)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn token_checks_come_first() {
        let mut client_token = token();
        client_token.grant_id = None;
        // Even with an unknown consent, the token's own defect decides.
        let r = decide(&client_token, consent(), &endpoints::ACCOUNTS, None).await;
        assert_eq!(status_code(r).0, 401);

        let mut unbound = token();
        unbound.consent_id = None;
        assert_eq!(
            status_code(decide(&unbound, consent(), &endpoints::ACCOUNTS, None).await).0,
            401
        );

        // Scope before consent: a token without `accounts` on a revoked consent is a 403.
        let mut no_scope = token();
        no_scope.scope = "openid consent:urn:bank:c1".to_string();
        let mut revoked = consent();
        revoked.status = "REJECTED".to_string();
        let r = decide(&no_scope, revoked, &endpoints::ACCOUNTS, None).await;
        assert_eq!(status_code(r).0, 403);
    }

    #[tokio::test]
    async fn consent_state_gives_401_and_ownership_403() {
        let mut other = consent();
        other.consent_id = "urn:bank:other".to_string();
        assert_eq!(
            status_code(decide(&token(), other, &endpoints::ACCOUNTS, None).await).0,
            401
        );

        let mut foreign = consent();
        foreign.client_id = "client-2".to_string();
        foreign.status = "REJECTED".to_string();
        assert_eq!(
            status_code(decide(&token(), foreign, &endpoints::ACCOUNTS, None).await).0,
            403
        );

        let mut revoked = consent();
        revoked.status = "REJECTED".to_string();
        // Revocation outranks a missing permission.
        let r = decide(&token(), revoked, &endpoints::ACCOUNT_BALANCES, None).await;
        assert_eq!(status_code(r).0, 401);

        let mut expired = consent();
        expired.expires_at = Some(NOW);
        assert_eq!(
            status_code(decide(&token(), expired, &endpoints::ACCOUNTS, None).await).0,
            401
        );

        let mut indeterminate = consent();
        indeterminate.expires_at = None;
        assert!(
            decide(&token(), indeterminate, &endpoints::ACCOUNTS, None)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn permission_before_resource() {
        // No balances permission: 403 even for a resource the consent does not link.
        let r = decide(
            &token(),
            consent(),
            &endpoints::ACCOUNT_BALANCES,
            Some("nope"),
        )
        .await;
        assert_eq!(status_code(r), (403, "FORBIDDEN".to_string()));
    }

    #[tokio::test]
    async fn resources_must_be_linked_and_available() {
        let cases = [
            ("nope", "FORBIDDEN"),
            ("acc-closed", "STATUS_RESOURCE_UNAVAILABLE"),
            ("acc-blocked", "STATUS_RESOURCE_TEMPORARILY_UNAVAILABLE"),
            ("acc-joint", "STATUS_RESOURCE_PENDING_AUTHORISATION"),
        ];
        for (id, code) in cases {
            let r = decide(&token(), consent(), &endpoints::ACCOUNT, Some(id)).await;
            assert_eq!(status_code(r), (403, code.to_string()), "{id}");
        }
        // The same id under another product type is not linked.
        let mut card_token = token();
        card_token.scope.push_str(" credit-cards-accounts");
        let mut with_cards = consent();
        with_cards
            .permissions
            .push("CREDIT_CARDS_ACCOUNTS_READ".to_string());
        let r = decide(
            &card_token,
            with_cards,
            &endpoints::CREDIT_CARD,
            Some("acc-ok"),
        )
        .await;
        assert_eq!(status_code(r).0, 403);
    }

    #[test]
    fn debug_hides_documents() {
        let mut c = consent();
        c.business_cnpj = Some("12345678000199".to_string());
        let shown = format!("{c:?}");
        assert!(!shown.contains("12345678901"));
        assert!(!shown.contains("12345678000199"));
    }
}
