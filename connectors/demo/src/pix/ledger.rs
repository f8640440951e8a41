//! The Pix tables: payments, their compare-and-set transitions, and the balances they debit.
//!
//! Every transition is an UPDATE guarded by the status and due time it was decided from, so
//! when several callers (a GET, the sweeper, another instance) advance the same payment at
//! once exactly one of them moves it. Settling debits the balance in the same transaction
//! with one conditional UPDATE (`available_cents >= amount`): never read-then-write.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::Value;

use super::{Step, reason, status};
use crate::entity::{balance, pix_payment};
use crate::error::DemoError;
use crate::storage::Storage;

/// Sealing contexts of the payment table.
const BODY: &str = "demo_pix_payment.body";
const CANCELLATION: &str = "demo_pix_payment.cancellation";

/// Rows the sweeper takes per query.
const SWEEP_BATCH: u64 = 500;

/// A new payment before it is written.
pub(crate) struct NewPayment {
    pub id: String,
    pub owner_id: String,
    pub consent_id: String,
    pub product_id: String,
    pub seq: i32,
    pub amount_cents: i64,
    pub status: &'static str,
    pub due_at_ms: i64,
    pub created_at_ms: i64,
    /// `{"request": .., "debtorAccount": ..}`, sealed on the way in.
    pub body: Value,
}

impl Storage {
    /// Writes a request's payments in one statement: all of them or none.
    pub(crate) async fn insert_payments(
        &self,
        payments: Vec<NewPayment>,
    ) -> Result<Vec<pix_payment::Model>, DemoError> {
        let mut models = Vec::new();
        for p in payments {
            models.push(pix_payment::Model {
                ring: self.tag().to_string(),
                id: p.id,
                owner_id: p.owner_id,
                consent_id: p.consent_id,
                product_id: p.product_id,
                seq: p.seq,
                amount_cents: p.amount_cents,
                status: p.status.to_string(),
                rejection_code: None,
                due_at_ms: Some(p.due_at_ms),
                created_at_ms: p.created_at_ms,
                status_updated_at_ms: p.created_at_ms,
                body: self.ring().seal(BODY, &p.body.to_string())?,
                cancellation: None,
            });
        }
        let rows = models.iter().cloned().map(|m| pix_payment::ActiveModel {
            ring: Set(m.ring),
            id: Set(m.id),
            owner_id: Set(m.owner_id),
            consent_id: Set(m.consent_id),
            product_id: Set(m.product_id),
            seq: Set(m.seq),
            amount_cents: Set(m.amount_cents),
            status: Set(m.status),
            rejection_code: Set(m.rejection_code),
            due_at_ms: Set(m.due_at_ms),
            created_at_ms: Set(m.created_at_ms),
            status_updated_at_ms: Set(m.status_updated_at_ms),
            body: Set(m.body),
            cancellation: Set(m.cancellation),
        });
        pix_payment::Entity::insert_many(rows)
            .exec(self.db())
            .await?;
        Ok(models)
    }

    pub(crate) fn payment_body(&self, row: &pix_payment::Model) -> Result<Value, DemoError> {
        Ok(serde_json::from_str(&self.ring().open(BODY, &row.body)?)?)
    }

    pub(crate) fn payment_cancellation(
        &self,
        row: &pix_payment::Model,
    ) -> Result<Option<Value>, DemoError> {
        row.cancellation
            .as_deref()
            .map(|sealed| {
                Ok(serde_json::from_str(
                    &self.ring().open(CANCELLATION, sealed)?,
                )?)
            })
            .transpose()
    }

    pub(crate) async fn payment(&self, id: &str) -> Result<Option<pix_payment::Model>, DemoError> {
        Ok(
            pix_payment::Entity::find_by_id((self.tag().to_string(), id.to_string()))
                .one(self.db())
                .await?,
        )
    }

    /// A consent's payments, in the order they were requested.
    pub(crate) async fn payments_of_consent(
        &self,
        consent_id: &str,
    ) -> Result<Vec<pix_payment::Model>, DemoError> {
        Ok(pix_payment::Entity::find()
            .filter(pix_payment::Column::Ring.eq(self.tag()))
            .filter(pix_payment::Column::ConsentId.eq(consent_id))
            .order_by_asc(pix_payment::Column::CreatedAtMs)
            .order_by_asc(pix_payment::Column::Seq)
            .all(self.db())
            .await?)
    }

