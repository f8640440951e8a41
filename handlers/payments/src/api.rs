//! payments 4.0.0 behind the generated [`PaymentsApi`]: payment consents and Pix payments.
//! Signed bodies are verified before a method runs and its answers signed after it returns
//! (the generated routes and [`crate::codec`]); here are the token, idempotency and business
//! rules, and the calls to the bank.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aberta_auth::{AuthServer, TokenInfo};
use aberta_runtime::RequestContext;
use aberta_runtime::connector::{ConnectorContext, ConnectorError};
use aberta_runtime::error_body::Rejection;
use aberta_runtime::payload::Jwt;
use aberta_runtime::shared::{Cnpj, Cpf};
use aberta_store::{KeyRing, Store};
use async_trait::async_trait;
use chrono::NaiveDate;
use ofb_payments_v4::connector::*;
use ofb_payments_v4::server::*;
use poem::http::StatusCode;
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::consents::{self, PaymentConsent, PaymentConsents, Transition};
use crate::entity::{idempotency as claims, pending};
use crate::error::PaymentsError;
use crate::idempotency::{self, BodyHash, Claim, DetachedTicket, IdempotencyKey};
use crate::notify::Notifier;
use crate::pix::{self, Payments};
use crate::rules::{self, Violation};

/// A payment request left between claim and answer this long is taken for interrupted
/// (unless its instance was seen to restart: see [`PaymentsService::recover_interrupted`]).
const RECOVER_AFTER_S: i64 = 30;
/// How long a duplicate of a request still running waits for its answer before 429.
const DUPLICATE_WAIT: Duration = Duration::from_secs(3);
/// The longest pause between two looks at a key in flight.
const DUPLICATE_POLL_MAX: Duration = Duration::from_millis(250);
/// `Retry-After` once the recovery of a key in flight is overdue (the bank does not answer it).
const OVERDUE_RETRY_S: u64 = 5;
/// How long a starting instance spends finishing its previous run's requests before serving.
const START_RECOVERY_LIMIT: Duration = Duration::from_secs(10);
/// The sealed-column name of the answers kept for idempotency keys.
const ANSWER_COLUMN: &str = "payments_idempotency.response";
/// The sealed column of a pending request's payments.
const PENDING_COLUMN: &str = "payments_pending_request.items";

pub struct PaymentsService {
    auth: Arc<AuthServer>,
    store: Store,
    keyring: Arc<KeyRing>,
    consents: Arc<PaymentConsents>,
    payments: Arc<Payments>,
    bank: Arc<dyn PaymentsConnector>,
    notifier: Arc<Notifier>,
    instance: Instance,
}

/// Who writes a pending payment request: the instance's name, the same across its restarts
/// and never that of another running instance, and this run of it.
#[derive(Debug, Clone)]
struct Instance {
    name: String,
    run: String,
}

impl PaymentsService {
    pub fn new(
        auth: Arc<AuthServer>,
        store: Store,
        keyring: Arc<KeyRing>,
        consents: Arc<PaymentConsents>,
        payments: Arc<Payments>,
        bank: Arc<dyn PaymentsConnector>,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            auth,
            store,
            keyring,
            consents,
            payments,
            bank,
            notifier,
            instance: Instance {
                // Unnamed, an instance never takes another's requests for a previous run's.
                name: uuid::Uuid::new_v4().to_string(),
                run: uuid::Uuid::new_v4().to_string(),
            },
        }
    }

    /// Names this instance after the address it listens on and the host it runs on, which
    /// no other running instance shares and a restart keeps: the requests a previous run
    /// left are then finished at start (see [`Self::recover_interrupted`]). Without a host
    /// name (or an address) the instance stays unnamed.
    pub fn on_listener(mut self, addr: Option<SocketAddr>) -> Self {
        if let (Some(addr), Some(host)) = (addr, host_name()) {
            self.instance.name = format!("{host}/{addr}");
        }
        self
    }

    /// This instance's name and run (see [`Self::on_listener`]).
    pub fn instance(&self) -> (&str, &str) {
        (&self.instance.name, &self.instance.run)
    }
}

/// The host's name, from the kernel or the environment.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}

