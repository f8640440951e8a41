//! The eight server-trait implementations and their composition.

mod accounts;
mod contracts;
mod credit_cards;
mod customers;
mod financings;
mod invoice_financings;
mod loans;
mod resources;
mod unarranged;

use std::future::Future;
use std::sync::Arc;

use aberta_runtime::connector::{ConnectorError, Page, PageRequest};

use crate::guard::{Access, ResourceGuard};
use crate::pagination::MAX_PAGE_SIZE;
use crate::refusal::Refusal;

pub use accounts::AccountsService;
pub use credit_cards::CreditCardsService;
pub use customers::CustomersService;
pub use financings::FinancingsService;
pub use invoice_financings::InvoiceFinancingsService;
pub use loans::LoansService;
pub use resources::ResourcesService;
pub use unarranged::UnarrangedService;

/// The bank's backend, one connector per API.
#[derive(Clone)]
pub struct DataConnectors {
    pub resources: Arc<dyn ofb_resources_v3::connector::ResourcesConnector>,
    pub customers: Arc<dyn ofb_customers_v2::connector::CustomersConnector>,
    pub accounts: Arc<dyn ofb_accounts_v2::connector::AccountsConnector>,
    pub credit_cards: Arc<dyn ofb_credit_cards_v2::connector::CreditCardsConnector>,
    pub loans: Arc<dyn ofb_loans_v2::connector::LoansConnector>,
    pub financings: Arc<dyn ofb_financings_v2::connector::FinancingsConnector>,
    pub invoice_financings:
        Arc<dyn ofb_invoice_financings_v2::connector::InvoiceFinancingsConnector>,
    pub unarranged: Arc<
        dyn ofb_unarranged_accounts_overdraft_v2::connector::UnarrangedAccountsOverdraftConnector,
    >,
}

/// The eight APIs over one guard.
#[derive(Clone)]
pub struct DataApis {
    pub resources: Arc<ResourcesService>,
    pub customers: Arc<CustomersService>,
    pub accounts: Arc<AccountsService>,
    pub credit_cards: Arc<CreditCardsService>,
    pub loans: Arc<LoansService>,
    pub financings: Arc<FinancingsService>,
    pub invoice_financings: Arc<InvoiceFinancingsService>,
    pub unarranged: Arc<UnarrangedService>,
}

impl DataApis {
    pub fn new(guard: Arc<ResourceGuard>, connectors: DataConnectors) -> Self {
        Self {
            resources: Arc::new(ResourcesService::new(guard.clone(), connectors.resources)),
            customers: Arc::new(CustomersService::new(guard.clone(), connectors.customers)),
            accounts: Arc::new(AccountsService::new(guard.clone(), connectors.accounts)),
            credit_cards: Arc::new(CreditCardsService::new(
                guard.clone(),
                connectors.credit_cards,
            )),
            loans: Arc::new(LoansService::new(guard.clone(), connectors.loans)),
            financings: Arc::new(FinancingsService::new(guard.clone(), connectors.financings)),
            invoice_financings: Arc::new(InvoiceFinancingsService::new(
                guard.clone(),
                connectors.invoice_financings,
            )),
            unarranged: Arc::new(UnarrangedService::new(guard, connectors.unarranged)),
        }
    }

    /// The eight generated route trees, each at its own base path.
    pub fn routes(&self) -> poem::Route {
        poem::Route::new()
            .nest_no_strip(
                ofb_resources_v3::server::BASE_PATH,
                ofb_resources_v3::server::routes(self.resources.clone()),
            )
            .nest_no_strip(
                ofb_customers_v2::server::BASE_PATH,
                ofb_customers_v2::server::routes(self.customers.clone()),
            )
            .nest_no_strip(
                ofb_accounts_v2::server::BASE_PATH,
                ofb_accounts_v2::server::routes(self.accounts.clone()),
            )
            .nest_no_strip(
                ofb_credit_cards_v2::server::BASE_PATH,
                ofb_credit_cards_v2::server::routes(self.credit_cards.clone()),
            )
            .nest_no_strip(
                ofb_loans_v2::server::BASE_PATH,
                ofb_loans_v2::server::routes(self.loans.clone()),
            )
            .nest_no_strip(
                ofb_financings_v2::server::BASE_PATH,
                ofb_financings_v2::server::routes(self.financings.clone()),
            )
            .nest_no_strip(
                ofb_invoice_financings_v2::server::BASE_PATH,
                ofb_invoice_financings_v2::server::routes(self.invoice_financings.clone()),
            )
            .nest_no_strip(
                ofb_unarranged_accounts_overdraft_v2::server::BASE_PATH,
                ofb_unarranged_accounts_overdraft_v2::server::routes(self.unarranged.clone()),
            )
    }
}

/// Returns the refusal as the operation's response.
macro_rules! refuse {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(refusal) => {
                return aberta_runtime::error_body::Rejection::from(
                    $crate::refusal::Refusal::from(refusal),
                )
                .into();
            }
        }
    };
}
pub(crate) use refuse;

/// The bank's answer as the caller sees it; a failed call gives back its limit unit.
pub(crate) async fn answer<T>(
    guard: &ResourceGuard,
    access: &Access,
    outcome: Result<T, ConnectorError>,
) -> Result<T, Refusal> {
    guard.settle(access, &outcome).await;
    outcome.map_err(|err| {
        if matches!(err, ConnectorError::Backend(_)) {
            tracing::error!(error = %err, consent_id = ?access.connector.consent_id, "backend failure");
        }
        Refusal::from_connector(&err)
    })
}

/// Every record of a product list, asking the bank in pages of the maximum size.
pub(crate) async fn fetch_all<T, F, Fut>(mut call: F) -> Result<Vec<T>, ConnectorError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, ConnectorError>>,
{
    // A customer with more than 100 000 products of one kind is not a real case; the cap
    // bounds a misbehaving backend.
    const MAX_PAGES: u32 = 100;
    let mut all = Vec::new();
    for page in 1..=MAX_PAGES {
        let got = call(PageRequest {
            page,
            page_size: MAX_PAGE_SIZE,
        })
        .await?;
        let received = got.items.len();
        all.extend(got.items);
        if received < MAX_PAGE_SIZE as usize || all.len() as u64 >= got.total_records {
            break;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use poem::test::TestClient;
    use poem::{Route, handler};

    #[handler]
    fn one() -> &'static str {
        "one"
    }

    #[handler]
    fn two() -> &'static str {
        "two"
    }

    /// [`DataApis::routes`](super::DataApis::routes) relies on this: a route tree that nests
    /// itself at its base path can be mounted without stripping that prefix.
    #[tokio::test]
    async fn self_nested_trees_compose_without_stripping() {
        let a = Route::new().nest("/open-banking/a/v1", Route::new().at("/x", one));
        let b = Route::new().nest("/open-banking/b/v2", Route::new().at("/x", two));
        let app = Route::new()
            .nest_no_strip("/open-banking/a/v1", a)
            .nest_no_strip("/open-banking/b/v2", b);
        let client = TestClient::new(app);
        client
            .get("/open-banking/a/v1/x")
            .send()
            .await
            .assert_text("one")
            .await;
        client
            .get("/open-banking/b/v2/x")
            .send()
            .await
            .assert_text("two")
            .await;
        client
            .get("/open-banking/c/v1/x")
            .send()
            .await
            .assert_status(poem::http::StatusCode::NOT_FOUND);
    }
}
