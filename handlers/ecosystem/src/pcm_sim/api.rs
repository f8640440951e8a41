//! The other PCM operations, through the generated `PcmApi` routes: opendata reports, the
//! hybrid-flow journey reports, and reading or correcting a stored report.

use aberta_runtime::RequestContext;
use aberta_runtime::payload::Json;
use ofb_pcm_v1::models::{
    EmptyObject, GenericError, HybridFlowReportResponse, ReportModel, ReportResponse, ReportStatus,
};
use ofb_pcm_v1::server::*;
use poem::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

use super::PcmSim;
use crate::token::Caller;

pub(super) struct PcmService {
    sim: Arc<PcmSim>,
}

impl PcmService {
    pub(super) fn new(sim: Arc<PcmSim>) -> Self {
        Self { sim }
    }

    fn caller(&self, ctx: &RequestContext) -> Result<Caller, Json<GenericError>> {
        self.sim
            .tokens
            .check(&ctx.headers, ctx.client_cert.as_ref())
            .map_err(error)
    }

    /// Stores every report of a batch as accepted; `None` when storage fails.
    fn accept_all<T: serde::Serialize>(
        &self,
        kind: &str,
        caller: &Caller,
        items: &[T],
    ) -> Option<Vec<ReportResponse>> {
        items
            .iter()
            .map(|item| {
                let report_id = self
                    .sim
                    .store
                    .insert(kind, &caller.org_id, &caller.software_id, to_value(item))
                    .ok()?;
                Some(ReportResponse {
                    report_id,
                    status: ReportStatus::Accepted,
                    correlation_id: None,
                    message: None,
                })
            })
            .collect()
    }

    /// Stores one hybrid-flow step report.
    async fn hybrid(
        &self,
        ctx: &RequestContext,
        step: &str,
        body: Value,
    ) -> Result<String, HybridError> {
        let caller = self.caller(ctx).map_err(HybridError::Unauthorized)?;
        let sim = self.sim.clone();
        let kind = format!("hybrid-flow/{step}");
        tokio::task::spawn_blocking(move || {
            sim.store
                .insert(&kind, &caller.org_id, &caller.software_id, body)
        })
        .await
        .map_err(|_| HybridError::Internal)?
        .map_err(|_| HybridError::Internal)
    }
}

enum HybridError {
    Unauthorized(Json<GenericError>),
    Internal,
}

fn error(message: &str) -> Json<GenericError> {
    Json(GenericError {
        message: Some(message.to_string()),
    })
}

fn to_value<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// Stores a hybrid-flow step and builds the operation's response with its constructors.
async fn hybrid_response<R>(
    service: &PcmService,
    ctx: &RequestContext,
    step: &str,
    body: Value,
    ok: fn(Json<HybridFlowReportResponse>) -> R,
    unauthorized: fn(Json<GenericError>) -> R,
    other: fn(StatusCode, Json<GenericError>) -> R,
) -> R {
    match service.hybrid(ctx, step, body).await {
        Ok(report_id) => ok(Json(HybridFlowReportResponse { report_id })),
        Err(HybridError::Unauthorized(body)) => unauthorized(body),
        Err(HybridError::Internal) => {
            other(StatusCode::INTERNAL_SERVER_ERROR, error("storage failed"))
        }
    }
}

#[aberta_runtime::reexport::async_trait]
impl PcmApi for PcmService {
    /// Not reached: `POST /report-api/v1/private/report` is served by [`super::reports`], which
    /// judges each item on its own. Kept correct for a caller that mounts the generated routes
    /// alone.
    async fn add_reports(
        &self,
        ctx: RequestContext,
        request: AddReportsRequest,
    ) -> AddReportsResponse {
        let caller = match self.caller(&ctx) {
            Ok(caller) => caller,
            Err(body) => return AddReportsResponse::Unauthorized(body),
        };
        match self.accept_all("private", &caller, &request.body) {
            Some(results) => AddReportsResponse::Ok(Json(results)),
            None => AddReportsResponse::Default(
                StatusCode::INTERNAL_SERVER_ERROR,
                error("storage failed"),
            ),
        }
    }