/// The `Retry-After` of a key in flight since `since`: until the recovery would have finished
/// an interrupted request (plus a round of the sweeper), or a few seconds once that is overdue.
pub fn retry_after_s(since: i64, now: i64) -> u64 {
    match u64::try_from(since + RECOVER_AFTER_S - now) {
        // A claim stamped ahead of this clock (another instance's) waits no longer.
        Ok(due) if due > 0 => due.min(RECOVER_AFTER_S.unsigned_abs()) + 1,
        _ => OVERDUE_RETRY_S,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The calendar day in Brasília (UTC-3), which payment dates are counted in.
pub fn today_in_brasilia(now: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(now - 3 * 3600, 0)
        .unwrap_or_default()
        .date_naive()
}

fn reject(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Rejection {
    Rejection::new(status, code, title, detail)
}

fn internal(err: PaymentsError) -> Rejection {
    tracing::error!(error = %err, "payments failed");
    reject(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "Erro interno",
        "the request could not be completed",
    )
}

fn title_of(code: &str) -> &'static str {
    match code {
        "ERRO_IDEMPOTENCIA" => "Erro idempotência",
        "PARAMETRO_INVALIDO" => "Parâmetro inválido",
        "PARAMETRO_NAO_INFORMADO" => "Parâmetro não informado",
        "DATA_PAGAMENTO_INVALIDA" => "Data de pagamento inválida",
        "DETALHE_PAGAMENTO_INVALIDO" => "Detalhe do pagamento inválido",
        "FORMA_PAGAMENTO_INVALIDA" => "Forma de pagamento inválida",
        "CONSENTIMENTO_INVALIDO" => "Consentimento inválido",
        "PAGAMENTO_DIVERGENTE_CONSENTIMENTO" => "Divergência entre pagamento e consentimento",
        "PAGAMENTO_NAO_PERMITE_CANCELAMENTO" => "Pagamento não permite cancelamento",
        "CONSENTIMENTO_PENDENTE_AUTORIZACAO" => "Consentimento pendente de autorização",
        "SALDO_INSUFICIENTE" => "Saldo insuficiente",
        "VALOR_ACIMA_LIMITE" => "Acima do limite estabelecido",
        "VALOR_INVALIDO" => "Valor inválido",
        "COBRANCA_INVALIDA" => "Cobrança inválida",
        "PAGAMENTO_RECUSADO_DETENTORA" => "Pagamento recusado pela detentora",
        "PAGAMENTO_RECUSADO_SPI" => "Pagamento recusado no SPI",
        "NAO_INFORMADO" => "Não informado",
        _ => "Requisição recusada",
    }
}

/// Turns a stored or built JSON answer into the operation's model.
fn model<T: DeserializeOwned>(value: Value) -> Result<T, Rejection> {
    serde_json::from_value(value).map_err(|e| {
        tracing::error!(error = %e, "a payments answer does not fit its model");
        reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Erro interno",
            "the answer could not be built",
        )
    })
}

fn self_link(ctx: &RequestContext) -> String {
    format!(
        "https://{}{}",
        ctx.authority.as_deref().unwrap_or("localhost"),
        ctx.path
    )
}

fn envelope(ctx: &RequestContext, data: Value) -> Value {
    json!({
        "data": data,
        "links": { "self": self_link(ctx) },
        "meta": { "requestDateTime": aberta_runtime::error_body::now() },
    })
}

/// How a token may be used here.
enum TokenUse {
    /// client_credentials with the `payments` scope: consents.
    Client,
    /// authorization_code linked to a payment consent: payments.
    Customer,
}

impl PaymentsService {
    async fn token(&self, ctx: &RequestContext, wanted: TokenUse) -> Result<TokenInfo, Rejection> {
        let unauthorized = |detail: &str| {
            reject(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Não autorizado",
                detail,
            )
        };
        let info = match self.auth.check_bearer(ctx).await {
            Ok(Ok(info)) => info,
            Ok(Err(_)) => return Err(unauthorized("the token is not active for this certificate")),
            Err(err) => {
                tracing::error!(error = %err, "token check failed");
                return Err(internal(PaymentsError::Signing("token check".into())));
            }
        };
        if !info.has_scope("payments") {
            return Err(reject(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "Acesso negado",
                "the token lacks the payments scope",
            ));
        }
        match wanted {
            TokenUse::Client if info.is_customer_token() => {
                Err(unauthorized("a client_credentials token is required"))
            }
            TokenUse::Customer
                if !info.is_customer_token()
                    || !info
                        .consent_id
                        .as_deref()
                        .is_some_and(consents::is_payment_consent) =>
            {
                Err(unauthorized(
                    "an authorization_code token of a payment consent is required",
                ))
            }
            _ => Ok(info),
        }
    }

    /// The client's own consent, expiry applied: 404 unknown, 403 another client's.
    async fn owned_consent(
        &self,
        info: &TokenInfo,
        consent_id: &str,
    ) -> Result<PaymentConsent, Rejection> {
        let found = self
            .consents
            .get(&info.brand, consent_id, now())
            .await
            .map_err(internal)?;
        owned(found, |c| &c.client_id, info, "consent")
    }

    /// What the bank is told about a call under `consent`.
    fn connector_context(
        &self,
        ctx: &RequestContext,
        consent: &PaymentConsent,
    ) -> Result<ConnectorContext, Rejection> {
        let customer = Cpf::try_from(consent.logged_user_cpf().to_string()).ok();
        let business = consent
            .business_cnpj()
            .and_then(|c| Cnpj::try_from(c.to_string()).ok());
        Ok(ConnectorContext {
            brand: consent.brand.clone(),
            customer,
            business,
            consent_id: Some(consent.consent_id.clone()),
            consent: Some(consents::response_data(consent)),
            interaction_id: ctx
                .header(aberta_runtime::fapi_headers::INTERACTION_ID)
                .unwrap_or_default()
                .to_string(),
            deadline: None,
        })
    }
}

/// `found` when it belongs to the token's client: 404 when there is none, 403 when it is
/// another client's.
fn owned<T>(
    found: Option<T>,
    owner: impl Fn(&T) -> &String,
    info: &TokenInfo,
    what: &str,
) -> Result<T, Rejection> {
    let found = found.ok_or_else(|| {
        reject(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Não encontrado",
            format!("no such {what}"),
        )
    })?;
    if *owner(&found) != info.client_id {
        return Err(reject(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Acesso negado",
            format!("the {what} belongs to another client"),
        ));
    }
    Ok(found)
}

/// A bank refusal as the answer of a payment call.
fn bank_refusal(err: ConnectorError) -> Result<Violation, Rejection> {
    match err {
        ConnectorError::Refused { code, detail } => Ok(Violation {
            code: leak_code(code),
            detail,
        }),
        ConnectorError::NotFound => Err(reject(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Não encontrado",
            "no such payment",
        )),
        other => {
            tracing::error!(error = %other, "the bank failed a payment call");
            Err(reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "Erro interno",
                "the bank could not be reached",
            ))
        }
    }
}

