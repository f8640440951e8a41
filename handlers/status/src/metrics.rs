//! The figures of admin metrics v2.0.1, from the recorded calls (`api_call`) and the outage
//! register, with SQL aggregates over the days asked for (the `received_at` index bounds the
//! scan; no call row is loaded). A past day, once settled, is aggregated once into a daily
//! rollup (`status_call_day`), so a request scans only the calls of today (and of yesterday
//! in the first hour after midnight).
//!
//! Definitions, where the spec leaves room:
//! * days are Brasília calendar days; `currentDay` is today so far, `previousDays[0]` is
//!   yesterday. A previous day is reported when it ends after the first recorded call (the
//!   data exists from then); `period=CURRENT` reports today alone.
//! * `averageResponse`: mean `processing_ms`, rounded half up; 0 without calls.
//! * `averageTps`: calls divided by the seconds of the day — 86 400 for a past day, the
//!   elapsed seconds for today (an average over time not yet lived would understate it) —
//!   rounded half up.
//! * `peakTps`: the most calls received within one wall-clock second.
//! * `errors`: answers 5xx except 529; `rejections`: calls refused by a limit — 423
//!   (operational limit), 429 (traffic limit), 529 (global TPS) — the "operação recusada" of
//!   the spec's responses. Other 4xx are the caller's mistakes and count in neither.
//! * `availability` covers the same days (today up to now): `generalDowntime` is platform
//!   downtime, `partialDowntime` and `scheduledOutage` that of the endpoint, rates per
//!   [`crate::availability`].

use std::collections::BTreeMap;

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait,
    QueryFilter, Statement, TransactionTrait, Value,
};

use crate::availability::{self, Scope};
use crate::entity::call_day;
use crate::error::Result;
use crate::outage::Outage;
use crate::time;

/// How many previous days the spec reports at most.
pub const PREVIOUS_DAYS: i64 = 7;

/// A past day is rolled up this long after it ended; calls recorded later than that for it
/// (the capture writes within seconds) are not counted.
pub const ROLLUP_GRACE: i64 = 3_600;

const DAY_MS: i64 = time::DAY * 1_000;

/// The spec's `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Today only.
    Current,
    /// Today and up to seven previous days (the default).
    All,
}

/// One day's figures of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayFigures {
    pub invocations: i64,
    pub average_response: i64,
    pub average_tps: i64,
    pub peak_tps: i64,
    pub errors: i64,
    pub rejections: i64,
}

/// The availability block of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityFigures {
    pub general_uptime_rate: String,
    pub uptime_rate: String,
    pub general_downtime: i64,
    pub scheduled_outage: i64,
    pub partial_downtime: i64,
}

/// Everything reported for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointMetrics {
    /// The templated path.
    pub endpoint: String,
    pub family: String,
    pub current_day: DayFigures,
    /// Yesterday first.
    pub previous_days: Vec<DayFigures>,
    pub availability: AvailabilityFigures,
}

/// The days a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    now: i64,
    today: i64,
    previous: i64,
}

impl Window {
    fn start(&self) -> i64 {
        self.today - self.previous * time::DAY
    }

    fn end(&self) -> i64 {
        self.today + time::DAY
    }

    /// The seconds a day's average is over: whole days, and today so far.
    fn seconds(&self, day: i64) -> i64 {
        if day == self.today {
            (self.now - self.today).max(1)
        } else {
            time::DAY
        }
    }

    /// Past days settled long enough to be rolled up.
    fn closed_days(&self) -> Vec<i64> {
        (1..=self.previous)
            .map(|back| self.today - back * time::DAY)
            .filter(|day| day + time::DAY + ROLLUP_GRACE <= self.now)
            .collect()
    }
}

/// Sums of one endpoint on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sums {
    invocations: i64,
    total_ms: i64,
    errors: i64,
    rejections: i64,
    peak: i64,
}

/// Per endpoint: its family and its sums per day (keyed by the day's start, unix seconds).
type Aggregates = BTreeMap<String, (String, BTreeMap<i64, Sums>)>;

/// Computes the figures of every endpoint with calls in the period, sorted by endpoint.
/// `brand` limits them to one brand's calls; `outages` must cover the period.
///
/// Past days settled for [`ROLLUP_GRACE`] are read from the daily rollup (and rolled up on
/// first use), so a request aggregates only the recent calls however many are stored.
pub async fn compute(
    db: &DatabaseConnection,
    brand: Option<&str>,
    period: Period,
    now: i64,
    outages: &[Outage],
) -> Result<Vec<EndpointMetrics>> {
    let window = window(db, brand, period, now).await?;
    let closed = window.closed_days();
    // Closed days are the oldest ones; the rest is aggregated from the calls.
    let live_from = closed
        .iter()
        .max()
        .map_or(window.start(), |newest| newest + time::DAY);
    let mut sums = rolled_up(db, brand, &closed).await?;
    merge(
        &mut sums,
        aggregate(db, brand, live_from, window.end()).await?,
    );

    let (from, to) = (window.start(), window.end());
    let period_seconds = (now.min(to) - from).max(0);
    let general = availability::downtime(outages, from, to, now, Scope::General);
    Ok(sums
        .into_iter()
        .map(|(endpoint, (family, days))| {
            let figures = |day: i64| {
                figures(
                    days.get(&day).copied().unwrap_or_default(),
                    window.seconds(day),
                )
            };
            let scope = Scope::Endpoint {
                path: &endpoint,
                family: &family,
            };
            let own = availability::downtime(outages, from, to, now, scope);
            let availability = AvailabilityFigures {
                general_uptime_rate: time::rate(
                    period_seconds - general.unscheduled,
                    period_seconds,
                ),
                uptime_rate: time::rate(period_seconds - own.unscheduled, period_seconds),
                general_downtime: general.unscheduled,
                scheduled_outage: own.scheduled,
                partial_downtime: own.unscheduled,
            };
            EndpointMetrics {
                current_day: figures(window.today),
                previous_days: (1..=window.previous)
                    .map(|back| figures(window.today - back * time::DAY))
                    .collect(),
                availability,
                endpoint,
                family,
            }
        })
        .collect())
}

