//! The outage register: scheduled outages announced within the rules, outages an operator
//! declares, and those the health checker detects. Every write is a single insert or a
//! conditional update, so several instances on one database act as one.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr,
};

use crate::availability::{self, AvailabilityReport};
use crate::clock::Clock;
use crate::entity::{outage, probe};
use crate::error::Result;
use crate::outage::{Outage, OutageKind, Phase};
use crate::rules::{Refusal, SchedulingRules};
use crate::time;

/// The most entries a list returns.
pub const LIST_LIMIT: u64 = 1_000;

/// The longest explanation the status API carries.
const MAX_EXPLANATION: usize = 2_000;

/// A scheduled outage to announce.
#[derive(Debug, Clone)]
pub struct NewScheduled {
    pub starts_at: i64,
    pub ends_at: i64,
    pub explanation: String,
    /// Empty together with `unavailable_endpoints`: a total outage.
    pub families: Vec<String>,
    pub unavailable_endpoints: Vec<String>,
}

/// An unscheduled outage an operator declares.
#[derive(Debug, Clone)]
pub struct NewDeclared {
    /// When it began; now when absent. Never in the future.
    pub starts_at: Option<i64>,
    pub expected_end_at: Option<i64>,
    pub explanation: String,
    pub families: Vec<String>,
    pub unavailable_endpoints: Vec<String>,
}

/// What the health checker opens.
#[derive(Debug, Clone)]
pub(crate) struct NewDetected {
    pub starts_at: i64,
    pub is_partial: bool,
    pub families: Vec<String>,
    pub unavailable_endpoints: Vec<String>,
    pub explanation: String,
}

/// The register over one database.
pub struct OutageRegister {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    rules: SchedulingRules,
}

