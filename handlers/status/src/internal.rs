//! The operators' API (not regulated), for the internal listener: announce a scheduled
//! outage (within the rules of §4), declare or update an unscheduled one, end one, list them,
//! read the availability against the 95%/day and 99.5%/90 days targets, and see the health
//! checker's last probes. Every call needs `Authorization: Bearer <internal token>`.

use std::sync::Arc;

use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, SecurityScheme};

use crate::availability::{self, AvailabilityReport, Downtime};
use crate::error::StatusError;
use crate::health;
use crate::outage::Outage;
use crate::register::{NewDeclared, NewScheduled, OutageRegister};
use crate::rules::Refusal;
use crate::time;

/// The operators' routes: `/outages…`, `/availability`, `/probes`, and `/openapi.json`.
pub fn internal_routes(register: Arc<OutageRegister>, token: String) -> poem::Route {
    let service = OpenApiService::new(
        Operators { register, token },
        "Aberta status and outages (operators)",
        "1.0.0",
    );
    let spec = service.spec_endpoint();
    poem::Route::new()
        .at("/openapi.json", spec)
        .nest("/", service)
}

struct Operators {
    register: Arc<OutageRegister>,
    token: String,
}

#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
struct InternalToken(Bearer);

/// An outage as operators see it. Times are RFC 3339, UTC.
#[derive(Debug, Object)]
struct OutageView {
    id: String,
    /// `SCHEDULED`, `DECLARED` or `DETECTED`.
    kind: String,
    /// `UPCOMING`, `IN_PROGRESS`, `ENDED` or `CANCELLED`.
    phase: String,
    start_date_time: String,
    /// The announced end (scheduled) or the estimate (others).
    expected_end_date_time: Option<String>,
    end_date_time: Option<String>,
    is_partial: bool,
    families: Vec<String>,
    unavailable_endpoints: Vec<String>,
    explanation: String,
    creation_date_time: String,
    update_date_time: String,
}

/// A scheduled outage to announce. Name no family and no endpoint for a total outage.
#[derive(Debug, Object)]
struct NewScheduledOutage {
    start_date_time: String,
    end_date_time: String,
    explanation: String,
    #[oai(default)]
    families: Vec<String>,
    #[oai(default)]
    unavailable_endpoints: Vec<String>,
}

/// An unscheduled outage to declare (it counts as downtime).
#[derive(Debug, Object)]
struct NewUnscheduledOutage {
    /// When it began; now when absent.
    start_date_time: Option<String>,
    expected_end_date_time: Option<String>,
    explanation: String,
    #[oai(default)]
    families: Vec<String>,
    #[oai(default)]
    unavailable_endpoints: Vec<String>,
}

/// New text or estimate for an unscheduled outage still open.
#[derive(Debug, Object)]
struct OutageChange {
    explanation: Option<String>,
    expected_end_date_time: Option<String>,
}

#[derive(Debug, Object)]
struct DowntimeView {
    /// Counted against availability.
    downtime_seconds: i64,
    /// Inside scheduled windows, not counted.
    scheduled_seconds: i64,
}

#[derive(Debug, Object)]
struct DayView {
    /// Brasília date.
    date: String,
    /// Seconds counted (today: so far).
    period_seconds: i64,
    downtime: DowntimeView,
    uptime_rate: String,
    meets_target: bool,
}

#[derive(Debug, Object)]
struct RollingView {
    from_date_time: String,
    to_date_time: String,
    downtime: DowntimeView,
    uptime_rate: String,
    meets_target: bool,
}

#[derive(Debug, Object)]
struct AvailabilityView {
    /// `0.950000`.
    daily_target: String,
    /// `0.995000`.
    rolling_target: String,
    /// Today first.
    days: Vec<DayView>,
    rolling: RollingView,
}

#[derive(Debug, Object)]
struct ProbeView {
    family: String,
    consecutive_failures: i32,
    failing_since: Option<String>,
    checked_date_time: String,
    last_error: Option<String>,
}

#[derive(Debug, Object)]
struct Problem {
    message: String,
}

fn problem(message: impl Into<String>) -> Json<Problem> {
    Json(Problem {
        message: message.into(),
    })
}