    /// Up to one batch of payments whose next transition is due at `now_ms`, oldest first.
    pub(crate) async fn due_payments(
        &self,
        now_ms: i64,
    ) -> Result<(Vec<pix_payment::Model>, bool), DemoError> {
        let rows = pix_payment::Entity::find()
            .filter(pix_payment::Column::Ring.eq(self.tag()))
            .filter(pix_payment::Column::DueAtMs.lte(now_ms))
            .order_by_asc(pix_payment::Column::DueAtMs)
            .limit(SWEEP_BATCH)
            .all(self.db())
            .await?;
        let full = rows.len() as u64 == SWEEP_BATCH;
        Ok((rows, full))
    }

    /// Applies `step` to `row` as it was read, at the time it was due. `false` when someone
    /// else moved the payment first (nothing changed here).
    pub(crate) async fn apply_step(
        &self,
        row: &pix_payment::Model,
        step: Option<Step>,
        step_ms: i64,
    ) -> Result<bool, DemoError> {
        let Some(due) = row.due_at_ms else {
            return Ok(false);
        };
        let (to, rejection, next_due) = match &step {
            Some(Step::To {
                status,
                rejection,
                then,
            }) => (
                *status,
                *rejection,
                then.then_some(due.saturating_add(step_ms)),
            ),
            Some(Step::Settle) => (status::ACSC, None, None),
            // Nothing happens on its own from here: stop waking it.
            None => (row.status.as_str(), None, None),
        };
        let txn = self.db().begin().await?;
        let moved = pix_payment::Entity::update_many()
            .col_expr(pix_payment::Column::Status, Expr::value(to))
            .col_expr(
                pix_payment::Column::RejectionCode,
                Expr::value(rejection.map(str::to_string)),
            )
            .col_expr(pix_payment::Column::DueAtMs, Expr::value(next_due))
            .col_expr(pix_payment::Column::StatusUpdatedAtMs, Expr::value(due))
            .filter(pix_payment::Column::Ring.eq(self.tag()))
            .filter(pix_payment::Column::Id.eq(row.id.as_str()))
            .filter(pix_payment::Column::Status.eq(row.status.as_str()))
            .filter(pix_payment::Column::DueAtMs.eq(due))
            .exec(&txn)
            .await?;
        if moved.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        if step == Some(Step::Settle) {
            let debited = balance::Entity::update_many()
                .col_expr(
                    balance::Column::AvailableCents,
                    Expr::col(balance::Column::AvailableCents).sub(row.amount_cents),
                )
                .filter(balance::Column::Ring.eq(self.tag()))
                .filter(balance::Column::ProductId.eq(row.product_id.as_str()))
                .filter(balance::Column::AvailableCents.gte(row.amount_cents))
                .exec(&txn)
                .await?;
            if debited.rows_affected == 0 {
                pix_payment::Entity::update_many()
                    .col_expr(pix_payment::Column::Status, Expr::value(status::RJCT))
                    .col_expr(
                        pix_payment::Column::RejectionCode,
                        Expr::value(reason::INSUFFICIENT_FUNDS),
                    )
                    .filter(pix_payment::Column::Ring.eq(self.tag()))
                    .filter(pix_payment::Column::Id.eq(row.id.as_str()))
                    .exec(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(true)
    }

    /// Cancels `row` as it was read (a `PDNG` or `SCHD` payment). `false` when it moved in
    /// the meantime.
    pub(crate) async fn cancel_payment(
        &self,
        row: &pix_payment::Model,
        cancellation: &Value,
        now_ms: i64,
    ) -> Result<bool, DemoError> {
        let sealed = self.ring().seal(CANCELLATION, &cancellation.to_string())?;
        let mut update = pix_payment::Entity::update_many()
            .col_expr(pix_payment::Column::Status, Expr::value(status::CANC))
            .col_expr(pix_payment::Column::DueAtMs, Expr::value(None::<i64>))
            .col_expr(pix_payment::Column::StatusUpdatedAtMs, Expr::value(now_ms))
            .col_expr(pix_payment::Column::Cancellation, Expr::value(sealed))
            .filter(pix_payment::Column::Ring.eq(self.tag()))
            .filter(pix_payment::Column::Id.eq(row.id.as_str()))
            .filter(pix_payment::Column::Status.eq(row.status.as_str()));
        update = match row.due_at_ms {
            Some(due) => update.filter(pix_payment::Column::DueAtMs.eq(due)),
            None => update.filter(pix_payment::Column::DueAtMs.is_null()),
        };
        Ok(update.exec(self.db()).await?.rows_affected == 1)
    }

    /// The live available balance of an account, in cents.
    pub(crate) async fn available_cents(&self, product_id: &str) -> Result<Option<i64>, DemoError> {
        Ok(
            balance::Entity::find_by_id((self.tag().to_string(), product_id.to_string()))
                .one(self.db())
                .await?
                .map(|b| b.available_cents),
        )
    }
}
