//! What the four credit-operation APIs (loans, financings, invoice financings, unarranged
//! overdraft) share: a contract list, sections of one contract, its paginated warranties.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page, PageRequest};
use serde::de::DeserializeOwned;

use crate::DemoBank;
use crate::access::{decode, decode_page, section};
use crate::seed::section as s;
use crate::storage::EntryQuery;

impl DemoBank {
    pub(super) async fn contract_list<T: DeserializeOwned>(
        &self,
        ctx: &ConnectorContext,
        kind: &str,
        page: PageRequest,
    ) -> Result<Page<T>, ConnectorError> {
        let (items, total) = self.product_list(ctx, kind, None, page).await?;
        decode_page(items, total)
    }

    pub(super) async fn contract_section<T: DeserializeOwned>(
        &self,
        ctx: &ConnectorContext,
        kind: &str,
        contract_id: &str,
        name: &'static str,
    ) -> Result<T, ConnectorError> {
        let body = self.owned_product(ctx, kind, contract_id).await?;
        decode(section(&body, name)?)
    }

    pub(super) async fn contract_warranties<T: DeserializeOwned>(
        &self,
        ctx: &ConnectorContext,
        kind: &str,
        contract_id: &str,
        page: PageRequest,
    ) -> Result<Page<T>, ConnectorError> {
        self.owned_product(ctx, kind, contract_id).await?;
        let (items, total) = self
            .storage
            .entries(EntryQuery {
                product_id: contract_id,
                section: s::WARRANTIES,
                parent_id: None,
                days: None,
                tag: None,
                mcc: None,
                page,
            })
            .await?;
        decode_page(items, total)
    }
}
