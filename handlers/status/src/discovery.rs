//! Status and outages, common 2.0.1 (`ofb_common_v2::server::CommonApi`), worked out from the
//! outage register at request time. No authentication: the spec makes both public.
//!
//! Error policy: parameters outside the spec's bounds are refused by the generated routes
//! (400); a failure of ours answers 500 with the OFB error body and is logged.

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::error_body::Rejection;
use aberta_runtime::payload::Json;
use aberta_runtime::reexport::poem::http::StatusCode as HttpStatus;
use async_trait::async_trait;
use ofb_common_v2::models::{
    Links, Meta, ResponseDiscoveryOutageList, ResponseDiscoveryOutageListData,
    ResponseDiscoveryStatusList, ResponseDiscoveryStatusListData, Status, StatusCode,
};
use ofb_common_v2::server::{
    BASE_PATH, CommonApi, GetOutageRequest, GetOutageResponse, GetStatusRequest, GetStatusResponse,
};

use crate::error::StatusError;
use crate::paging::{self, Page, PageLinks};
use crate::register::OutageRegister;
use crate::status::{self, Condition, StatusSettings};
use crate::time;

/// The discovery API over `register`.
pub fn discovery_api(
    register: Arc<OutageRegister>,
    settings: StatusSettings,
) -> Arc<dyn CommonApi> {
    Arc::new(Discovery { register, settings })
}

struct Discovery {
    register: Arc<OutageRegister>,
    settings: StatusSettings,
}

fn internal(err: StatusError) -> Rejection {
    tracing::error!(%err, "discovery request failed");
    Rejection::new(
        HttpStatus::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "Erro interno",
        "internal error",
    )
}

fn links(links: PageLinks) -> Links {
    Links {
        self_: Some(links.self_),
        first: links.first,
        prev: links.prev,
        next: links.next,
        last: links.last,
    }
}

fn code(condition: Condition) -> StatusCode {
    match condition {
        Condition::Ok => StatusCode::Ok,
        Condition::Unavailable => StatusCode::Unavailable,
        Condition::PartialFailure => StatusCode::PartialFailure,
        Condition::ScheduledOutage => StatusCode::ScheduledOutage,
    }
}

impl Discovery {
    async fn status(
        &self,
        ctx: &RequestContext,
        request: GetStatusRequest,
    ) -> Result<ResponseDiscoveryStatusList, StatusError> {
        let now = self.register.now();
        let outages = self.register.in_effect(now).await?;
        let last_update = self.register.last_update().await?;
        let current = status::current(&outages, now, last_update, &self.settings);
        let entry = Status {
            code: code(current.condition),
            explanation: current.explanation,
            detection_time: current.detection_time.map(time::format),
            expected_resolution_time: current.expected_resolution_time.map(time::format),
            update_time: Some(time::format(current.update_time)),
            unavailable_endpoints: (!current.unavailable_endpoints.is_empty())
                .then_some(current.unavailable_endpoints),
        };
        let page = Page::new(request.page.map(|p| p.0), request.page_size.map(|p| p.0)).of(
            vec![entry],
            &format!(
                "{}{BASE_PATH}/status",
                paging::origin(ctx.authority.as_deref())
            ),
            "",
        );
        Ok(ResponseDiscoveryStatusList {
            data: ResponseDiscoveryStatusListData { status: page.items },
            links: links(page.links),
            meta: Meta {
                total_records: page.total_records,
                total_pages: page.total_pages,
            },
        })
    }

    async fn outages(
        &self,
        ctx: &RequestContext,
        request: GetOutageRequest,
    ) -> Result<ResponseDiscoveryOutageList, StatusError> {
        let now = self.register.now();
        let items = self
            .register
            .announced(now)
            .await?
            .into_iter()
            .filter_map(|outage| {
                let (start, end) = outage.window()?;
                Some(ResponseDiscoveryOutageListData {
                    outage_time: time::format(start),
                    duration: time::iso_duration(end - start),
                    is_partial: outage.is_partial,
                    explanation: outage.explanation,
                })
            })
            .collect();
        let page = Page::new(request.page.map(|p| p.0), request.page_size.map(|p| p.0)).of(
            items,
            &format!(
                "{}{BASE_PATH}/outages",
                paging::origin(ctx.authority.as_deref())
            ),
            "",
        );
        Ok(ResponseDiscoveryOutageList {
            data: page.items,
            links: links(page.links),
            meta: Meta {
                total_records: page.total_records,
                total_pages: page.total_pages,
            },
        })
    }
}

#[async_trait]
impl CommonApi for Discovery {
    async fn get_status(
        &self,
        ctx: RequestContext,
        request: GetStatusRequest,
    ) -> GetStatusResponse {
        match self.status(&ctx, request).await {
            Ok(body) => GetStatusResponse::Ok(Json(body)),
            Err(err) => internal(err).into(),
        }
    }

    async fn get_outage(
        &self,
        ctx: RequestContext,
        request: GetOutageRequest,
    ) -> GetOutageResponse {
        match self.outages(&ctx, request).await {
            Ok(body) => GetOutageResponse::Ok(Json(body)),
            Err(err) => internal(err).into(),
        }
    }
}