/// The spec's codes are a closed set: a bank code outside it is reported as `NAO_INFORMADO`.
fn leak_code(code: String) -> &'static str {
    const KNOWN: &[&str] = &[
        "SALDO_INSUFICIENTE",
        "VALOR_ACIMA_LIMITE",
        "VALOR_INVALIDO",
        "COBRANCA_INVALIDA",
        "CONSENTIMENTO_INVALIDO",
        "PARAMETRO_NAO_INFORMADO",
        "PARAMETRO_INVALIDO",
        "PAGAMENTO_DIVERGENTE_CONSENTIMENTO",
        "DETALHE_PAGAMENTO_INVALIDO",
        "PAGAMENTO_RECUSADO_DETENTORA",
        "PAGAMENTO_RECUSADO_SPI",
        "PAGAMENTO_NAO_PERMITE_CANCELAMENTO",
    ];
    KNOWN
        .iter()
        .find(|k| **k == code)
        .copied()
        .unwrap_or("NAO_INFORMADO")
}

macro_rules! answer {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(rejection) => return rejection.into(),
        }
    };
}

#[async_trait]
impl PaymentsApi for PaymentsService {
    async fn payments_post_consents(
        &self,
        ctx: RequestContext,
        request: PaymentsPostConsentsRequest,
    ) -> PaymentsPostConsentsResponse {
        use PaymentsPostConsentsResponse as R;
        let info = answer!(self.token(&ctx, TokenUse::Client).await);
        let data = serde_json::to_value(&request.body.data).unwrap_or_default();
        let at = now();
        if let Err(v) = rules::check_consent(&data, today_in_brasilia(at)) {
            return answer!(R::answered(422, error_body(&v)));
        }
        let hash = BodyHash::of_message("POST /consents", Some(&data));
        // The claim and the consent commit together; only a 201 is kept for the key.
        let (txn, ticket) = match answer!(
            self.claim(&info, &request.x_idempotency_key.0, &hash, at)
                .await
        ) {
            Ok(claimed) => claimed,
            Err((status, body)) => return answer!(R::answered(status, body)),
        };
        let consent = answer!(
            self.consents
                .create(&txn, &info.brand, &info.client_id, &data, at)
                .await
                .map_err(internal)
        );
        let body = envelope(&ctx, consents::response_data(&consent));
        answer!(
            ticket
                .complete_in(&txn, 201, &answer!(self.seal_answer(&body)))
                .await
                .map_err(internal)
        );
        answer!(txn.commit().await.map_err(|e| internal(e.into())));
        answer!(R::answered(201, body))
    }

    async fn payments_get_consents_consent_id(
        &self,
        ctx: RequestContext,
        request: PaymentsGetConsentsConsentIdRequest,
    ) -> PaymentsGetConsentsConsentIdResponse {
        let info = answer!(self.token(&ctx, TokenUse::Client).await);
        let consent = answer!(self.owned_consent(&info, &request.consent_id.0).await);
        let body = envelope(&ctx, consents::response_data(&consent));
        PaymentsGetConsentsConsentIdResponse::Ok(Jwt::unsigned(answer!(model(body))), None)
    }