impl OutageRegister {
    /// The register with the announcement rules of §4.
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        Self::with_rules(db, clock, SchedulingRules::default())
    }

    pub fn with_rules(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        rules: SchedulingRules,
    ) -> Self {
        Self { db, clock, rules }
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn rules(&self) -> &SchedulingRules {
        &self.rules
    }

    /// Announces a scheduled outage, or says which rule it breaks.
    pub async fn schedule(&self, new: NewScheduled) -> Result<Result<Outage, Refusal>> {
        let now = self.now();
        let scope = match scope(new.explanation, new.families, new.unavailable_endpoints) {
            Ok(scope) => scope,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if let Err(refusal) = self.rules.check(now, new.starts_at, new.ends_at) {
            return Ok(Err(refusal));
        }
        let row = scope.row(OutageKind::Scheduled, new.starts_at, Some(new.ends_at), now);
        let row = outage::ActiveModel {
            scheduled_month: ActiveValue::Set(Some(time::brasilia_month(new.starts_at))),
            ..row
        };
        match row.insert(&self.db).await {
            Ok(model) => Ok(Ok(Outage::from_row(model)?)),
            Err(err) if is_unique_violation(&err) => Ok(Err(Refusal::MonthTaken)),
            Err(err) => Err(err.into()),
        }
    }

    /// Records an unscheduled outage an operator declares; it counts as downtime.
    pub async fn declare(&self, new: NewDeclared) -> Result<Result<Outage, Refusal>> {
        let now = self.now();
        let starts_at = new.starts_at.unwrap_or(now);
        if starts_at > now {
            return Ok(Err(Refusal::Invalid(
                "an unscheduled outage cannot start in the future: announce a scheduled one",
            )));
        }
        if new.expected_end_at.is_some_and(|end| end <= starts_at) {
            return Ok(Err(Refusal::EmptyWindow));
        }
        let scope = match scope(new.explanation, new.families, new.unavailable_endpoints) {
            Ok(scope) => scope,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let row = scope.row(OutageKind::Declared, starts_at, new.expected_end_at, now);
        Ok(Ok(Outage::from_row(row.insert(&self.db).await?)?))
    }

    /// Ends an outage now: a scheduled one not yet begun is cancelled (its month freed), one
    /// in progress ends early.
    pub async fn end(&self, id: &str) -> Result<Result<Outage, Refusal>> {
        let now = self.now();
        let Some(current) = self.get(id).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        let phase = current.phase(now);
        if matches!(phase, Phase::Ended | Phase::Cancelled) {
            return Ok(Err(Refusal::AlreadyOver));
        }
        let mut update = outage::Entity::update_many()
            .col_expr(outage::Column::EndedAt, Expr::value(now))
            .col_expr(outage::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                outage::Column::OpenDetected,
                Expr::value(Option::<String>::None),
            )
            .filter(outage::Column::Id.eq(id))
            .filter(outage::Column::EndedAt.is_null());
        if phase == Phase::Upcoming {
            update = update.col_expr(
                outage::Column::ScheduledMonth,
                Expr::value(Option::<String>::None),
            );
        }
        if update.exec(&self.db).await?.rows_affected == 0 {
            return Ok(Err(Refusal::AlreadyOver));
        }
        tracing::info!(outage = id, kind = current.kind.as_str(), "outage ended");
        Ok(self.get(id).await?.ok_or(Refusal::NotFound))
    }

    /// Changes the explanation or the expected end of an unscheduled outage still open.
    pub async fn update(
        &self,
        id: &str,
        explanation: Option<String>,
        expected_end_at: Option<i64>,
    ) -> Result<Result<Outage, Refusal>> {
        let now = self.now();
        let Some(current) = self.get(id).await? else {
            return Ok(Err(Refusal::NotFound));
        };
        if current.is_scheduled() {
            return Ok(Err(Refusal::Scheduled));
        }
        if current.ended_at.is_some() {
            return Ok(Err(Refusal::AlreadyOver));
        }
        let mut update = outage::Entity::update_many()
            .col_expr(outage::Column::UpdatedAt, Expr::value(now))
            .filter(outage::Column::Id.eq(id))
            .filter(outage::Column::EndedAt.is_null());
        if let Some(text) = explanation {
            match checked_explanation(text) {
                Ok(text) => {
                    update = update.col_expr(outage::Column::Explanation, Expr::value(text))
                }
                Err(refusal) => return Ok(Err(refusal)),
            }
        }
        if let Some(end) = expected_end_at {
            if end <= current.starts_at {
                return Ok(Err(Refusal::EmptyWindow));
            }
            update = update.col_expr(outage::Column::ExpectedEndAt, Expr::value(end));
        }
        if update.exec(&self.db).await?.rows_affected == 0 {
            return Ok(Err(Refusal::AlreadyOver));
        }
        Ok(self.get(id).await?.ok_or(Refusal::NotFound))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Outage>> {
        outage::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(Outage::from_row)
            .transpose()
    }

    /// Every outage not over before `since` (and every one still open or upcoming), latest
    /// start first, at most [`LIST_LIMIT`].
    pub async fn list(&self, since: i64) -> Result<Vec<Outage>> {
        let rows = outage::Entity::find()
            .filter(
                Condition::any()
                    .add(outage::Column::StartsAt.gte(since))
                    .add(outage::Column::EndedAt.is_null())
                    .add(outage::Column::EndedAt.gte(since)),
            )
            .order_by_desc(outage::Column::StartsAt)
            .order_by_asc(outage::Column::Id)
            .limit(LIST_LIMIT)
            .all(&self.db)
            .await?;
        rows.into_iter().map(Outage::from_row).collect()
    }

    /// Every outage whose row may overlap `[from, to)` (callers clip with
    /// [`Outage::clipped`]), earliest start first.
    pub async fn overlapping(&self, from: i64, to: i64) -> Result<Vec<Outage>> {
        let rows = outage::Entity::find()
            .filter(outage::Column::StartsAt.lt(to))
            .filter(
                Condition::any()
                    .add(outage::Column::EndedAt.is_null())
                    .add(outage::Column::EndedAt.gt(from)),
            )
            .order_by_asc(outage::Column::StartsAt)
            .order_by_asc(outage::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter().map(Outage::from_row).collect()
    }

    /// The outages in effect at `now`.
    pub async fn in_effect(&self, now: i64) -> Result<Vec<Outage>> {
        Ok(self
            .overlapping(now, now + 1)
            .await?
            .into_iter()
            .filter(|o| o.in_effect(now))
            .collect())
    }

    /// Scheduled outages not yet over and not cancelled, earliest first: what `/outages`
    /// announces.
    pub async fn announced(&self, now: i64) -> Result<Vec<Outage>> {
        let rows = outage::Entity::find()
            .filter(outage::Column::Kind.eq(OutageKind::Scheduled.as_str()))
            .filter(outage::Column::ExpectedEndAt.gt(now))
            .filter(outage::Column::EndedAt.is_null())
            .order_by_asc(outage::Column::StartsAt)
            .order_by_asc(outage::Column::Id)
            .limit(LIST_LIMIT)
            .all(&self.db)
            .await?;
        rows.into_iter().map(Outage::from_row).collect()
    }

    /// When the status last changed: the latest outage write or health-checker round.
    pub async fn last_update(&self) -> Result<Option<i64>> {
        let outage: Option<Option<i64>> = outage::Entity::find()
            .select_only()
            .column_as(outage::Column::UpdatedAt.max(), "v")
            .into_tuple()
            .one(&self.db)
            .await?;
        let probe: Option<Option<i64>> = probe::Entity::find()
            .select_only()
            .column_as(probe::Column::CheckedAt.max(), "v")
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(outage.flatten().max(probe.flatten()))
    }

    /// Daily uptime over the last `days` Brasília days (today included, so far) and the
    /// rolling 90 days, against the targets of §4.
    pub async fn availability(&self, days: u32) -> Result<AvailabilityReport> {
        let now = self.now();
        let days = days.clamp(1, availability::ROLLING_DAYS as u32);
        let from = (time::day_start(now) - (i64::from(days) - 1) * time::DAY)
            .min(now - availability::ROLLING_DAYS * time::DAY);
        let outages = self.overlapping(from, now).await?;
        Ok(availability::report(&outages, now, days))
    }

    /// The open detected outage, if any.
    pub async fn open_detected(&self) -> Result<Option<Outage>> {
        outage::Entity::find()
            .filter(outage::Column::Kind.eq(OutageKind::Detected.as_str()))
            .filter(outage::Column::EndedAt.is_null())
            .order_by_asc(outage::Column::StartsAt)
            .one(&self.db)
            .await?
            .map(Outage::from_row)
            .transpose()
    }

    /// Opens a detected outage; `None` when one is open already (another instance won).
    pub(crate) async fn open_detected_outage(&self, new: NewDetected) -> Result<Option<Outage>> {
        let now = self.now();
        let row = Scope {
            explanation: new.explanation,
            is_partial: new.is_partial,
            families: new.families,
            unavailable_endpoints: new.unavailable_endpoints,
        }
        .row(OutageKind::Detected, new.starts_at, None, now);
        let row = outage::ActiveModel {
            open_detected: ActiveValue::Set(Some("detected".to_string())),
            ..row
        };
        match row.insert(&self.db).await {
            Ok(model) => Ok(Some(Outage::from_row(model)?)),
            Err(err) if is_unique_violation(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Closes a detected outage at `at`; `false` when it was closed already.
    pub(crate) async fn close_detected(&self, id: &str, at: i64) -> Result<bool> {
        let result = outage::Entity::update_many()
            .col_expr(outage::Column::EndedAt, Expr::value(at))
            .col_expr(outage::Column::UpdatedAt, Expr::value(at))
            .col_expr(
                outage::Column::OpenDetected,
                Expr::value(Option::<String>::None),
            )
            .filter(outage::Column::Id.eq(id))
            .filter(outage::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }
}

/// What an outage covers and why, checked.
struct Scope {
    explanation: String,
    is_partial: bool,
    families: Vec<String>,
    unavailable_endpoints: Vec<String>,
}

impl Scope {
    fn row(
        self,
        kind: OutageKind,
        starts_at: i64,
        expected_end_at: Option<i64>,
        now: i64,
    ) -> outage::ActiveModel {
        outage::ActiveModel {
            id: ActiveValue::Set(uuid::Uuid::new_v4().to_string()),
            kind: ActiveValue::Set(kind.as_str().to_string()),
            starts_at: ActiveValue::Set(starts_at),
            expected_end_at: ActiveValue::Set(expected_end_at),
            ended_at: ActiveValue::Set(None),
            is_partial: ActiveValue::Set(self.is_partial),
            families: ActiveValue::Set(json_list(&self.families)),
            unavailable_endpoints: ActiveValue::Set(json_list(&self.unavailable_endpoints)),
            explanation: ActiveValue::Set(self.explanation),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
            open_detected: ActiveValue::Set(None),
            scheduled_month: ActiveValue::Set(None),
        }
    }
}

/// Checks an operator's outage: an explanation the status API can carry, families and
/// endpoints within the spec's bounds. Naming none makes it total.
fn scope(
    explanation: String,
    families: Vec<String>,
    unavailable_endpoints: Vec<String>,
) -> Result<Scope, Refusal> {
    let explanation = checked_explanation(explanation)?;
    let clean = |values: Vec<String>| -> Vec<String> {
        let mut values: Vec<String> = values.into_iter().map(|v| v.trim().to_string()).collect();
        values.sort();
        values.dedup();
        values
    };
    let families = clean(families);
    let unavailable_endpoints = clean(unavailable_endpoints);
    if families.iter().any(|f| f.is_empty() || f.len() > 64) {
        return Err(Refusal::Invalid("a family is a name of 1 to 64 characters"));
    }
    if unavailable_endpoints.len() > 1_000
        || unavailable_endpoints
            .iter()
            .any(|e| e.is_empty() || e.len() > 2_000)
    {
        return Err(Refusal::Invalid(
            "at most 1000 unavailable endpoints of 1 to 2000 characters",
        ));
    }
    Ok(Scope {
        explanation,
        is_partial: !(families.is_empty() && unavailable_endpoints.is_empty()),
        families,
        unavailable_endpoints,
    })
}

/// The spec's rule for `explanation`: not blank, no surrounding whitespace, at most 2000
/// characters.
fn checked_explanation(text: String) -> Result<String, Refusal> {
    let text = text.trim().to_string();
    if text.is_empty() || text.chars().count() > MAX_EXPLANATION {
        return Err(Refusal::Invalid(
            "explanation must have 1 to 2000 characters",
        ));
    }
    Ok(text)
}

fn json_list(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
