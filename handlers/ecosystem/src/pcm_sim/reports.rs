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
    let outcome = tokio::task::spawn_blocking(move || judge_and_store(&sim, &caller, items)).await;
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

/// Judges each item on its own and stores the accepted ones together; one result per item,
/// in order.
fn judge_and_store(
    sim: &PcmSim,
    caller: &crate::token::Caller,
    items: Vec<Value>,
) -> Vec<ReportResponse> {
    let mut results = Vec::with_capacity(items.len());
    let mut accepted = Vec::new();
    for item in items {
        let correlation_id = item
            .get("correlationId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match aberta_runtime::validate::from_value::<AddReportsBody>(item.clone()) {
            Ok(_) => {
                accepted.push((results.len(), item));
                results.push(response(ReportStatus::Accepted, correlation_id, None));
            }
            Err(violations) => results.push(response(
                ReportStatus::Discarded,
                correlation_id,
                Some(violations.to_string()),
            )),
        }
    }
    let (positions, bodies): (Vec<usize>, Vec<Value>) = accepted.into_iter().unzip();
    match sim
        .store
        .insert_batch("private", &caller.org_id, &caller.software_id, bodies)
    {
        Ok(ids) => {
            for (position, id) in positions.into_iter().zip(ids) {
                results[position].report_id = id;
            }
        }
        Err(err) => {
            tracing::error!(%err, "report storage failed");
            for position in positions {
                results[position] = response(
                    ReportStatus::Discarded,
                    results[position].correlation_id.take(),
                    Some("the simulator could not store the report".into()),
                );
            }
        }
    }
    results
}

fn response(
    status: ReportStatus,
    correlation_id: Option<String>,
    message: Option<String>,
) -> ReportResponse {
    ReportResponse {
        report_id: String::new(),
        status,
        correlation_id,
        message,
    }
}
