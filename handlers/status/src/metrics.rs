//! The figures of admin metrics v2.0.1, from the recorded calls (`api_call`) and the outage
//! register.
//!
//! Cost: a request must not grow with the calls stored. The calls are rolled up into per-day,
//! per-endpoint sums (`status_call_day`) up to a mark (`status_call_mark`) that trails the
//! clock by [`SETTLE`] and advances in steps of at least [`ROLL_STEP`]; today is rolled up
//! as it goes, like the past days. A request reads the rollup (at most eight days per
//! endpoint) and aggregates only the calls received after the mark: a few minutes of traffic
//! whatever the history. The mark's advance is claimed by a compare-and-set, so several
//! instances on one database never add the same calls twice, and a failed advance only
//! leaves more calls to read live. Rollup and mark are read in one statement, one snapshot.
//!
//! Definitions, where the spec leaves room:
//! * days are Brasília calendar days; `currentDay` is today so far, `previousDays[0]` is
//!   yesterday. A previous day is reported when it ends after the first recorded call (the
//!   data exists from then); `period=CURRENT` reports today alone.
//! * `averageResponse`: mean `processing_ms`, rounded half up; 0 without calls.
//! * `averageTps`: calls divided by the seconds of the day — 86 400 for a past day, the
//!   elapsed seconds for today (an average over time not yet lived would understate it) —
//!   rounded half up.
//! * `peakTps`: the most calls received within one wall-clock second. The mark stands on
//!   whole seconds, so a second is never split between the rollup and the live calls.
//! * `errors`: answers 5xx except 529; `rejections`: calls refused by a limit — 423
//!   (operational limit), 429 (traffic limit), 529 (global TPS) — the "operação recusada" of
//!   the spec's responses. Other 4xx are the caller's mistakes and count in neither.
//! * a call written to `api_call` more than [`SETTLE`] after it was received (the capture
//!   writes within a second, and gives up on a failing batch after about 80 s) is left out
//!   of these figures; the PCM still gets it.
//! * `availability` covers the same days (today up to now): `generalDowntime` is platform
//!   downtime, `partialDowntime` and `scheduledOutage` that of the endpoint, rates per
//!   [`crate::availability`].

use std::collections::BTreeMap;

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Statement, TransactionTrait,
    Value,
};

use crate::availability::{self, Scope};
use crate::entity::call_mark;
use crate::error::Result;
use crate::outage::Outage;
use crate::time;

/// How many previous days the spec reports at most.
pub const PREVIOUS_DAYS: i64 = 7;

/// How far (seconds) the rollup trails the clock: calls received longer ago than this are
/// taken to be written already.
pub const SETTLE: i64 = 120;

/// The least the rollup advances at once (seconds), so a burst of requests writes once.
pub const ROLL_STEP: i64 = 60;

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
    /// The period's days: today, and the previous days since the first recorded call
    /// (`first_ms`).
    fn new(period: Period, now: i64, first_ms: Option<i64>) -> Self {
        let today = time::day_start(now);
        let previous = match (period, first_ms) {
            (Period::Current, _) | (Period::All, None) => 0,
            (Period::All, Some(first_ms)) => (1..=PREVIOUS_DAYS)
                .take_while(|back| (today - back * time::DAY + time::DAY) * 1_000 > first_ms)
                .count() as i64,
        };
        Self {
            now,
            today,
            previous,
        }
    }

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

impl Sums {
    /// Both parts of one day; a second lies wholly in one part, so the peak is the larger.
    fn add(&mut self, other: Sums) {
        self.invocations += other.invocations;
        self.total_ms += other.total_ms;
        self.errors += other.errors;
        self.rejections += other.rejections;
        self.peak = self.peak.max(other.peak);
    }
}

/// Per endpoint: its family and its sums per day (keyed by the day's start, unix seconds).
type Aggregates = BTreeMap<String, (String, BTreeMap<i64, Sums>)>;

/// The rollup's progress for one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    rolled_to: i64,
    first_ms: Option<i64>,
}