    async fn payments_post_pix_payments(
        &self,
        ctx: RequestContext,
        request: PaymentsPostPixPaymentsRequest,
    ) -> PaymentsPostPixPaymentsResponse {
        use PaymentsPostPixPaymentsResponse as R;
        let info = answer!(self.token(&ctx, TokenUse::Customer).await);
        let consent_id = info.consent_id.clone().unwrap_or_default();
        let items = serde_json::to_value(&request.body.data).unwrap_or_default();
        let items = items.as_array().cloned().unwrap_or_default();
        let hash = BodyHash::of_message("POST /pix/payments", Some(&Value::Array(items.clone())));
        let at = now();
        let consent = answer!(self.owned_consent(&info, &consent_id).await);

        // The claim and the consent's consumption commit together, before the bank is
        // called: a duplicate waits a little for this request's answer and replays it.
        let (txn, ticket) = match answer!(
            self.claim(&info, &request.x_idempotency_key.0, &hash, at)
                .await
        ) {
            Ok(claimed) => claimed,
            Err((status, body)) => return answer!(R::answered(status, body)),
        };
        if consent.status == consents::PARTIALLY_ACCEPTED {
            // Still waiting for approvers: nothing consumed and the key given back, so the
            // initiator may try again once the consent is AUTHORISED.
            let _ = txn.rollback().await;
            let v = Violation {
                code: pix::CONSENTIMENTO_PENDENTE_AUTORIZACAO,
                detail: "o consentimento aguarda a aprovação de outros autorizadores".into(),
            };
            return answer!(R::answered(422, error_body(&v)));
        }
        if consent.status != consents::AUTHORISED {
            // Nothing consumed; the refusal is kept for the key like any 422 of a payment.
            let v = Violation {
                code: pix::CONSENTIMENTO_INVALIDO,
                detail: format!("the consent is {}", consent.status),
            };
            return answer!(self.keep_refusal(txn, ticket, v).await);
        }
        match self
            .consents
            .consume(&txn, &info.brand, &consent_id, at)
            .await
        {
            Ok(Transition::Done) => {}
            Ok(_) => {
                let v = Violation {
                    code: pix::CONSENTIMENTO_INVALIDO,
                    detail: "the consent was used by another request".into(),
                };
                return answer!(self.keep_refusal(txn, ticket, v).await);
            }
            Err(err) => return internal(err).into(),
        }
        let today = today_in_brasilia(at);
        let scheduled = consent.request["payment"].get("schedule").is_some();
        let dates = match consent.request["payment"].get("schedule") {
            Some(schedule) => {
                rules::schedule_dates(schedule, today - chrono::Days::new(1)).unwrap_or_default()
            }
            None => vec![today],
        };
        if let Err(v) = pix::check_against_consent(&items, &consent.request, &dates, scheduled) {
            return answer!(self.keep_refusal(txn, ticket, v).await);
        }
        // The request is kept beside its claim, so that if this instance stops while the
        // bank is called, another sends it again (see `recover_interrupted`).
        let pending = answer!(
            self.pending_row(&info, &ticket, &consent_id, &items, self_link(&ctx), at)
                .map_err(internal)
        );
        answer!(
            pending::Entity::insert(pending::ActiveModel::from(pending.clone()))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| internal(e.into()))
        );
        answer!(txn.commit().await.map_err(|e| internal(e.into())));
        let interaction_id = ctx
            .header(aberta_runtime::fapi_headers::INTERACTION_ID)
            .unwrap_or_default()
            .to_string();
        let finished = answer!(
            self.execute(&pending, &consent, request.body, &interaction_id, at)
                .await
        );
        let (status, body) = match finished {
            Some(answer) => answer,
            // The recovery of another instance finished it first: its answer is the key's.
            None => match answer!(
                self.claim(&info, &request.x_idempotency_key.0, &hash, at)
                    .await
            ) {
                Err(answer) => answer,
                Ok((txn, _)) => {
                    let _ = txn.rollback().await;
                    return internal(PaymentsError::Corrupt(
                        "the payment request was finished elsewhere without an answer".into(),
                    ))
                    .into();
                }
            },
        };
        answer!(R::answered(status, body))
    }

    async fn payments_get_pix_payments_payment_id(
        &self,
        ctx: RequestContext,
        request: PaymentsGetPixPaymentsPaymentIdRequest,
    ) -> PaymentsGetPixPaymentsPaymentIdResponse {
        let info = answer!(self.token(&ctx, TokenUse::Client).await);
        let kept = answer!(self.owned_payment(&info, &request.payment_id.0).await);
        let answer_now = answer!(self.refresh(&ctx, &kept).await);
        let body = envelope(&ctx, answer_now);
        PaymentsGetPixPaymentsPaymentIdResponse::Ok(Jwt::unsigned(answer!(model(body))), None)
    }

    async fn payments_patch_pix_payments_payment_id(
        &self,
        ctx: RequestContext,
        request: PaymentsPatchPixPaymentsPaymentIdRequest,
    ) -> PaymentsPatchPixPaymentsPaymentIdResponse {
        use PaymentsPatchPixPaymentsPaymentIdResponse as R;
        let info = answer!(self.token(&ctx, TokenUse::Client).await);
        let kept = answer!(self.owned_payment(&info, &request.payment_id.0).await);
        let consent = answer!(self.owned_consent(&info, &kept.consent_id).await);
        let bank_ctx = answer!(self.connector_context(&ctx, &consent));
        let outcome = self
            .bank
            .payments_patch_pix_payments_payment_id(
                &bank_ctx,
                PaymentsPatchPixPaymentsPaymentIdInput {
                    payment_id: request.payment_id,
                    body: request.body,
                },
            )
            .await;
        match outcome {
            Ok(cancelled) => {
                let value = serde_json::to_value(&cancelled).unwrap_or_default();
                answer!(self.record_change(&kept, &value).await);
                answer!(R::answered(200, envelope(&ctx, value)))
            }
            Err(err) => {
                let v = answer!(bank_refusal(err));
                answer!(R::answered(422, error_body(&v)))
            }
        }
    }

    async fn payments_patch_pix_payments_consent_id(
        &self,
        ctx: RequestContext,
        request: PaymentsPatchPixPaymentsConsentIdRequest,
    ) -> PaymentsPatchPixPaymentsConsentIdResponse {
        use PaymentsPatchPixPaymentsConsentIdResponse as R;
        let info = answer!(self.token(&ctx, TokenUse::Client).await);
        let consent = answer!(self.owned_consent(&info, &request.consent_id.0).await);
        let data = serde_json::to_value(&request.body.data).unwrap_or_default();
        let hash = BodyHash::of_message(
            &format!("PATCH /pix/payments/consents/{}", consent.consent_id),
            Some(&data),
        );
        // The claim commits first; the bank is called outside any transaction; the answer
        // is kept (200 or 422) in the transaction that records the cancellations.
        let db = self.store.connection();
        let (txn, ticket) = match answer!(
            self.claim(&info, &request.x_idempotency_key.0, &hash, now())
                .await
        ) {
            Ok(claimed) => claimed,
            Err((status, body)) => return answer!(R::answered(status, body)),
        };
        answer!(txn.commit().await.map_err(|e| internal(e.into())));

        let bank_ctx = answer!(self.connector_context(&ctx, &consent));
        let outcome = self
            .bank
            .payments_patch_pix_payments_consent_id(
                &bank_ctx,
                PaymentsPatchPixPaymentsConsentIdInput {
                    consent_id: request.consent_id,
                    body: request.body,
                },
            )
            .await;
        let (status, body) = match outcome {
            Ok(cancelled) => {
                let value = serde_json::to_value(&cancelled).unwrap_or_default();
                for item in value.as_array().into_iter().flatten() {
                    if let Some(id) = item["paymentId"].as_str()
                        && let Ok(Some(kept)) = self.payments.get(&info.brand, id).await
                    {
                        // Each listed payment is now cancelled; the bank's full answer is
                        // read back on the next GET.
                        let mut answer = kept.answer.clone();
                        answer["status"] = json!("CANC");
                        answer["statusUpdateDateTime"] = item["statusUpdateDateTime"].clone();
                        answer!(self.record_change(&kept, &answer).await);
                    }
                }
                (200, envelope(&ctx, value))
            }
            Err(err) => match bank_refusal(err) {
                Ok(v) => (422, error_body(&v)),
                Err(rejection) => {
                    // Our side failed: the key is given back for a retry.
                    if let Ok(txn) = db.begin().await {
                        let _ = ticket.release_in(&txn).await;
                        let _ = txn.commit().await;
                    }
                    return rejection.into();
                }
            },
        };
        let txn = answer!(db.begin().await.map_err(|e| internal(e.into())));
        answer!(
            ticket
                .complete_in(&txn, status, &answer!(self.seal_answer(&body)))
                .await
                .map_err(internal)
        );
        answer!(txn.commit().await.map_err(|e| internal(e.into())));
        answer!(R::answered(status, body))
    }
}