fn merge(into: &mut Aggregates, more: Aggregates) {
    for (endpoint, (family, days)) in more {
        into.entry(endpoint)
            .or_insert_with(|| (family, BTreeMap::new()))
            .1
            .extend(days);
    }
}

/// The period's days: today, and the previous days the recorded calls reach.
async fn window(
    db: &DatabaseConnection,
    brand: Option<&str>,
    period: Period,
    now: i64,
) -> Result<Window> {
    let today = time::day_start(now);
    let previous = match period {
        Period::Current => 0,
        Period::All => {
            let sql = format!(
                "SELECT MIN(received_at) AS first_ms FROM api_call{}",
                brand_filter(db, brand, " WHERE")
            );
            let first: Option<i64> = query(db, &sql, brand)
                .await?
                .first()
                .map(|row| row.try_get::<Option<i64>>("", "first_ms"))
                .transpose()?
                .flatten();
            match first {
                None => 0,
                Some(first_ms) => (1..=PREVIOUS_DAYS)
                    .take_while(|back| (today - back * time::DAY + time::DAY) * 1_000 > first_ms)
                    .count() as i64,
            }
        }
    };
    Ok(Window {
        now,
        today,
        previous,
    })
}

/// The rollup's scope of a brand; `*` stands for every brand together (whose peak is not
/// the sum of the brands' peaks).
fn scope_of(brand: Option<&str>) -> &str {
    brand.unwrap_or("*")
}

/// The sums of `days` (day starts) from the rollup; days not rolled up yet are aggregated
/// and stored, with their marker row, in one transaction. Two instances rolling up the same
/// day write the same rows; the second's are ignored.
async fn rolled_up(
    db: &DatabaseConnection,
    brand: Option<&str>,
    days: &[i64],
) -> Result<Aggregates> {
    let mut sums = Aggregates::new();
    if days.is_empty() {
        return Ok(sums);
    }
    let scope = scope_of(brand);
    let rows = call_day::Entity::find()
        .filter(call_day::Column::Scope.eq(scope))
        .filter(call_day::Column::DayStart.is_in(days.to_vec()))
        .all(db)
        .await?;
    let done: Vec<i64> = rows
        .iter()
        .filter(|row| row.endpoint.is_empty())
        .map(|row| row.day_start)
        .collect();
    for row in rows.into_iter().filter(|row| !row.endpoint.is_empty()) {
        sums.entry(row.endpoint)
            .or_insert_with(|| (row.family, BTreeMap::new()))
            .1
            .insert(
                row.day_start,
                Sums {
                    invocations: row.invocations,
                    total_ms: row.total_ms,
                    errors: row.errors,
                    rejections: row.rejections,
                    peak: row.peak,
                },
            );
    }
    for &day in days.iter().filter(|day| !done.contains(day)) {
        let fresh = aggregate(db, brand, day, day + time::DAY).await?;
        store(db, scope, day, &fresh).await?;
        merge(&mut sums, fresh);
    }
    Ok(sums)
}