    async fn add_reports_client_redirect_to_server(
        &self,
        ctx: RequestContext,
        request: AddReportsClientRedirectToServerRequest,
    ) -> AddReportsClientRedirectToServerResponse {
        hybrid_response(
            self,
            &ctx,
            "client/redirect-to-server",
            to_value(&request.body),
            AddReportsClientRedirectToServerResponse::Ok,
            AddReportsClientRedirectToServerResponse::Unauthorized,
            AddReportsClientRedirectToServerResponse::Default,
        )
        .await
    }
    async fn add_reports_server_redirect_target(
        &self,
        ctx: RequestContext,
        request: AddReportsServerRedirectTargetRequest,
    ) -> AddReportsServerRedirectTargetResponse {
        hybrid_response(
            self,
            &ctx,
            "server/redirect-target",
            to_value(&request.body),
            AddReportsServerRedirectTargetResponse::Ok,
            AddReportsServerRedirectTargetResponse::Unauthorized,
            AddReportsServerRedirectTargetResponse::Default,
        )
        .await
    }
    async fn add_reports_server_authenticated(
        &self,
        ctx: RequestContext,
        request: AddReportsServerAuthenticatedRequest,
    ) -> AddReportsServerAuthenticatedResponse {
        hybrid_response(
            self,
            &ctx,
            "server/authenticated",
            to_value(&request.body),
            AddReportsServerAuthenticatedResponse::Ok,
            AddReportsServerAuthenticatedResponse::Unauthorized,
            AddReportsServerAuthenticatedResponse::Default,
        )
        .await
    }
    async fn add_reports_server_redirect_to_client(
        &self,
        ctx: RequestContext,
        request: AddReportsServerRedirectToClientRequest,
    ) -> AddReportsServerRedirectToClientResponse {
        hybrid_response(
            self,
            &ctx,
            "server/redirect-to-client",
            to_value(&request.body),
            AddReportsServerRedirectToClientResponse::Ok,
            AddReportsServerRedirectToClientResponse::Unauthorized,
            AddReportsServerRedirectToClientResponse::Default,
        )
        .await
    }
    async fn add_reports_client_redirect_target_with_errors(
        &self,
        ctx: RequestContext,
        request: AddReportsClientRedirectTargetWithErrorsRequest,
    ) -> AddReportsClientRedirectTargetWithErrorsResponse {
        hybrid_response(
            self,
            &ctx,
            "client/redirect-target-with-errors",
            to_value(&request.body),
            AddReportsClientRedirectTargetWithErrorsResponse::Ok,
            AddReportsClientRedirectTargetWithErrorsResponse::Unauthorized,
            AddReportsClientRedirectTargetWithErrorsResponse::Default,
        )
        .await
    }
    async fn add_reports_client_redirect_target_without_errors(
        &self,
        ctx: RequestContext,
        request: AddReportsClientRedirectTargetWithoutErrorsRequest,
    ) -> AddReportsClientRedirectTargetWithoutErrorsResponse {
        hybrid_response(
            self,
            &ctx,
            "client/redirect-target-without-errors",
            to_value(&request.body),
            AddReportsClientRedirectTargetWithoutErrorsResponse::Ok,
            AddReportsClientRedirectTargetWithoutErrorsResponse::Unauthorized,
            AddReportsClientRedirectTargetWithoutErrorsResponse::Default,
        )
        .await
    }

    async fn report_by_id(
        &self,
        ctx: RequestContext,
        request: ReportByIdRequest,
    ) -> ReportByIdResponse {
        let caller = match self.caller(&ctx) {
            Ok(caller) => caller,
            Err(body) => return ReportByIdResponse::Unauthorized(body),
        };
        let record = match self.sim.store.get(&request.report_id.0) {
            Ok(Some(record)) if record.org_id == caller.org_id && record.kind == "private" => {
                record
            }
            Ok(_) => return ReportByIdResponse::NotFound(error("unknown report")),
            Err(_) => {
                return ReportByIdResponse::Default(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error("storage failed"),
                );
            }
        };
        let mut model = match record.body {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        // A server report lacks the client-only members the model requires.
        model.entry("additionalInfo").or_insert_with(|| json!({}));
        model.entry("clientSSId").or_insert_with(|| json!(""));
        model
            .entry("endpointUriPrefix")
            .or_insert_with(|| json!(""));
        model.insert("reportId".into(), json!(record.report_id));
        model.insert("status".into(), json!(record.status));
        model.insert("createdAt".into(), json!(record.created_at));
        model.insert("updatedAt".into(), json!(record.updated_at));
        match serde_json::from_value::<ReportModel>(Value::Object(model)) {
            Ok(model) => ReportByIdResponse::Ok(Json(model)),
            Err(_) => ReportByIdResponse::Default(
                StatusCode::INTERNAL_SERVER_ERROR,
                error("the stored report does not fit the model"),
            ),
        }
    }

    async fn put_report_by_id(
        &self,
        ctx: RequestContext,
        request: PutReportByIdRequest,
    ) -> PutReportByIdResponse {
        let caller = match self.caller(&ctx) {
            Ok(caller) => caller,
            Err(body) => return PutReportByIdResponse::Unauthorized(body),
        };
        let mut record = match self.sim.store.get(&request.report_id.0) {
            Ok(Some(record)) if record.org_id == caller.org_id && record.kind == "private" => {
                record
            }
            Ok(_) => return PutReportByIdResponse::NotFound(error("unknown report")),
            Err(_) => {
                return PutReportByIdResponse::Default(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error("storage failed"),
                );
            }
        };
        // Only these members may change (PCM 1.0.2).
        let update = to_value(&request.body);
        if let Value::Object(target) = &mut record.body {
            for key in ["statusCode", "httpMethod", "processTimespan", "endpoint"] {
                if let Some(value) = update.get(key) {
                    target.insert(key.to_string(), value.clone());
                }
            }
        }
        record.updated_at = crate::registry::now();
        match self.sim.store.put(&record) {
            Ok(()) => PutReportByIdResponse::Accepted(Json(EmptyObject(serde_json::Map::new()))),
            Err(_) => PutReportByIdResponse::Default(
                StatusCode::INTERNAL_SERVER_ERROR,
                error("storage failed"),
            ),
        }
    }

    async fn add_opendata_reports(
        &self,
        ctx: RequestContext,
        request: AddOpendataReportsRequest,
    ) -> AddOpendataReportsResponse {
        let caller = match self.caller(&ctx) {
            Ok(caller) => caller,
            Err(body) => return AddOpendataReportsResponse::Unauthorized(body),
        };
        match self.accept_all("opendata", &caller, &request.body) {
            Some(results) => AddOpendataReportsResponse::Ok(Json(results)),
            None => AddOpendataReportsResponse::Default(
                StatusCode::INTERNAL_SERVER_ERROR,
                error("storage failed"),
            ),
        }
    }
}
