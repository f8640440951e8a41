//! The four credit-operation APIs (loans, financings, invoice financings, unarranged
//! overdrafts) have the same five operations over differently named types; one macro writes
//! their implementations.

/// Implements one credit-operation API. Names are passed in full: the generated crates name
/// each type after its operation.
macro_rules! contracts_api {
    (
        service: $service:ident,
        krate: $krate:ident,
        api: $api:ident,
        connector: $connector:ident,
        resource_type: $rtype:expr,
        single_links: $single_links:ident,
        list: ($list:ident, $list_req:ident, $list_resp:ident, $list_in:ident, $list_body:ident, $list_ep:expr),
        one: ($one:ident, $one_req:ident, $one_resp:ident, $one_in:ident, $one_body:ident, $one_ep:expr),
        warranties: ($war:ident, $war_req:ident, $war_resp:ident, $war_in:ident, $war_body:ident, $war_ep:expr),
        instalments: ($ins:ident, $ins_req:ident, $ins_resp:ident, $ins_in:ident, $ins_body:ident, $ins_ep:expr),
        payments: ($pay:ident, $pay_req:ident, $pay_resp:ident, $pay_in:ident, $pay_body:ident, $pay_ep:expr) $(,)?
    ) => {
        use std::sync::Arc;

        use aberta_runtime::RequestContext;
        use aberta_runtime::payload::Json;
        use async_trait::async_trait;
        use $krate::connector::{$connector, $ins_in, $list_in, $one_in, $pay_in, $war_in};
        use $krate::models::{
            Links, $ins_body, $list_body, $one_body, $pay_body, $single_links, $war_body,
        };
        use $krate::server::{
            BASE_PATH, $api, $ins_req, $ins_resp, $list_req, $list_resp, $one_req, $one_resp,
            $pay_req, $pay_resp, $war_req, $war_resp,
        };

        use $crate::apis::{answer, fetch_all, refuse};
        use $crate::guard::ResourceGuard;
        use $crate::pagination::{self, FromLinks, LinkBase};

        pub struct $service {
            guard: Arc<ResourceGuard>,
            bank: Arc<dyn $connector>,
        }

        impl $service {
            pub fn new(guard: Arc<ResourceGuard>, bank: Arc<dyn $connector>) -> Self {
                Self { guard, bank }
            }
        }

        fn single(ctx: &RequestContext, path: &str) -> $single_links {
            let link = LinkBase {
                base_path: BASE_PATH,
                path,
                query: &[],
            }
            .self_link(ctx);
            $single_links { self_: link }
        }

        #[async_trait]
        impl $api for $service {
            async fn $list(&self, ctx: RequestContext, request: $list_req) -> $list_resp {
                let page = refuse!(pagination::page_request(
                    request.page.map(|p| p.0),
                    request.page_size.map(|p| p.0)
                ));
                let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
                let access = refuse!(self.guard.check(&ctx, &$list_ep, None, recall).await);
                let outcome = fetch_all(|page| {
                    self.bank.$list(
                        &access.connector,
                        $list_in {
                            pagination_key: None,
                            page,
                        },
                    )
                })
                .await;
                let mut items = refuse!(answer(&self.guard, &access, outcome).await);
                items.retain(|c| access.consent.is_available($rtype, &c.contract_id));
                let total = items.len() as u64;
                let query = [("pagination-key", access.pagination_key.clone())];
                let links = LinkBase {
                    base_path: BASE_PATH,
                    path: "/contracts",
                    query: &query,
                }
                .links(&ctx, page, total);
                $list_resp::Ok(
                    Json($list_body {
                        data: pagination::slice(items, page),
                        links: Links::from_links(links),
                        meta: pagination::meta(total, page.page_size),
                    }),
                    None,
                    None,
                )
            }

            async fn $one(&self, ctx: RequestContext, request: $one_req) -> $one_resp {
                let id = request.contract_id;
                let access = refuse!(self.guard.check(&ctx, &$one_ep, Some(&id.0), None).await);
                let path = format!("/contracts/{}", id.0);
                let outcome = self
                    .bank
                    .$one(&access.connector, $one_in { contract_id: id })
                    .await;
                let data = refuse!(answer(&self.guard, &access, outcome).await);
                $one_resp::Ok(
                    Json($one_body {
                        data,
                        links: single(&ctx, &path),
                        meta: pagination::meta_single(),
                    }),
                    None,
                    None,
                )
            }

            async fn $war(&self, ctx: RequestContext, request: $war_req) -> $war_resp {
                let page = refuse!(pagination::page_request(
                    request.page.map(|p| p.0),
                    request.page_size.map(|p| p.0)
                ));
                let id = request.contract_id;
                let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
                let access = refuse!(self.guard.check(&ctx, &$war_ep, Some(&id.0), recall).await);
                let path = format!("/contracts/{}/warranties", id.0);
                let query = [("pagination-key", access.pagination_key.clone())];
                let outcome = self
                    .bank
                    .$war(
                        &access.connector,
                        $war_in {
                            contract_id: id,
                            pagination_key: request.pagination_key,
                            page,
                        },
                    )
                    .await;
                let got = refuse!(answer(&self.guard, &access, outcome).await);
                let links = LinkBase {
                    base_path: BASE_PATH,
                    path: &path,
                    query: &query,
                }
                .links(&ctx, page, got.total_records);
                $war_resp::Ok(
                    Json($war_body {
                        data: got.items,
                        links: Links::from_links(links),
                        meta: pagination::meta(got.total_records, page.page_size),
                    }),
                    None,
                    None,
                )
            }

            async fn $ins(&self, ctx: RequestContext, request: $ins_req) -> $ins_resp {
                let id = request.contract_id;
                let access = refuse!(self.guard.check(&ctx, &$ins_ep, Some(&id.0), None).await);
                let path = format!("/contracts/{}/scheduled-instalments", id.0);
                let outcome = self
                    .bank
                    .$ins(&access.connector, $ins_in { contract_id: id })
                    .await;
                let data = refuse!(answer(&self.guard, &access, outcome).await);
                $ins_resp::Ok(
                    Json($ins_body {
                        data,
                        links: single(&ctx, &path),
                        meta: pagination::meta_single(),
                    }),
                    None,
                    None,
                )
            }

            async fn $pay(&self, ctx: RequestContext, request: $pay_req) -> $pay_resp {
                let id = request.contract_id;
                let access = refuse!(self.guard.check(&ctx, &$pay_ep, Some(&id.0), None).await);
                let path = format!("/contracts/{}/payments", id.0);
                let outcome = self
                    .bank
                    .$pay(&access.connector, $pay_in { contract_id: id })
                    .await;
                let data = refuse!(answer(&self.guard, &access, outcome).await);
                $pay_resp::Ok(
                    Json($pay_body {
                        data,
                        links: single(&ctx, &path),
                        meta: pagination::meta_single(),
                    }),
                    None,
                    None,
                )
            }
        }
    };
}
pub(crate) use contracts_api;