async fn store(db: &DatabaseConnection, scope: &str, day: i64, sums: &Aggregates) -> Result<()> {
    let row = |endpoint: &str, family: &str, s: Sums| call_day::ActiveModel {
        scope: ActiveValue::Set(scope.to_string()),
        day_start: ActiveValue::Set(day),
        endpoint: ActiveValue::Set(endpoint.to_string()),
        family: ActiveValue::Set(family.to_string()),
        invocations: ActiveValue::Set(s.invocations),
        total_ms: ActiveValue::Set(s.total_ms),
        errors: ActiveValue::Set(s.errors),
        rejections: ActiveValue::Set(s.rejections),
        peak: ActiveValue::Set(s.peak),
    };
    let mut rows = vec![row("", "", Sums::default())];
    for (endpoint, (family, days)) in sums {
        if let Some(s) = days.get(&day) {
            rows.push(row(endpoint, family, *s));
        }
    }
    let txn = db.begin().await?;
    for chunk in rows.chunks(200) {
        call_day::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    call_day::Column::Scope,
                    call_day::Column::DayStart,
                    call_day::Column::Endpoint,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The sums per endpoint and day of the calls received in `[from, to)` (day starts).
async fn aggregate(
    db: &DatabaseConnection,
    brand: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Aggregates> {
    let mut sums = Aggregates::new();
    if to <= from {
        return Ok(sums);
    }
    let day_of = |row: &sea_orm::QueryResult| -> Result<i64> {
        Ok(from + row.try_get::<i64>("", "day_index")? * time::DAY)
    };
    for row in query(db, &totals_sql(db, from, to, brand), brand).await? {
        let endpoint: String = row.try_get("", "endpoint")?;
        let family: String = row.try_get("", "family")?;
        let day = day_of(&row)?;
        let day_sums = sums
            .entry(endpoint)
            .or_insert_with(|| (family, BTreeMap::new()))
            .1
            .entry(day)
            .or_default();
        day_sums.invocations += row.try_get::<i64>("", "invocations")?;
        day_sums.total_ms += row.try_get::<i64>("", "total_ms")?;
        day_sums.errors += row.try_get::<i64>("", "errors")?;
        day_sums.rejections += row.try_get::<i64>("", "rejections")?;
    }
    for row in query(db, &peaks_sql(db, from, to, brand), brand).await? {
        let endpoint: String = row.try_get("", "endpoint")?;
        let day = day_of(&row)?;
        let peak: i64 = row.try_get("", "peak")?;
        if let Some((_, days)) = sums.get_mut(&endpoint) {
            let day_sums = days.entry(day).or_default();
            day_sums.peak = day_sums.peak.max(peak);
        }
    }
    Ok(sums)
}

/// Per endpoint and day (0 = the day starting at `from`): calls, total time, errors,
/// rejections. An endpoint has one family; grouping by it too only carries it along.
fn totals_sql(db: &DatabaseConnection, from: i64, to: i64, brand: Option<&str>) -> String {
    let (start_ms, end_ms) = (from * 1_000, to * 1_000);
    format!(
        "SELECT endpoint, family, \
           CAST((received_at - {start_ms}) / {DAY_MS} AS BIGINT) AS day_index, \
           CAST(COUNT(*) AS BIGINT) AS invocations, \
           CAST(COALESCE(SUM(processing_ms), 0) AS BIGINT) AS total_ms, \
           CAST(SUM(CASE WHEN status_code >= 500 AND status_code <> 529 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
           CAST(SUM(CASE WHEN status_code IN (423, 429, 529) THEN 1 ELSE 0 END) AS BIGINT) AS rejections \
         FROM api_call \
         WHERE received_at >= {start_ms} AND received_at < {end_ms}{} \
         GROUP BY 1, 2, 3",
        brand_filter(db, brand, " AND")
    )
}

/// Per endpoint and day: the most calls within one second.
fn peaks_sql(db: &DatabaseConnection, from: i64, to: i64, brand: Option<&str>) -> String {
    let (start_ms, end_ms) = (from * 1_000, to * 1_000);
    format!(
        "SELECT endpoint, CAST((at_second * 1000 - {start_ms}) / {DAY_MS} AS BIGINT) AS day_index, \
           CAST(MAX(calls) AS BIGINT) AS peak \
         FROM ( \
           SELECT endpoint, CAST(received_at / 1000 AS BIGINT) AS at_second, COUNT(*) AS calls \
           FROM api_call \
           WHERE received_at >= {start_ms} AND received_at < {end_ms}{} \
           GROUP BY 1, 2 \
         ) per_second \
         GROUP BY 1, 2",
        brand_filter(db, brand, " AND")
    )
}

/// ` AND brand = $1` (or `?`), when a brand is asked for.
fn brand_filter(db: &DatabaseConnection, brand: Option<&str>, joiner: &str) -> String {
    match (brand, db.get_database_backend()) {
        (None, _) => String::new(),
        (Some(_), DatabaseBackend::Postgres) => format!("{joiner} brand = $1"),
        (Some(_), _) => format!("{joiner} brand = ?"),
    }
}

async fn query(
    db: &DatabaseConnection,
    sql: &str,
    brand: Option<&str>,
) -> Result<Vec<sea_orm::QueryResult>> {
    let values: Vec<Value> = brand.map(|b| b.into()).into_iter().collect();
    Ok(db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await?)
}

fn figures(sums: Sums, seconds: i64) -> DayFigures {
    DayFigures {
        invocations: sums.invocations,
        average_response: rounded(sums.total_ms, sums.invocations),
        average_tps: rounded(sums.invocations, seconds),
        peak_tps: sums.peak,
        errors: sums.errors,
        rejections: sums.rejections,
    }
}

/// `numerator / denominator` rounded half up; 0 over nothing.
fn rounded(numerator: i64, denominator: i64) -> i64 {
    if denominator <= 0 {
        return 0;
    }
    (2 * numerator + denominator) / (2 * denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(rounded(5, 2), 3);
        assert_eq!(rounded(4, 3), 1);
        assert_eq!(rounded(43_200, 86_400), 1);
        assert_eq!(rounded(43_199, 86_400), 0);
        assert_eq!(rounded(7, 0), 0);
    }
}
