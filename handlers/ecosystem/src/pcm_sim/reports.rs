//! `POST /report-api/v1/private/report`, mounted in front of the generated route: each item is
//! parsed and validated on its own against the generated `AddReportsBody`, so one bad item is
//! discarded (207, per-item results in order) instead of refusing the whole batch.

use std::sync::Arc;

use aberta_runtime::context::ClientCert;
use ofb_pcm_v1::models::{AddReportsBody, ReportResponse, ReportStatus};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};
use serde_json::Value;

use super::PcmSim;
use crate::http_error;

/// At most this many reports per call.
pub const MAX_ITEMS: usize = 5000;
/// At most this many bytes per call.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

#[handler]
pub(super) async fn add_reports(
    req: &Request,
    body: poem::Body,
    Data(sim): Data<&Arc<PcmSim>>,
) -> Response {
    let caller = match sim
        .tokens
        .authorise(req.headers(), req.extensions().get::<ClientCert>())
    {
        Ok(caller) => caller,
        Err(resp) => return resp,
    };
    let json_body = req
        .content_type()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return http_error::pcm(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        );
    }
    let Ok(bytes) = body.into_bytes_limit(MAX_BYTES).await else {
        return http_error::pcm(StatusCode::PAYLOAD_TOO_LARGE, "the body exceeds 10 MB");
    };
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
        return http_error::pcm(StatusCode::BAD_REQUEST, "the body must be a JSON array");
    };
    if items.len() > MAX_ITEMS {
        return http_error::pcm(
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 5000 reports per call",
        );
    }
    let sim = sim.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        items
            .into_iter()
            .map(|item| judge_and_store(&sim, &caller, item))
            .collect::<Vec<_>>()
    })
    .await;
    let Ok(results) = outcome else {
        return http_error::pcm(StatusCode::INTERNAL_SERVER_ERROR, "storage failed");
    };
    let status = if results.iter().all(|r| r.status == ReportStatus::Accepted) {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    match serde_json::to_value(&results) {
        Ok(value) => http_error::json(status, &value),
        Err(_) => http_error::pcm(StatusCode::INTERNAL_SERVER_ERROR, "serialisation failed"),
    }
}

fn judge_and_store(sim: &PcmSim, caller: &crate::token::Caller, item: Value) -> ReportResponse {
    let correlation_id = item
        .get("correlationId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let bytes = serde_json::to_vec(&item).unwrap_or_default();
    if let Err(violations) = aberta_runtime::parse_json::<AddReportsBody>(&bytes) {
        return ReportResponse {
            report_id: String::new(),
            status: ReportStatus::Discarded,
            correlation_id,
            message: Some(violations.to_string()),
        };
    }
    match sim
        .store
        .insert("private", &caller.org_id, &caller.software_id, item)
    {
        Ok(report_id) => ReportResponse {
            report_id,
            status: ReportStatus::Accepted,
            correlation_id,
            message: None,
        },
        Err(err) => {
            tracing::error!(%err, "report storage failed");
            ReportResponse {
                report_id: String::new(),
                status: ReportStatus::Discarded,
                correlation_id,
                message: Some("the simulator could not store the report".into()),
            }
        }
    }
}
