//! Admin metrics v2.0.1 (`ofb_admin_v2::server::AdminApi`): one entry per templated endpoint
//! with recorded calls, paginated, figures per [`crate::metrics`].
//!
//! Error policy: parameters outside the spec's bounds are refused by the generated routes
//! (400); a host that names no brand, when brands are told apart, answers 404; a failure of
//! ours answers 500 with the OFB error body and is logged.

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::error_body::Rejection;
use aberta_runtime::payload::Json;
use aberta_runtime::reexport::poem::http::StatusCode;
use async_trait::async_trait;
use ofb_admin_v2::models::{
    AvailabilityMetrics, AvailabilityMetricsDowntime, AvailabilityMetricsUptime, AverageMetrics,
    AverageTpsMetrics, ErrorMetrics, InvocationMetrics, Links, Meta, PeakTpsMetrics,
    RejectionMetrics, ResponseMetricsList, ResponseMetricsListData,
};
use ofb_admin_v2::server::{AdminApi, BASE_PATH, GetMetricsRequest, GetMetricsResponse};

use crate::error::StatusError;
use crate::metrics::{self, DayFigures, EndpointMetrics, Period};
use crate::paging::{self, Page};
use crate::register::OutageRegister;
use crate::time;

/// Which brand a request addressed (by its host); `None` when the host names none.
pub type BrandOf = Arc<dyn Fn(&RequestContext) -> Option<String> + Send + Sync>;

/// The admin API over the recorded calls and `register`'s outages. With `brands`, each host
/// sees its own brand's calls; without, every call counts.
pub fn admin_api(register: Arc<OutageRegister>, brands: Option<BrandOf>) -> Arc<dyn AdminApi> {
    Arc::new(Admin { register, brands })
}

struct Admin {
    register: Arc<OutageRegister>,
    brands: Option<BrandOf>,
}

enum Refused {
    UnknownBrand,
    Internal(StatusError),
}

impl From<StatusError> for Refused {
    fn from(err: StatusError) -> Self {
        Self::Internal(err)
    }
}

impl From<Refused> for Rejection {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::UnknownBrand => Rejection::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Recurso não encontrado",
                "no brand is served at this host",
            ),
            Refused::Internal(err) => {
                tracing::error!(%err, "admin metrics request failed");
                Rejection::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "Erro interno",
                    "internal error",
                )
            }
        }
    }
}

/// The days' values of one figure: today, then yesterday first.
fn series(
    current: &DayFigures,
    previous: &[DayFigures],
    pick: impl Fn(&DayFigures) -> i64,
) -> (i64, Vec<i64>) {
    (pick(current), previous.iter().map(&pick).collect())
}

/// The endpoint as the absolute URI the spec's `format: uri` asks for: the brand's origin
/// and the templated path, whose braces (not allowed in a URI, RFC 3986 §2) are
/// percent-encoded, `/accounts/%7BaccountId%7D`; decoded, it is the PCM's endpoint
/// identifier. Any other character a path may not hold is encoded the same way.
fn endpoint_uri(origin: &str, path: &str) -> String {
    let mut uri = String::with_capacity(origin.len() + path.len() + 8);
    uri.push_str(origin);
    for b in path.bytes() {
        let allowed = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'/' | b'-'
                    | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            );
        if allowed {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

fn entry(origin: &str, request_time: &str, m: EndpointMetrics) -> ResponseMetricsListData {
    let s = |pick: fn(&DayFigures) -> i64| series(&m.current_day, &m.previous_days, pick);
    let (current_day, previous_days) = s(|d| d.invocations);
    let invocations = InvocationMetrics {
        current_day,
        previous_days,
    };
    let (current_day, previous_days) = s(|d| d.average_response);
    let average_response = AverageMetrics {
        current_day,
        previous_days,
    };
    let (current_day, previous_days) = s(|d| d.average_tps);
    let average_tps = AverageTpsMetrics {
        current_day,
        previous_days,
    };
    let (current_day, previous_days) = s(|d| d.peak_tps);
    let peak_tps = PeakTpsMetrics {
        current_day,
        previous_days,
    };
    let (current_day, previous_days) = s(|d| d.errors);
    let errors = ErrorMetrics {
        current_day,
        previous_days,
    };
    let (current_day, previous_days) = s(|d| d.rejections);
    let rejections = RejectionMetrics {
        current_day,
        previous_days,
    };
    ResponseMetricsListData {
        endpoint: endpoint_uri(origin, &m.endpoint),
        request_time: request_time.to_string(),
        availability: AvailabilityMetrics {
            uptime: AvailabilityMetricsUptime {
                general_uptime_rate: m.availability.general_uptime_rate,
                uptime_rate: m.availability.uptime_rate,
            },
            downtime: AvailabilityMetricsDowntime {
                general_downtime: m.availability.general_downtime,
                scheduled_outage: m.availability.scheduled_outage,
                partial_downtime: m.availability.partial_downtime,
            },
        },
        invocations,
        average_response,
        average_tps,
        peak_tps,
        errors,
        rejections,
    }
}

impl Admin {
    async fn metrics(
        &self,
        ctx: &RequestContext,
        request: GetMetricsRequest,
    ) -> Result<ResponseMetricsList, Refused> {
        let brand = match &self.brands {
            None => None,
            Some(brand_of) => Some(brand_of(ctx).ok_or(Refused::UnknownBrand)?),
        };
        let (period, query) = match request.period.as_ref().map(|p| p.0.as_str()) {
            Some("CURRENT") => (Period::Current, "period=CURRENT"),
            Some(_) => (Period::All, "period=ALL"),
            None => (Period::All, ""),
        };
        let now = self.register.now();
        let from = time::day_start(now) - metrics::PREVIOUS_DAYS * time::DAY;
        let outages = self.register.overlapping(from, now + 1).await?;
        let db = self.register.connection();
        let endpoints = metrics::compute(db, brand.as_deref(), period, now, &outages).await?;

        let origin = paging::origin(ctx.authority.as_deref());
        let request_time = time::format(now);
        let page = Page::new(request.page.map(|p| p.0), request.page_size.map(|p| p.0)).of(
            endpoints,
            &format!("{origin}{BASE_PATH}/metrics"),
            query,
        );
        Ok(ResponseMetricsList {
            data: page
                .items
                .into_iter()
                .map(|m| entry(&origin, &request_time, m))
                .collect(),
            links: Links {
                self_: Some(page.links.self_),
                first: page.links.first,
                prev: page.links.prev,
                next: page.links.next,
                last: page.links.last,
            },
            meta: Some(Meta {
                total_records: page.total_records,
                total_pages: page.total_pages,
            }),
        })
    }
}

#[async_trait]
impl AdminApi for Admin {
    async fn get_metrics(
        &self,
        ctx: RequestContext,
        request: GetMetricsRequest,
    ) -> GetMetricsResponse {
        match self.metrics(&ctx, request).await {
            Ok(body) => GetMetricsResponse::Ok(Json(body)),
            Err(refused) => Rejection::from(refused).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_uri;

    #[test]
    fn templated_paths_become_uris() {
        assert_eq!(
            endpoint_uri(
                "https://bank.example",
                "/open-banking/consents/v3/consents/{consentId}"
            ),
            "https://bank.example/open-banking/consents/v3/consents/%7BconsentId%7D"
        );
        assert_eq!(
            endpoint_uri("https://bank.example", "/open-banking/accounts/v2/accounts"),
            "https://bank.example/open-banking/accounts/v2/accounts"
        );
        assert_eq!(endpoint_uri("https://b", "/a b%"), "https://b/a%20b%25");
    }
}