#[derive(ApiResponse)]
enum OutageResponse {
    #[oai(status = 200)]
    Ok(Json<OutageView>),
    #[oai(status = 201)]
    Created(Json<OutageView>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// The outage is over, or the month already has a scheduled outage.
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    /// A rule or a field refused.
    #[oai(status = 422)]
    Unprocessable(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<OutageView>>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 422)]
    Unprocessable(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
enum AvailabilityResponse {
    #[oai(status = 200)]
    Ok(Json<AvailabilityView>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

#[derive(ApiResponse)]
enum ProbesResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<ProbeView>>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

fn view(outage: Outage, now: i64) -> OutageView {
    OutageView {
        phase: outage.phase(now).as_str().to_string(),
        kind: outage.kind.as_str().to_string(),
        start_date_time: time::format(outage.starts_at),
        expected_end_date_time: outage.expected_end_at.map(time::format),
        end_date_time: outage.ended_at.map(time::format),
        is_partial: outage.is_partial,
        families: outage.families,
        unavailable_endpoints: outage.unavailable_endpoints,
        explanation: outage.explanation,
        creation_date_time: time::format(outage.created_at),
        update_date_time: time::format(outage.updated_at),
        id: outage.id,
    }
}

fn downtime_view(d: Downtime) -> DowntimeView {
    DowntimeView {
        downtime_seconds: d.unscheduled,
        scheduled_seconds: d.scheduled,
    }
}

fn availability_view(report: AvailabilityReport) -> AvailabilityView {
    AvailabilityView {
        daily_target: time::rate(availability::DAILY_TARGET_PERCENT, 100),
        rolling_target: time::rate(availability::ROLLING_TARGET_PERMILLE, 1_000),
        days: report
            .days
            .into_iter()
            .map(|d| DayView {
                date: d.date,
                period_seconds: d.period,
                downtime: downtime_view(d.downtime),
                uptime_rate: d.uptime_rate,
                meets_target: d.meets_target,
            })
            .collect(),
        rolling: RollingView {
            from_date_time: time::format(report.rolling.from),
            to_date_time: time::format(report.rolling.to),
            downtime: downtime_view(report.rolling.downtime),
            uptime_rate: report.rolling.uptime_rate,
            meets_target: report.rolling.meets_target,
        },
    }
}

/// An optional RFC 3339 field, or the refusal naming it.
fn instant(value: Option<&str>, field: &'static str) -> Result<Option<i64>, Refusal> {
    value
        .map(|v| time::parse(v).ok_or(Refusal::Invalid(field)))
        .transpose()
}

impl Operators {
    fn admitted(&self, token: &InternalToken) -> bool {
        aberta_store::same_secret(&token.0.token, &self.token)
    }

    /// The answer to a write: `created` picks 201 over 200.
    fn answer(
        &self,
        outcome: Result<Result<Outage, Refusal>, StatusError>,
        created: bool,
    ) -> OutageResponse {
        match outcome {
            Ok(Ok(outage)) => {
                let body = Json(view(outage, self.register.now()));
                if created {
                    OutageResponse::Created(body)
                } else {
                    OutageResponse::Ok(body)
                }
            }
            Ok(Err(refusal)) => refused(refusal),
            Err(err) => {
                tracing::error!(%err, "outage register");
                OutageResponse::Internal(problem("internal error"))
            }
        }
    }
}

fn refused(refusal: Refusal) -> OutageResponse {
    let message = problem(refusal.message());
    match refusal {
        Refusal::NotFound => OutageResponse::NotFound(message),
        Refusal::AlreadyOver | Refusal::MonthTaken | Refusal::Scheduled => {
            OutageResponse::Conflict(message)
        }
        Refusal::EmptyWindow
        | Refusal::TooLate
        | Refusal::TooLong
        | Refusal::OutsideWindow
        | Refusal::Invalid(_) => OutageResponse::Unprocessable(message),
    }
}

#[OpenApi]
impl Operators {
    /// Outages not over before `since` (RFC 3339; default 90 days ago), and every one open
    /// or upcoming, latest start first.
    #[oai(path = "/outages", method = "get")]
    async fn list(&self, token: InternalToken, since: Query<Option<String>>) -> ListResponse {
        if !self.admitted(&token) {
            return ListResponse::Unauthorized(problem("bad internal token"));
        }
        let now = self.register.now();
        let since = match instant(since.0.as_deref(), "since must be an RFC 3339 date-time") {
            Ok(since) => since.unwrap_or(now - availability::ROLLING_DAYS * time::DAY),
            Err(refusal) => return ListResponse::Unprocessable(problem(refusal.message())),
        };
        match self.register.list(since).await {
            Ok(outages) => {
                ListResponse::Ok(Json(outages.into_iter().map(|o| view(o, now)).collect()))
            }
            Err(err) => {
                tracing::error!(%err, "listing outages");
                ListResponse::Internal(problem("internal error"))
            }
        }
    }

    /// One outage.
    #[oai(path = "/outages/:id", method = "get")]
    async fn read(&self, token: InternalToken, id: Path<String>) -> OutageResponse {
        if !self.admitted(&token) {
            return OutageResponse::Unauthorized(problem("bad internal token"));
        }
        let outcome = self
            .register
            .get(&id.0)
            .await
            .map(|found| found.ok_or(Refusal::NotFound));
        self.answer(outcome, false)
    }

    /// Announces a scheduled outage: at least a week ahead, at most three hours, between
    /// 01:00 and 07:00 Brasília, one per month.
    #[oai(path = "/outages/scheduled", method = "post")]
    async fn schedule(
        &self,
        token: InternalToken,
        body: Json<NewScheduledOutage>,
    ) -> OutageResponse {
        if !self.admitted(&token) {
            return OutageResponse::Unauthorized(problem("bad internal token"));
        }
        let body = body.0;
        let (Some(starts_at), Some(ends_at)) = (
            time::parse(&body.start_date_time),
            time::parse(&body.end_date_time),
        ) else {
            return refused(Refusal::Invalid(
                "start_date_time and end_date_time must be RFC 3339 date-times",
            ));
        };
        let outcome = self
            .register
            .schedule(NewScheduled {
                starts_at,
                ends_at,
                explanation: body.explanation,
                families: body.families,
                unavailable_endpoints: body.unavailable_endpoints,
            })
            .await;
        self.answer(outcome, true)
    }

    /// Declares an unscheduled outage (it counts as downtime).
    #[oai(path = "/outages/unscheduled", method = "post")]
    async fn declare(
        &self,
        token: InternalToken,
        body: Json<NewUnscheduledOutage>,
    ) -> OutageResponse {
        if !self.admitted(&token) {
            return OutageResponse::Unauthorized(problem("bad internal token"));
        }
        let body = body.0;
        let starts_at = match instant(
            body.start_date_time.as_deref(),
            "start_date_time must be an RFC 3339 date-time",
        ) {
            Ok(start) => start,
            Err(refusal) => return refused(refusal),
        };
        let expected_end_at = match instant(
            body.expected_end_date_time.as_deref(),
            "expected_end_date_time must be an RFC 3339 date-time",
        ) {
            Ok(end) => end,
            Err(refusal) => return refused(refusal),
        };
        let outcome = self
            .register
            .declare(NewDeclared {
                starts_at,
                expected_end_at,
                explanation: body.explanation,
                families: body.families,
                unavailable_endpoints: body.unavailable_endpoints,
            })
            .await;
        self.answer(outcome, true)
    }

    /// Changes the explanation or the expected end of an unscheduled outage still open.
    #[oai(path = "/outages/:id", method = "patch")]
    async fn change(
        &self,
        token: InternalToken,
        id: Path<String>,
        body: Json<OutageChange>,
    ) -> OutageResponse {
        if !self.admitted(&token) {
            return OutageResponse::Unauthorized(problem("bad internal token"));
        }
        let body = body.0;
        let end = match instant(
            body.expected_end_date_time.as_deref(),
            "expected_end_date_time must be an RFC 3339 date-time",
        ) {
            Ok(end) => end,
            Err(refusal) => return refused(refusal),
        };
        let outcome = self.register.update(&id.0, body.explanation, end).await;
        self.answer(outcome, false)
    }

    /// Ends an outage now; a scheduled outage not yet begun is cancelled.
    #[oai(path = "/outages/:id/end", method = "post")]
    async fn end(&self, token: InternalToken, id: Path<String>) -> OutageResponse {
        if !self.admitted(&token) {
            return OutageResponse::Unauthorized(problem("bad internal token"));
        }
        let outcome = self.register.end(&id.0).await;
        self.answer(outcome, false)
    }

    /// Daily uptime of the last `days` Brasília days (1 to 90, default 7; today so far) and
    /// of the rolling 90 days, against the targets of §4.
    #[oai(path = "/availability", method = "get")]
    async fn availability(
        &self,
        token: InternalToken,
        days: Query<Option<u32>>,
    ) -> AvailabilityResponse {
        if !self.admitted(&token) {
            return AvailabilityResponse::Unauthorized(problem("bad internal token"));
        }
        match self.register.availability(days.0.unwrap_or(7)).await {
            Ok(report) => AvailabilityResponse::Ok(Json(availability_view(report))),
            Err(err) => {
                tracing::error!(%err, "availability");
                AvailabilityResponse::Internal(problem("internal error"))
            }
        }
    }

    /// What the health checker last saw of each family.
    #[oai(path = "/probes", method = "get")]
    async fn probes(&self, token: InternalToken) -> ProbesResponse {
        if !self.admitted(&token) {
            return ProbesResponse::Unauthorized(problem("bad internal token"));
        }
        match health::probe_states(&self.register).await {
            Ok(states) => ProbesResponse::Ok(Json(
                states
                    .into_iter()
                    .map(|s| ProbeView {
                        family: s.family,
                        consecutive_failures: s.consecutive_failures,
                        failing_since: s.failing_since.map(time::format),
                        checked_date_time: time::format(s.checked_at),
                        last_error: s.last_error,
                    })
                    .collect(),
            )),
            Err(err) => {
                tracing::error!(%err, "probe states");
                ProbesResponse::Internal(problem("internal error"))
            }
        }
    }
}