fn error_body(v: &Violation) -> Value {
    json!({
        "errors": [{ "code": v.code, "title": title_of(v.code), "detail": v.detail }],
        "meta": { "requestDateTime": aberta_runtime::error_body::now() },
    })
}

impl PaymentsService {
    /// Seals an answer kept for its idempotency key: it names people and accounts.
    fn seal_answer(&self, body: &Value) -> Result<String, Rejection> {
        self.keyring
            .seal(ANSWER_COLUMN, &body.to_string())
            .map_err(|e| internal(e.into()))
    }

    /// Keeps a 422 for the key and commits (with whatever the transaction consumed).
    async fn keep_refusal<R>(
        &self,
        txn: sea_orm::DatabaseTransaction,
        ticket: idempotency::DetachedTicket,
        v: Violation,
    ) -> Result<R, Rejection>
    where
        R: Answered,
    {
        let body = error_body(&v);
        ticket
            .complete_in(&txn, 422, &self.seal_answer(&body)?)
            .await
            .map_err(internal)?;
        txn.commit().await.map_err(|e| internal(e.into()))?;
        R::answered(422, body)
    }

    fn pending_row(
        &self,
        info: &TokenInfo,
        ticket: &idempotency::DetachedTicket,
        consent_id: &str,
        items: &[Value],
        self_link: String,
        now: i64,
    ) -> Result<pending::Model, PaymentsError> {
        Ok(pending::Model {
            brand: info.brand.clone(),
            client_id: info.client_id.clone(),
            idempotency_key: ticket.key().to_string(),
            request_hash: ticket.request_hash().to_string(),
            consent_id: consent_id.to_string(),
            items: self
                .keyring
                .seal(PENDING_COLUMN, &Value::Array(items.to_vec()).to_string())?,
            self_link,
            created_at: now,
            owner_name: Some(self.instance.name.clone()),
            owner_run: Some(self.instance.run.clone()),
        })
    }

