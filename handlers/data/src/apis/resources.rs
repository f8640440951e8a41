//! resources 3.1.0: the products linked to the consent, of the kinds its permissions cover,
//! with their current status (the bank's when it answers, the consent's otherwise). A consent
//! of customer data only lists nothing.

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::connector::ConnectorError;
use aberta_runtime::payload::Json;
use async_trait::async_trait;
use ofb_resources_v3::connector::*;
use ofb_resources_v3::models::*;
use ofb_resources_v3::server::*;

use super::{fetch_all, refuse};
use crate::consent::DataConsent;
use crate::endpoints::{self as ep, list_permission};
use crate::guard::ResourceGuard;
use crate::pagination::{self, FromMeta, LinkBase};

pub struct ResourcesService {
    guard: Arc<ResourceGuard>,
    bank: Arc<dyn ResourcesConnector>,
}

impl ResourcesService {
    pub fn new(guard: Arc<ResourceGuard>, bank: Arc<dyn ResourcesConnector>) -> Self {
        Self { guard, bank }
    }
}

fn resource_type(value: &str) -> Option<ResponseResourceListDataType> {
    use ResponseResourceListDataType as T;
    Some(match value {
        "ACCOUNT" => T::Account,
        "CREDIT_CARD_ACCOUNT" => T::CreditCardAccount,
        "LOAN" => T::Loan,
        "FINANCING" => T::Financing,
        "UNARRANGED_ACCOUNT_OVERDRAFT" => T::UnarrangedAccountOverdraft,
        "INVOICE_FINANCING" => T::InvoiceFinancing,
        _ => return None,
    })
}

fn resource_status(value: &str) -> Option<ResponseResourceListDataStatus> {
    use ResponseResourceListDataStatus as S;
    Some(match value {
        "AVAILABLE" => S::Available,
        "UNAVAILABLE" => S::Unavailable,
        "TEMPORARILY_UNAVAILABLE" => S::TemporarilyUnavailable,
        "PENDING_AUTHORISATION" => S::PendingAuthorisation,
        _ => return None,
    })
}

/// The consent's linked resources whose kind its permissions let the receiver see.
fn visible(consent: &DataConsent) -> Vec<ResponseResourceListData> {
    consent
        .resources
        .iter()
        .filter(|r| list_permission(&r.resource_type).is_some_and(|p| consent.has_permission(p)))
        .filter_map(|r| {
            Some(ResponseResourceListData {
                resource_id: r.resource_id.clone(),
                type_: resource_type(&r.resource_type)?,
                status: resource_status(&r.status)?,
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Refresh {
    Done,
    /// The bank is still assembling the list: `202 Accepted`, the receiver polls.
    AskAgain,
}

/// Overlays the bank's current statuses on the consent's list. A bank that cannot answer
/// leaves the consent's statuses in place; one that is still preparing the list asks for a
/// poll.
fn refresh(
    items: &mut [ResponseResourceListData],
    current: Result<Vec<ResponseResourceListData>, ConnectorError>,
) -> Refresh {
    match current {
        Ok(current) => {
            for item in items {
                if let Some(now) = current
                    .iter()
                    .find(|c| c.resource_id == item.resource_id && c.type_ == item.type_)
                {
                    item.status = now.status;
                }
            }
            Refresh::Done
        }
        Err(ConnectorError::Pending) => Refresh::AskAgain,
        Err(err) => {
            tracing::warn!(error = %err, "resource statuses not refreshed; serving the consent's");
            Refresh::Done
        }
    }
}

#[async_trait]
impl ResourcesApi for ResourcesService {
    async fn resources_get_resources(
        &self,
        ctx: RequestContext,
        request: ResourcesGetResourcesRequest,
    ) -> ResourcesGetResourcesResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let access = refuse!(self.guard.check(&ctx, &ep::RESOURCES, None, None).await);
        let mut items = visible(&access.consent);
        if !items.is_empty() {
            let current = fetch_all(|page| {
                self.bank
                    .resources_get_resources(&access.connector, ResourcesGetResourcesInput { page })
            })
            .await;
            if refresh(&mut items, current) == Refresh::AskAgain {
                return ResourcesGetResourcesResponse::Accepted(None, None);
            }
        }
        let total = items.len() as u64;
        let links = LinkBase {
            base_path: BASE_PATH,
            path: "/resources",
            query: &[],
        }
        .links(&ctx, page, total);
        ResourcesGetResourcesResponse::Ok(
            Json(ResponseResourceList {
                data: pagination::slice(items, page),
                links,
                meta: MetaResponse::from_meta(pagination::meta(total, page.page_size)),
            }),
            None,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, status: ResponseResourceListDataStatus) -> ResponseResourceListData {
        ResponseResourceListData {
            resource_id: id.to_string(),
            type_: ResponseResourceListDataType::Account,
            status,
        }
    }

    #[test]
    fn the_banks_statuses_win_and_a_pending_bank_asks_for_a_poll() {
        use ResponseResourceListDataStatus as S;
        let mut items = vec![item("a", S::Available), item("b", S::Available)];
        let bank = vec![item("b", S::TemporarilyUnavailable)];
        assert_eq!(refresh(&mut items, Ok(bank)), Refresh::Done);
        assert_eq!(items[0].status, S::Available);
        assert_eq!(items[1].status, S::TemporarilyUnavailable);

        assert_eq!(
            refresh(&mut items, Err(ConnectorError::Pending)),
            Refresh::AskAgain
        );
        // A failing bank leaves the list as it was.
        assert_eq!(
            refresh(&mut items, Err(ConnectorError::Timeout)),
            Refresh::Done
        );
        assert_eq!(items[1].status, S::TemporarilyUnavailable);
    }
}