/// Computes the figures of every endpoint with calls in the period, sorted by endpoint.
/// `brand` limits them to one brand's calls; `outages` must cover the period.
pub async fn compute(
    db: &DatabaseConnection,
    brand: Option<&str>,
    period: Period,
    now: i64,
    outages: &[Outage],
) -> Result<Vec<EndpointMetrics>> {
    let scope = scope_of(brand);
    let today = time::day_start(now);
    let floor = today - PREVIOUS_DAYS * time::DAY;
    if let Err(err) = roll(db, brand, now).await {
        // The answer stays right: what was not rolled up is read from the calls below.
        tracing::warn!(%err, scope, "admin metrics rollup not advanced");
    }
    let (mut sums, mark) = rolled_up(db, scope, floor).await?;
    let live_from = mark.map_or(floor * 1_000, |m| m.rolled_to.max(floor * 1_000));
    let (live, live_first) = aggregate(db, brand, live_from, (today + time::DAY) * 1_000).await?;
    merge(&mut sums, live);
    let first_ms = match mark {
        Some(mark) => mark.first_ms.or(live_first),
        // Without a mark the rollup could not start: the first call is looked up.
        None => first_call(db, brand).await?,
    };
    let window = Window::new(period, now, first_ms);

    let (from, to) = (window.start(), window.end());
    let period_seconds = (now.min(to) - from).max(0);
    let general = availability::downtime(outages, from, to, now, Scope::General);
    Ok(sums
        .into_iter()
        .filter(|(_, (_, days))| days.range(from..to).next().is_some())
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
        let mine = &mut into
            .entry(endpoint)
            .or_insert_with(|| (family, BTreeMap::new()))
            .1;
        for (day, sums) in days {
            mine.entry(day).or_default().add(sums);
        }
    }
}

/// The rollup's scope of a brand; `*` stands for every brand together (whose peak is not
/// the sum of the brands' peaks).
fn scope_of(brand: Option<&str>) -> &str {
    brand.unwrap_or("*")
}

/// The rollup's sums of the days from `floor` (a day start) and its mark, read in one
/// statement so that they agree.
async fn rolled_up(
    db: &DatabaseConnection,
    scope: &str,
    floor: i64,
) -> Result<(Aggregates, Option<Mark>)> {
    let sql = bind(
        db,
        "SELECT endpoint, family, day_start, invocations, total_ms, errors, rejections, peak, \
           CAST(NULL AS BIGINT) AS rolled_to, CAST(NULL AS BIGINT) AS first_ms \
         FROM status_call_day WHERE scope = ? AND day_start >= ? \
         UNION ALL \
         SELECT '', '', CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT), \
           CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT), rolled_to, first_ms \
         FROM status_call_mark WHERE scope = ?",
    );
    let rows = run_query(db, &sql, vec![scope.into(), floor.into(), scope.into()]).await?;
    let mut sums = Aggregates::new();
    let mut mark = None;
    for row in rows {
        if let Some(rolled_to) = row.try_get::<Option<i64>>("", "rolled_to")? {
            mark = Some(Mark {
                rolled_to,
                first_ms: row.try_get("", "first_ms")?,
            });
            continue;
        }
        let endpoint: String = row.try_get("", "endpoint")?;
        let family: String = row.try_get("", "family")?;
        sums.entry(endpoint)
            .or_insert_with(|| (family, BTreeMap::new()))
            .1
            .insert(
                row.try_get("", "day_start")?,
                Sums {
                    invocations: row.try_get("", "invocations")?,
                    total_ms: row.try_get("", "total_ms")?,
                    errors: row.try_get("", "errors")?,
                    rejections: row.try_get("", "rejections")?,
                    peak: row.try_get("", "peak")?,
                },
            );
    }
    Ok((sums, mark))
}