    /// Sends a claimed payment request (its consent consumed) to the bank and keeps the
    /// outcome in one transaction: the payments and their notifications, the claim's answer,
    /// the pending row gone. `None` when another instance finished it first. A bank that
    /// cannot be reached leaves everything for the recovery.
    async fn execute(
        &self,
        pending: &pending::Model,
        consent: &PaymentConsent,
        body: ofb_payments_v4::models::CreatePixPayment,
        interaction_id: &str,
        now: i64,
    ) -> Result<Option<(u16, Value)>, Rejection> {
        let mut bank_ctx = self.connector_context(&RequestContext::default(), consent)?;
        bank_ctx.interaction_id = interaction_id.to_string();
        let outcome = self
            .bank
            .payments_post_pix_payments(&bank_ctx, PaymentsPostPixPaymentsInput { body })
            .await;
        let db = self.store.connection();
        let txn = db.begin().await.map_err(|e| internal(e.into()))?;
        let removed = pending::Entity::delete_many()
            .filter(pending::Column::Brand.eq(pending.brand.as_str()))
            .filter(pending::Column::ClientId.eq(pending.client_id.as_str()))
            .filter(pending::Column::IdempotencyKey.eq(pending.idempotency_key.as_str()))
            .exec(&txn)
            .await
            .map_err(|e| internal(e.into()))?;
        if removed.rows_affected == 0 {
            return Ok(None);
        }
        let (status, body) = match outcome {
            Ok(created) => {
                let answers: Vec<Value> = created
                    .iter()
                    .filter_map(|p| serde_json::to_value(p).ok())
                    .collect();
                self.payments
                    .insert(
                        &txn,
                        &pending.brand,
                        &pending.client_id,
                        &pending.consent_id,
                        &answers,
                        now,
                    )
                    .await
                    .map_err(internal)?;
                for payment in &answers {
                    self.notifier
                        .payment_changed(&txn, &pending.brand, &pending.client_id, payment, now)
                        .await
                        .map_err(internal)?;
                }
                let body = json!({
                    "data": answers,
                    "links": { "self": pending.self_link },
                    "meta": { "requestDateTime": aberta_runtime::error_body::now() },
                });
                (201, body)
            }
            Err(err) => (422, error_body(&bank_refusal(err)?)),
        };
        idempotency::DetachedTicket::resume(
            &pending.brand,
            &pending.client_id,
            &pending.idempotency_key,
            &pending.request_hash,
        )
        .complete_in(&txn, status, &self.seal_answer(&body)?)
        .await
        .map_err(internal)?;
        txn.commit().await.map_err(|e| internal(e.into()))?;
        Ok(Some((status, body)))
    }

