//! customers 2.2.1: the registration data of the consent's customer (personal endpoints) or
//! business (business endpoints), each behind its own PF/PJ permission. The identifications
//! lists need at least one record per page (`minItems: 1`), so a page without one is refused
//! ([`pagination::with_records`]).

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::payload::Json;
use aberta_runtime::shared::Links;
use async_trait::async_trait;
use ofb_customers_v2::connector::*;
use ofb_customers_v2::models::*;
use ofb_customers_v2::server::*;

use super::{answer, refuse};
use crate::endpoints as ep;
use crate::guard::ResourceGuard;
use crate::pagination::{self, LinkBase};

pub struct CustomersService {
    guard: Arc<ResourceGuard>,
    bank: Arc<dyn CustomersConnector>,
}

impl CustomersService {
    pub fn new(guard: Arc<ResourceGuard>, bank: Arc<dyn CustomersConnector>) -> Self {
        Self { guard, bank }
    }
}

fn single(ctx: &RequestContext, path: &str) -> Links {
    Links {
        self_: LinkBase {
            base_path: BASE_PATH,
            path,
            query: &[],
        }
        .self_link(ctx),
        first: None,
        prev: None,
        next: None,
        last: None,
    }
}

#[async_trait]
impl CustomersApi for CustomersService {
    async fn customers_get_personal_identifications(
        &self,
        ctx: RequestContext,
        request: CustomersGetPersonalIdentificationsRequest,
    ) -> CustomersGetPersonalIdentificationsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::PERSONAL_IDENTIFICATIONS, None, recall)
                .await
        );
        let query = [("pagination-key", access.pagination_key.clone())];
        let outcome = self
            .bank
            .customers_get_personal_identifications(
                &access.connector,
                CustomersGetPersonalIdentificationsInput {
                    pagination_key: request.pagination_key,
                    page,
                },
            )
            .await
            .and_then(|got| pagination::with_records(got, page));
        let got = refuse!(answer(&self.guard, &access, outcome).await);
        let links = LinkBase {
            base_path: BASE_PATH,
            path: "/personal/identifications",
            query: &query,
        }
        .links(&ctx, page, got.total_records);
        CustomersGetPersonalIdentificationsResponse::Ok(
            Json(ResponsePersonalCustomersIdentification {
                data: got.items,
                links,
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn customers_get_personal_qualifications(
        &self,
        ctx: RequestContext,
        _request: CustomersGetPersonalQualificationsRequest,
    ) -> CustomersGetPersonalQualificationsResponse {
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::PERSONAL_QUALIFICATIONS, None, None)
                .await
        );
        let outcome = self
            .bank
            .customers_get_personal_qualifications(
                &access.connector,
                CustomersGetPersonalQualificationsInput {},
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        CustomersGetPersonalQualificationsResponse::Ok(
            Json(ResponsePersonalCustomersQualification {
                data,
                links: single(&ctx, "/personal/qualifications"),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn customers_get_personal_financial_relations(
        &self,
        ctx: RequestContext,
        _request: CustomersGetPersonalFinancialRelationsRequest,
    ) -> CustomersGetPersonalFinancialRelationsResponse {
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::PERSONAL_FINANCIAL_RELATIONS, None, None)
                .await
        );
        let outcome = self
            .bank
            .customers_get_personal_financial_relations(
                &access.connector,
                CustomersGetPersonalFinancialRelationsInput {},
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        CustomersGetPersonalFinancialRelationsResponse::Ok(
            Json(ResponsePersonalCustomersFinancialRelation {
                data,
                links: single(&ctx, "/personal/financial-relations"),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn customers_get_business_identifications(
        &self,
        ctx: RequestContext,
        request: CustomersGetBusinessIdentificationsRequest,
    ) -> CustomersGetBusinessIdentificationsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::BUSINESS_IDENTIFICATIONS, None, recall)
                .await
        );
        let query = [("pagination-key", access.pagination_key.clone())];
        let outcome = self
            .bank
            .customers_get_business_identifications(
                &access.connector,
                CustomersGetBusinessIdentificationsInput {
                    pagination_key: request.pagination_key,
                    page,
                },
            )
            .await
            .and_then(|got| pagination::with_records(got, page));
        let got = refuse!(answer(&self.guard, &access, outcome).await);
        let links = LinkBase {
            base_path: BASE_PATH,
            path: "/business/identifications",
            query: &query,
        }
        .links(&ctx, page, got.total_records);
        CustomersGetBusinessIdentificationsResponse::Ok(
            Json(ResponseBusinessCustomersIdentification {
                data: got.items,
                links,
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn customers_get_business_qualifications(
        &self,
        ctx: RequestContext,
        _request: CustomersGetBusinessQualificationsRequest,
    ) -> CustomersGetBusinessQualificationsResponse {
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::BUSINESS_QUALIFICATIONS, None, None)
                .await
        );
        let outcome = self
            .bank
            .customers_get_business_qualifications(
                &access.connector,
                CustomersGetBusinessQualificationsInput {},
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        CustomersGetBusinessQualificationsResponse::Ok(
            Json(ResponseBusinessCustomersQualification {
                data,
                links: single(&ctx, "/business/qualifications"),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn customers_get_business_financial_relations(
        &self,
        ctx: RequestContext,
        _request: CustomersGetBusinessFinancialRelationsRequest,
    ) -> CustomersGetBusinessFinancialRelationsResponse {
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::BUSINESS_FINANCIAL_RELATIONS, None, None)
                .await
        );
        let outcome = self
            .bank
            .customers_get_business_financial_relations(
                &access.connector,
                CustomersGetBusinessFinancialRelationsInput {},
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        CustomersGetBusinessFinancialRelationsResponse::Ok(
            Json(ResponseBusinessCustomersFinancialRelation {
                data,
                links: single(&ctx, "/business/financial-relations"),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }
}