/// Advances the scope's rollup to [`SETTLE`] before `now`, when it is [`ROLL_STEP`] behind
/// that: adds the calls received since the mark to the day rows, moves the mark, and drops
/// the days no report reaches any more, in one transaction. The mark moves first, on the
/// value read before: an instance that finds it moved leaves the step to the one that moved
/// it.
async fn roll(db: &DatabaseConnection, brand: Option<&str>, now: i64) -> Result<()> {
    let scope = scope_of(brand);
    let floor = time::day_start(now) - PREVIOUS_DAYS * time::DAY;
    let target = (now - SETTLE) * 1_000;
    let mark = call_mark::Entity::find_by_id(scope.to_string())
        .one(db)
        .await?;
    let base = mark
        .as_ref()
        .map_or(floor * 1_000, |m| m.rolled_to.max(floor * 1_000));
    if target - base < ROLL_STEP * 1_000 {
        return Ok(());
    }
    let txn = db.begin().await?;
    let claimed = match &mark {
        Some(mark) => {
            let sql = bind(
                db,
                "UPDATE status_call_mark SET rolled_to = ? WHERE scope = ? AND rolled_to = ?",
            );
            execute(
                &txn,
                &sql,
                vec![target.into(), scope.into(), mark.rolled_to.into()],
            )
            .await?
        }
        None => {
            let sql = bind(
                db,
                "INSERT INTO status_call_mark (scope, rolled_to, first_ms) VALUES (?, ?, NULL) \
                 ON CONFLICT (scope) DO NOTHING",
            );
            execute(&txn, &sql, vec![scope.into(), target.into()]).await?
        }
    };
    if claimed != 1 {
        txn.rollback().await?;
        return Ok(());
    }
    let (sums, delta_first) = aggregate(&txn, brand, base, target).await?;
    let first_ms = match &mark {
        Some(mark) => mark.first_ms.or(delta_first),
        None => first_call(&txn, brand).await?,
    };
    if first_ms.is_some() && mark.as_ref().and_then(|m| m.first_ms) != first_ms {
        let sql = bind(
            db,
            "UPDATE status_call_mark SET first_ms = ? WHERE scope = ?",
        );
        execute(&txn, &sql, vec![first_ms.into(), scope.into()]).await?;
    }
    let upsert = bind(
        db,
        "INSERT INTO status_call_day \
           (scope, day_start, endpoint, family, invocations, total_ms, errors, rejections, peak) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (scope, day_start, endpoint) DO UPDATE SET \
           invocations = status_call_day.invocations + excluded.invocations, \
           total_ms = status_call_day.total_ms + excluded.total_ms, \
           errors = status_call_day.errors + excluded.errors, \
           rejections = status_call_day.rejections + excluded.rejections, \
           peak = CASE WHEN excluded.peak > status_call_day.peak \
             THEN excluded.peak ELSE status_call_day.peak END",
    );
    for (endpoint, (family, days)) in sums {
        for (day, s) in days {
            let values = vec![
                scope.into(),
                day.into(),
                endpoint.as_str().into(),
                family.as_str().into(),
                s.invocations.into(),
                s.total_ms.into(),
                s.errors.into(),
                s.rejections.into(),
                s.peak.into(),
            ];
            execute(&txn, &upsert, values).await?;
        }
    }
    let prune = bind(
        db,
        "DELETE FROM status_call_day WHERE scope = ? AND day_start < ?",
    );
    execute(&txn, &prune, vec![scope.into(), floor.into()]).await?;
    txn.commit().await?;
    Ok(())
}

/// When the scope's first recorded call was received (unix milliseconds). Read once per
/// scope, when its rollup starts.
async fn first_call<C: ConnectionTrait>(db: &C, brand: Option<&str>) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT MIN(received_at) AS first_ms FROM api_call{}",
        brand_filter(db, brand, " WHERE")
    );
    Ok(query(db, &sql, brand)
        .await?
        .first()
        .map(|row| row.try_get::<Option<i64>>("", "first_ms"))
        .transpose()?
        .flatten())
}