    /// Finishes the payment requests an instance left between claim and answer (it stopped
    /// while the bank was being called): each is sent again, and the bank answers a repeated
    /// request with the payments it already made. Returns how many were finished.
    ///
    /// A request is taken for interrupted when a previous run of this instance wrote it (that
    /// run is dead: see [`Self::on_listener`]), at once, or else once it is
    /// [`RECOVER_AFTER_S`] old: another instance may still be calling the bank for it.
    /// Claims committed without an answer and without a pending request (a cancellation whose
    /// instance stopped while the bank was called) are given back after that delay, so that
    /// the initiator's retry is sent again instead of waiting a day.
    pub async fn recover_interrupted(&self, now: i64) -> Result<u64, PaymentsError> {
        let db = self.store.connection();
        let stale = pending::Entity::find()
            .filter(
                Condition::any()
                    .add(pending::Column::CreatedAt.lte(now - RECOVER_AFTER_S))
                    .add(
                        Condition::all()
                            .add(pending::Column::OwnerName.eq(self.instance.name.as_str()))
                            .add(pending::Column::OwnerRun.ne(self.instance.run.as_str())),
                    ),
            )
            .all(db)
            .await?;
        let mut finished = 0;
        for row in stale {
            // One request that cannot be finished (its bank down, its row unreadable) must
            // not hold up the others: it stays for the next round and the operators.
            match self.recover_one(&row, now).await {
                Ok(true) => finished += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(consent_id = %row.consent_id, %err, "an interrupted payment request cannot be finished");
                }
            }
        }
        let released = self.release_orphan_claims(now).await?;
        if released > 0 {
            tracing::info!(
                released,
                "idempotency keys of interrupted requests given back"
            );
        }
        Ok(finished)
    }

    /// The first recovery round of a starting instance, before it takes requests: what a
    /// previous run of it left is finished at once. Bounded: what a slow bank holds up is
    /// left to the periodic rounds. Returns how many were finished.
    pub async fn recover_at_start(&self) -> u64 {
        match tokio::time::timeout(START_RECOVERY_LIMIT, self.recover_interrupted(now())).await {
            Ok(Ok(finished)) => finished,
            Ok(Err(err)) => {
                tracing::warn!(%err, "finishing interrupted payment requests at start failed");
                0
            }
            Err(_) => {
                tracing::warn!("finishing interrupted payment requests at start took too long");
                0
            }
        }
    }

    /// Gives back the keys claimed without an answer [`RECOVER_AFTER_S`] ago or more whose
    /// request was not kept for recovery; returns how many.
    async fn release_orphan_claims(&self, now: i64) -> Result<u64, PaymentsError> {
        let db = self.store.connection();
        let open = claims::Entity::find()
            .filter(claims::Column::Status.is_null())
            .filter(claims::Column::CreatedAt.lte(now - RECOVER_AFTER_S))
            .limit(200)
            .all(db)
            .await?;
        let mut released = 0;
        for claim in open {
            let kept = pending::Entity::find_by_id((
                claim.brand.clone(),
                claim.client_id.clone(),
                claim.idempotency_key.clone(),
            ))
            .one(db)
            .await?;
            if kept.is_none() {
                // Only a claim still without an answer goes (the condition of the ticket).
                DetachedTicket::resume(
                    &claim.brand,
                    &claim.client_id,
                    &claim.idempotency_key,
                    &claim.request_hash,
                )
                .release_in(db)
                .await?;
                released += 1;
            }
        }
        Ok(released)
    }

    /// Sends one interrupted request again; whether this call finished it.
    async fn recover_one(&self, row: &pending::Model, now: i64) -> Result<bool, PaymentsError> {
        let Some(consent) = self.consents.get(&row.brand, &row.consent_id, now).await? else {
            return Ok(false);
        };
        let items: Value = serde_json::from_str(&self.keyring.open(PENDING_COLUMN, &row.items)?)
            .map_err(|e| PaymentsError::Corrupt(e.to_string()))?;
        let body = serde_json::from_value(json!({ "data": items }))
            .map_err(|e| PaymentsError::Corrupt(e.to_string()))?;
        let interaction_id = uuid::Uuid::new_v4().to_string();
        match self
            .execute(row, &consent, body, &interaction_id, now)
            .await
        {
            Ok(Some(_)) => {
                tracing::info!(consent_id = %row.consent_id, "interrupted payment request finished");
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(rejection) => {
                tracing::warn!(status = %rejection.status, "interrupted payment request still pending");
                Ok(false)
            }
        }
    }

    async fn owned_payment(
        &self,
        info: &TokenInfo,
        payment_id: &str,
    ) -> Result<pix::KeptPayment, Rejection> {
        let found = self
            .payments
            .get(&info.brand, payment_id)
            .await
            .map_err(internal)?;
        owned(found, |p| &p.client_id, info, "payment")
    }

    /// The bank's current answer for a kept payment, asked under its consent; `Ok(None)`
    /// when the bank could not say (the last answer stands).
    async fn bank_status(
        &self,
        interaction_id: &str,
        kept: &pix::KeptPayment,
    ) -> Result<Option<Value>, PaymentsError> {
        let Some(consent) = self
            .consents
            .get(&kept.brand, &kept.consent_id, now())
            .await?
        else {
            return Err(PaymentsError::Corrupt("payment without consent".into()));
        };
        let Ok(mut bank_ctx) = self.connector_context(&RequestContext::default(), &consent) else {
            return Ok(None);
        };
        bank_ctx.interaction_id = interaction_id.to_string();
        let current = self
            .bank
            .payments_get_pix_payments_payment_id(
                &bank_ctx,
                PaymentsGetPixPaymentsPaymentIdInput {
                    payment_id: ofb_payments_v4::params::PaymentId(kept.payment_id.clone()),
                },
            )
            .await;
        match current {
            Ok(data) => Ok(Some(serde_json::to_value(&data).unwrap_or_default())),
            Err(err) => {
                tracing::warn!(error = %err, "payment status not refreshed; the last one stands");
                Ok(None)
            }
        }
    }

    /// The bank's current answer for a payment, recorded (and notified) when it changed.
    async fn refresh(
        &self,
        ctx: &RequestContext,
        kept: &pix::KeptPayment,
    ) -> Result<Value, Rejection> {
        if pix::FINAL.contains(&kept.status.as_str()) {
            return Ok(kept.answer.clone());
        }
        let interaction_id = ctx
            .header(aberta_runtime::fapi_headers::INTERACTION_ID)
            .unwrap_or_default();
        match self
            .bank_status(interaction_id, kept)
            .await
            .map_err(internal)?
        {
            Some(value) => {
                self.record_change(kept, &value).await?;
                Ok(value)
            }
            None => Ok(kept.answer.clone()),
        }
    }

    async fn record_change(
        &self,
        kept: &pix::KeptPayment,
        answer: &Value,
    ) -> Result<(), Rejection> {
        let at = now();
        let txn = self
            .store
            .connection()
            .begin()
            .await
            .map_err(|e| internal(e.into()))?;
        if self
            .payments
            .update(&txn, kept, answer, at)
            .await
            .map_err(internal)?
        {
            self.notifier
                .payment_changed(&txn, &kept.brand, &kept.client_id, answer, at)
                .await
                .map_err(internal)?;
        }
        txn.commit().await.map_err(|e| internal(e.into()))?;
        Ok(())
    }

    /// Asks the bank about every payment not yet final and records what changed; the
    /// sweeper runs this every second or so. Returns how many changed.
    pub async fn poll_open_payments(&self) -> Result<u64, PaymentsError> {
        let mut changed = 0;
        let interaction_id = uuid::Uuid::new_v4().to_string();
        let at = now();
        for kept in self.payments.due(at, 200).await? {
            let answer = match self.bank_status(&interaction_id, &kept).await {
                Ok(Some(value)) => value,
                _ => kept.answer.clone(),
            };
            let status = answer["status"]
                .as_str()
                .unwrap_or(&kept.status)
                .to_string();
            if status != kept.status && self.record_change(&kept, &answer).await.is_ok() {
                changed += 1;
            }
            self.payments
                .checked(&kept.payment_id, &status, &answer, at)
                .await?;
        }
        Ok(changed)
    }
}

