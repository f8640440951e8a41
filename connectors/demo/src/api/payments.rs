//! payments 4.0.0: Pix payments created, read and cancelled over the ledger of `crate::pix`.
//! The platform has done every regulatory check before a call gets here; the bank decides
//! what only it knows (whose account it is, the balance, its limits) and moves each payment
//! through its lifecycle.

use aberta_runtime::connector::{ConnectorContext, ConnectorError};
use chrono::Utc;
use ofb_payments_v4::connector::*;
use ofb_payments_v4::models::{
    CreatePixPayment, DebtorAccount, PatchPixPayment, ResponseCreatePixPaymentData,
    ResponsePatchPixConsentData, ResponsePatchPixPaymentData, ResponsePixPaymentData,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::DemoBank;
use crate::access::decode;
use crate::dates;
use crate::entity::pix_payment;
use crate::error::DemoError;
use crate::pix::accounts::same_account;
use crate::pix::ledger::NewPayment;
use crate::pix::{
    cancellation_reason, cents_of, date_time, reason, scheduled_date, start_of_day_ms, status,
};

/// The 422 codes the bank answers with.
const REFUSED_BY_HOLDER: &str = "PAGAMENTO_RECUSADO_DETENTORA";
const NOT_CANCELLABLE: &str = "PAGAMENTO_NAO_PERMITE_CANCELAMENTO";

fn refused(code: &str, detail: &str) -> ConnectorError {
    ConnectorError::Refused {
        code: code.to_string(),
        detail: detail.to_string(),
    }
}

/// The debtor account of the payment consent the platform passes along, if it names one.
fn consent_debtor(ctx: &ConnectorContext) -> Result<Option<DebtorAccount>, ConnectorError> {
    let Some(named) = ctx.consent.as_ref().and_then(|c| c.get("debtorAccount")) else {
        return Ok(None);
    };
    if named.is_null() {
        return Ok(None);
    }
    serde_json::from_value(named.clone())
        .map(Some)
        .map_err(|e| ConnectorError::Backend(format!("the consent's debtorAccount: {e}")))
}

impl DemoBank {
    /// Creates the payments of `body` for the customer `ctx` names, debiting `debtor` (the
    /// consent's debtor account) or, when the consent names none, the customer's first paying
    /// account. A `debtor` that is not one of the customer's paying accounts is refused with
    /// `PAGAMENTO_RECUSADO_DETENTORA`.
    async fn create_pix_payments(
        &self,
        ctx: &ConnectorContext,
        body: &CreatePixPayment,
        debtor: Option<&DebtorAccount>,
    ) -> Result<Vec<ResponseCreatePixPaymentData>, ConnectorError> {
        let holder = self
            .holder(ctx)
            .await?
            .ok_or_else(|| refused(REFUSED_BY_HOLDER, "O pagador não é cliente da detentora."))?;
        let payers = self.payers(&holder).await?;
        let payer = match debtor {
            Some(named) => payers
                .iter()
                .find(|p| same_account(named, &p.paying.account))
                .ok_or_else(|| {
                    refused(
                        REFUSED_BY_HOLDER,
                        "A conta de débito não é uma conta do pagador que permita pagamentos.",
                    )
                })?,
            None => payers.first().ok_or_else(|| {
                refused(
                    REFUSED_BY_HOLDER,
                    "O pagador não tem conta que permita pagamentos.",
                )
            })?,
        };
        let consent_id = ctx
            .consent_id
            .clone()
            .or_else(|| body.data.iter().find_map(|d| d.consent_id.clone()))
            .ok_or_else(|| refused("PARAMETRO_NAO_INFORMADO", "consentId não informado."))?;
        // A request repeated with the same endToEndIds (the platform re-sending one whose
        // answer it lost in a crash) gets the payments it made, not new ones.
        let mut made: Vec<ResponseCreatePixPaymentData> = Vec::new();
        for row in self.storage.payments_of_consent(&consent_id).await? {
            if row.owner_id == holder.id {
                made.push(self.answer(&row)?);
            }
        }
        if !made.is_empty()
            && body.data.iter().all(|item| {
                made.iter()
                    .any(|m| m.end_to_end_id.0 == item.end_to_end_id.0)
            })
        {
            made.retain(|m| {
                body.data
                    .iter()
                    .any(|item| item.end_to_end_id.0 == m.end_to_end_id.0)
            });
            return Ok(made);
        }
        let now_ms = Utc::now().timestamp_millis();
        let today = dates::today();
        let mut payments = Vec::new();
        for (seq, item) in body.data.iter().enumerate() {
            let amount_cents = cents_of(item.payment.amount.as_str())
                .ok_or_else(|| refused("PARAMETRO_INVALIDO", "payment.amount inválido."))?;
            if self.pix.invalid_charge_cents.contains(&amount_cents) {
                return Err(refused(
                    reason::INVALID_CHARGE,
                    reason::detail(reason::INVALID_CHARGE),
                ));
            }
            let next_step = now_ms.saturating_add(self.pix.step_ms());
            let (initial, due_at_ms) = match scheduled_date(&item.end_to_end_id.0, today) {
                // Not schedulable: left RCVD, and rejected at the next step.
                Some(_) if self.pix.unschedulable_cents.contains(&amount_cents) => {
                    (status::RCVD, next_step)
                }
                Some(date) => (status::SCHD, start_of_day_ms(date)),
                None => (status::RCVD, next_step),
            };
            payments.push(NewPayment {
                id: uuid::Uuid::new_v4().to_string(),
                owner_id: holder.id.clone(),
                consent_id: consent_id.clone(),
                product_id: payer.product_id.clone(),
                seq: i32::try_from(seq).unwrap_or(i32::MAX),
                amount_cents,
                status: initial,
                due_at_ms,
                created_at_ms: now_ms,
                body: json!({ "request": item, "debtorAccount": payer.paying.account }),
            });
        }
        let rows = self.storage.insert_payments(payments).await?;
        tracing::info!(
            count = rows.len(),
            interaction_id = %ctx.interaction_id,
            "demo bank received Pix payments"
        );
        rows.iter().map(|row| self.answer(row)).collect()
    }

    /// Moves `row` through every transition due at `now_ms`; the payment as it then is, and
    /// how many transitions this call made.
    pub(crate) async fn advance(
        &self,
        mut row: pix_payment::Model,
        now_ms: i64,
    ) -> Result<(pix_payment::Model, u64), DemoError> {
        let mut moved = 0;
        while row.due_at_ms.is_some_and(|due| due <= now_ms) {
            let step = self.pix.next(&row.status, row.amount_cents);
            if self
                .storage
                .apply_step(&row, step, self.pix.step_ms())
                .await?
            {
                moved += 1;
            }
            let Some(now) = self.storage.payment(&row.id).await? else {
                break;
            };
            row = now;
        }
        Ok((row, moved))
    }

    /// Payment `id` if it belongs to the customer (and consent) `ctx` names, advanced to now.
    async fn owned_payment(
        &self,
        ctx: &ConnectorContext,
        id: &str,
    ) -> Result<pix_payment::Model, ConnectorError> {
        let holder = self.holder(ctx).await?.ok_or(ConnectorError::NotFound)?;
        let row = self
            .storage
            .payment(id)
            .await?
            .filter(|row| row.owner_id == holder.id)
            .filter(|row| ctx.consent_id.as_ref().is_none_or(|c| *c == row.consent_id))
            .ok_or(ConnectorError::NotFound)?;
        Ok(self.advance(row, Utc::now().timestamp_millis()).await?.0)
    }

    /// Cancels `row` if its status allows it; the cancelled row, or `None`.
    async fn cancel(
        &self,
        row: &pix_payment::Model,
        patch: &PatchPixPayment,
    ) -> Result<Option<pix_payment::Model>, ConnectorError> {
        let Some(reason) = cancellation_reason(&row.status) else {
            return Ok(None);
        };
        let now_ms = Utc::now().timestamp_millis();
        let document = &patch.data.cancellation.cancelled_by.document;
        let cancellation = json!({
            "reason": reason,
            "cancelledFrom": "INICIADORA",
            "cancelledAt": date_time(now_ms),
            "cancelledBy": {
                "document": { "identification": document.identification, "rel": document.rel },
            },
        });
        if !self
            .storage
            .cancel_payment(row, &cancellation, now_ms)
            .await?
        {
            return Ok(None);
        }
        Ok(self.storage.payment(&row.id).await?)
    }

    /// The payment as the spec's response objects describe it.
    fn answer<T: DeserializeOwned>(&self, row: &pix_payment::Model) -> Result<T, ConnectorError> {
        let body = self.storage.payment_body(row)?;
        let mut out = match body.get("request") {
            Some(Value::Object(request)) => request.clone(),
            _ => Map::new(),
        };
        out.remove("qrCode");
        out.insert("paymentId".into(), json!(row.id));
        out.insert("consentId".into(), json!(row.consent_id));
        out.insert(
            "creationDateTime".into(),
            json!(date_time(row.created_at_ms)),
        );
        out.insert(
            "statusUpdateDateTime".into(),
            json!(date_time(row.status_updated_at_ms)),
        );
        out.insert("status".into(), json!(row.status));
        out.insert(
            "debtorAccount".into(),
            body.get("debtorAccount").cloned().unwrap_or(Value::Null),
        );
        if let Some(code) = &row.rejection_code {
            out.insert(
                "rejectionReason".into(),
                json!({ "code": code, "detail": reason::detail(code) }),
            );
        }
        if let Some(cancellation) = self.storage.payment_cancellation(row)? {
            out.insert("cancellation".into(), cancellation);
        }
        decode(Value::Object(out))
    }
}

#[async_trait::async_trait]
impl PaymentsConnector for DemoBank {
    async fn payments_post_pix_payments(
        &self,
        ctx: &ConnectorContext,
        input: PaymentsPostPixPaymentsInput,
    ) -> Result<Vec<ResponseCreatePixPaymentData>, ConnectorError> {
        let debtor = consent_debtor(ctx)?;
        self.create_pix_payments(ctx, &input.body, debtor.as_ref())
            .await
    }

    async fn payments_get_pix_payments_payment_id(
        &self,
        ctx: &ConnectorContext,
        input: PaymentsGetPixPaymentsPaymentIdInput,
    ) -> Result<ResponsePixPaymentData, ConnectorError> {
        let row = self.owned_payment(ctx, &input.payment_id.0).await?;
        self.answer(&row)
    }

    async fn payments_patch_pix_payments_payment_id(
        &self,
        ctx: &ConnectorContext,
        input: PaymentsPatchPixPaymentsPaymentIdInput,
    ) -> Result<ResponsePatchPixPaymentData, ConnectorError> {
        let row = self.owned_payment(ctx, &input.payment_id.0).await?;
        match self.cancel(&row, &input.body).await? {
            Some(cancelled) => self.answer(&cancelled),
            None => Err(refused(
                NOT_CANCELLABLE,
                "Só pagamentos agendados (SCHD) ou retidos para análise (PDNG) podem ser cancelados.",
            )),
        }
    }

    async fn payments_patch_pix_payments_consent_id(
        &self,
        ctx: &ConnectorContext,
        input: PaymentsPatchPixPaymentsConsentIdInput,
    ) -> Result<Vec<ResponsePatchPixConsentData>, ConnectorError> {
        let consent_id = input.consent_id.0.as_str();
        if ctx.consent_id.as_deref().is_some_and(|c| c != consent_id) {
            return Err(ConnectorError::NotFound);
        }
        let holder = self.holder(ctx).await?.ok_or(ConnectorError::NotFound)?;
        let rows: Vec<_> = self
            .storage
            .payments_of_consent(consent_id)
            .await?
            .into_iter()
            .filter(|row| row.owner_id == holder.id)
            .collect();
        if rows.is_empty() {
            return Err(ConnectorError::NotFound);
        }
        let now_ms = Utc::now().timestamp_millis();
        let mut cancelled = Vec::new();
        for row in rows {
            let (row, _) = self.advance(row, now_ms).await?;
            if let Some(row) = self.cancel(&row, &input.body).await? {
                cancelled.push(decode(json!({
                    "paymentId": row.id,
                    "statusUpdateDateTime": date_time(row.status_updated_at_ms),
                }))?);
            }
        }
        if cancelled.is_empty() {
            return Err(refused(
                NOT_CANCELLABLE,
                "Nenhum pagamento do consentimento está agendado (SCHD) ou retido (PDNG).",
            ));
        }
        Ok(cancelled)
    }
}