/// The sums per endpoint and day of the calls received in `[from, to)` (unix milliseconds,
/// whole seconds), and the earliest of them.
async fn aggregate<C: ConnectionTrait>(
    db: &C,
    brand: Option<&str>,
    from: i64,
    to: i64,
) -> Result<(Aggregates, Option<i64>)> {
    let mut sums = Aggregates::new();
    let mut first: Option<i64> = None;
    if to <= from {
        return Ok((sums, first));
    }
    // Days are counted from the start of the day `from` falls in.
    let origin = time::day_start(from.div_euclid(1_000));
    let day_of = |row: &sea_orm::QueryResult| -> Result<i64> {
        Ok(origin + row.try_get::<i64>("", "day_index")? * time::DAY)
    };
    for row in query(db, &totals_sql(db, origin, from, to, brand), brand).await? {
        let endpoint: String = row.try_get("", "endpoint")?;
        let family: String = row.try_get("", "family")?;
        let day = day_of(&row)?;
        let earliest: i64 = row.try_get("", "first_ms")?;
        first = Some(first.map_or(earliest, |f| f.min(earliest)));
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
    for row in query(db, &peaks_sql(db, origin, from, to, brand), brand).await? {
        let endpoint: String = row.try_get("", "endpoint")?;
        let day = day_of(&row)?;
        let peak: i64 = row.try_get("", "peak")?;
        if let Some((_, days)) = sums.get_mut(&endpoint) {
            let day_sums = days.entry(day).or_default();
            day_sums.peak = day_sums.peak.max(peak);
        }
    }
    Ok((sums, first))
}

/// Per endpoint and day (0 = the day starting at `origin`, unix seconds) of the calls in
/// `[from, to)` (unix milliseconds): calls, total time, errors, rejections, the earliest
/// call. An endpoint has one family; grouping by it too only carries it along.
fn totals_sql<C: ConnectionTrait>(
    db: &C,
    origin: i64,
    from: i64,
    to: i64,
    brand: Option<&str>,
) -> String {
    let origin_ms = origin * 1_000;
    format!(
        "SELECT endpoint, family, \
           CAST((received_at - {origin_ms}) / {DAY_MS} AS BIGINT) AS day_index, \
           CAST(COUNT(*) AS BIGINT) AS invocations, \
           CAST(COALESCE(SUM(processing_ms), 0) AS BIGINT) AS total_ms, \
           CAST(SUM(CASE WHEN status_code >= 500 AND status_code <> 529 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
           CAST(SUM(CASE WHEN status_code IN (423, 429, 529) THEN 1 ELSE 0 END) AS BIGINT) AS rejections, \
           CAST(MIN(received_at) AS BIGINT) AS first_ms \
         FROM api_call \
         WHERE received_at >= {from} AND received_at < {to}{} \
         GROUP BY 1, 2, 3",
        brand_filter(db, brand, " AND")
    )
}

/// Per endpoint and day (as in [`totals_sql`]): the most calls within one second.
fn peaks_sql<C: ConnectionTrait>(
    db: &C,
    origin: i64,
    from: i64,
    to: i64,
    brand: Option<&str>,
) -> String {
    let origin_ms = origin * 1_000;
    format!(
        "SELECT endpoint, CAST((at_second * 1000 - {origin_ms}) / {DAY_MS} AS BIGINT) AS day_index, \
           CAST(MAX(calls) AS BIGINT) AS peak \
         FROM ( \
           SELECT endpoint, CAST(received_at / 1000 AS BIGINT) AS at_second, COUNT(*) AS calls \
           FROM api_call \
           WHERE received_at >= {from} AND received_at < {to}{} \
           GROUP BY 1, 2 \
         ) per_second \
         GROUP BY 1, 2",
        brand_filter(db, brand, " AND")
    )
}

/// ` AND brand = $1` (or `?`), when a brand is asked for.
fn brand_filter<C: ConnectionTrait>(db: &C, brand: Option<&str>, joiner: &str) -> String {
    match (brand, db.get_database_backend()) {
        (None, _) => String::new(),
        (Some(_), DatabaseBackend::Postgres) => format!("{joiner} brand = $1"),
        (Some(_), _) => format!("{joiner} brand = ?"),
    }
}

/// `sql` with its `?` placeholders numbered for PostgreSQL (`$1`, `$2`, ...).
fn bind<C: ConnectionTrait>(db: &C, sql: &str) -> String {
    bind_for(db.get_database_backend(), sql)
}

fn bind_for(backend: DatabaseBackend, sql: &str) -> String {
    if backend != DatabaseBackend::Postgres {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

async fn query<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    brand: Option<&str>,
) -> Result<Vec<sea_orm::QueryResult>> {
    run_query(db, sql, brand.map(|b| b.into()).into_iter().collect()).await
}

async fn run_query<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<sea_orm::QueryResult>> {
    Ok(db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await?)
}

/// Runs a statement; the rows it touched.
async fn execute<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<Value>) -> Result<u64> {
    Ok(db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await?
        .rows_affected())
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
    fn placeholders_are_numbered_for_postgres_only() {
        let sql = "a = ? AND b = ?";
        assert_eq!(
            bind_for(DatabaseBackend::Postgres, sql),
            "a = $1 AND b = $2"
        );
        assert_eq!(bind_for(DatabaseBackend::Sqlite, sql), sql);
    }

    #[test]
    fn rounding() {
        assert_eq!(rounded(5, 2), 3);
        assert_eq!(rounded(4, 3), 1);
        assert_eq!(rounded(43_200, 86_400), 1);
        assert_eq!(rounded(43_199, 86_400), 0);
        assert_eq!(rounded(7, 0), 0);
    }
}