impl PaymentsService {
    /// Claims an `x-idempotency-key` in a new transaction: that transaction (which the caller
    /// ends) with the ticket to answer the key with, or the answer to give instead (see
    /// [`claim_key`]). A key whose first request is still running is waited for, up to
    /// [`DUPLICATE_WAIT`], and its answer replayed (the spec's "same result"); after that, 429
    /// with `Retry-After`.
    async fn claim(
        &self,
        info: &TokenInfo,
        header: &str,
        hash: &BodyHash,
        now: i64,
    ) -> Result<Result<(DatabaseTransaction, DetachedTicket), (u16, Value)>, Rejection> {
        let deadline = tokio::time::Instant::now() + DUPLICATE_WAIT;
        let mut pause = Duration::from_millis(25);
        loop {
            let txn = self
                .store
                .connection()
                .begin()
                .await
                .map_err(|e| internal(e.into()))?;
            let since = match claim_key(&txn, &self.keyring, info, header, hash, now).await? {
                Claimed::Ticket(ticket) => return Ok(Ok((txn, ticket))),
                Claimed::Answer(status, body) => {
                    let _ = txn.rollback().await;
                    return Ok(Err((status, body)));
                }
                Claimed::InFlight { since } => since,
            };
            let _ = txn.rollback().await;
            if tokio::time::Instant::now() + pause > deadline {
                crate::retry::retry_after(retry_after_s(since, self::now()));
                return Err(reject(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOO_MANY_REQUESTS",
                    "Requisição em andamento",
                    "a request with this x-idempotency-key is still being processed",
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(DUPLICATE_POLL_MAX);
        }
    }
}

/// What claiming a key found, for the endpoints.
enum Claimed {
    /// The key is this request's.
    Ticket(DetachedTicket),
    /// The answer to give: the stored one, or 422 `ERRO_IDEMPOTENCIA`.
    Answer(u16, Value),
    /// The first request with the key, claimed at `since`, has no answer yet.
    InFlight { since: i64 },
}

/// Claims an `x-idempotency-key` in `txn` (which the caller ends): the ticket to answer it
/// with, or the answer to give instead: the one stored for the same request, or 422
/// `ERRO_IDEMPOTENCIA` for other data. A malformed key is refused.
async fn claim_key(
    txn: &DatabaseTransaction,
    keyring: &KeyRing,
    info: &TokenInfo,
    header: &str,
    hash: &BodyHash,
    now: i64,
) -> Result<Claimed, Rejection> {
    let key = IdempotencyKey::parse(Some(header)).map_err(|r| {
        let (status, code, detail) = r.answer();
        reject(status, code, "Parâmetro inválido", detail)
    })?;
    match idempotency::claim(txn, &info.brand, &info.client_id, &key, hash, now)
        .await
        .map_err(internal)?
    {
        Claim::Fresh(ticket) => Ok(Claimed::Ticket(ticket.detach())),
        Claim::Replay { status, body } => {
            let body = keyring
                .open(ANSWER_COLUMN, &body)
                .map_err(|e| internal(e.into()))?;
            let body = serde_json::from_str(&body)
                .map_err(|e| internal(PaymentsError::Corrupt(e.to_string())))?;
            Ok(Claimed::Answer(status, body))
        }
        Claim::Mismatch => Ok(Claimed::Answer(
            422,
            error_body(&Violation {
                code: "ERRO_IDEMPOTENCIA",
                detail: "the x-idempotency-key was used for another request".into(),
            }),
        )),
        Claim::InFlight { since } => Ok(Claimed::InFlight { since }),
    }
}

/// A signed answer of an operation with a 2xx body and a 422: its own models, from JSON.
pub trait Answered: Sized + From<Rejection> {
    fn answered(status: u16, body: Value) -> Result<Self, Rejection>;
}

impl Answered for PaymentsPostConsentsResponse {
    fn answered(status: u16, body: Value) -> Result<Self, Rejection> {
        Ok(match status {
            201 => Self::Created(Jwt::unsigned(model(body)?), None),
            _ => Self::UnprocessableEntity(Jwt::unsigned(model(body)?), None),
        })
    }
}

impl Answered for PaymentsPatchPixPaymentsPaymentIdResponse {
    fn answered(status: u16, body: Value) -> Result<Self, Rejection> {
        Ok(match status {
            200 => Self::Ok(Jwt::unsigned(model(body)?), None),
            _ => Self::UnprocessableEntity(Jwt::unsigned(model(body)?), None),
        })
    }
}

impl Answered for PaymentsPostPixPaymentsResponse {
    fn answered(status: u16, body: Value) -> Result<Self, Rejection> {
        Ok(match status {
            201 => Self::Created(Jwt::unsigned(model(body)?), None),
            _ => Self::UnprocessableEntity(Jwt::unsigned(model(body)?), None),
        })
    }
}

impl Answered for PaymentsPatchPixPaymentsConsentIdResponse {
    fn answered(status: u16, body: Value) -> Result<Self, Rejection> {
        Ok(match status {
            200 => Self::Ok(Jwt::unsigned(model(body)?), None),
            _ => Self::UnprocessableEntity(Jwt::unsigned(model(body)?), None),
        })
    }
}
