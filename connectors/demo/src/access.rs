//! Whose data a call may see. The platform has already checked the token, the consent, its
//! permissions and that a path id is linked to the consent; the bank still answers only for
//! the customer the context names (the business, for a business consent), so a resource of
//! anyone else is simply not found.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page, PageRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::DemoBank;
use crate::entity::customer;
use crate::error::DemoError;

pub(crate) const AVAILABLE: &str = "AVAILABLE";

/// Turns a stored document into the generated model; a mismatch is a defect of the bank.
pub(crate) fn decode<T: DeserializeOwned>(value: Value) -> Result<T, ConnectorError> {
    serde_json::from_value(value).map_err(|e| ConnectorError::from(DemoError::Json(e)))
}

pub(crate) fn decode_page<T: DeserializeOwned>(
    items: Vec<Value>,
    total: u64,
) -> Result<Page<T>, ConnectorError> {
    Ok(Page {
        items: items.into_iter().map(decode).collect::<Result<_, _>>()?,
        total_records: total,
    })
}

/// Cuts one page out of an in-memory list.
pub(crate) fn slice<T>(items: Vec<T>, page: PageRequest) -> (Vec<T>, u64) {
    let total = items.len() as u64;
    let size = page.page_size.max(1) as usize;
    let skip = (page.page.max(1) as usize - 1).saturating_mul(size);
    (items.into_iter().skip(skip).take(size).collect(), total)
}

/// A named section of a product or profile document.
pub(crate) fn section(body: &Value, name: &'static str) -> Result<Value, ConnectorError> {
    body.get(name)
        .cloned()
        .ok_or_else(|| DemoError::MissingSection(name).into())
}

/// Whose products a call reads, as (document, customer kind): the business of a business
/// consent, else the person.
fn holder_document(ctx: &ConnectorContext) -> Option<(&str, &'static str)> {
    match (&ctx.business, &ctx.customer) {
        (Some(cnpj), _) => Some((cnpj.as_str(), "PJ")),
        (None, Some(cpf)) => Some((cpf.as_str(), "PF")),
        (None, None) => None,
    }
}

impl DemoBank {
    /// The person the consent belongs to.
    pub(crate) async fn person(
        &self,
        ctx: &ConnectorContext,
    ) -> Result<Option<customer::Model>, ConnectorError> {
        let Some(cpf) = &ctx.customer else {
            return Ok(None);
        };
        let row = self.storage.customer_by_document(cpf.as_str()).await?;
        Ok(row.filter(|c| c.kind == "PF"))
    }

    /// The business of a business consent.
    pub(crate) async fn business(
        &self,
        ctx: &ConnectorContext,
    ) -> Result<Option<customer::Model>, ConnectorError> {
        let Some(cnpj) = &ctx.business else {
            return Ok(None);
        };
        let row = self.storage.customer_by_document(cnpj.as_str()).await?;
        Ok(row.filter(|c| c.kind == "PJ"))
    }

    /// Whose products the call reads: the business for a business consent, else the person.
    pub(crate) async fn holder(
        &self,
        ctx: &ConnectorContext,
    ) -> Result<Option<customer::Model>, ConnectorError> {
        if ctx.business.is_some() {
            self.business(ctx).await
        } else {
            self.person(ctx).await
        }
    }

    /// The `list` section of the holder's available products of `kind`, one page of them.
    pub(crate) async fn product_list(
        &self,
        ctx: &ConnectorContext,
        kind: &str,
        account_type: Option<&str>,
        page: PageRequest,
    ) -> Result<(Vec<Value>, u64), ConnectorError> {
        let Some((document, holder_kind)) = holder_document(ctx) else {
            return Ok((Vec::new(), 0));
        };
        let mut items = Vec::new();
        for row in self
            .storage
            .products_of(document, holder_kind, kind, account_type)
            .await?
        {
            if row.status == AVAILABLE {
                let body = self.storage.product_body(&row)?;
                items.push(section(&body, crate::seed::section::LIST)?);
            }
        }
        Ok(slice(items, page))
    }

    /// The holder's product `id` of `kind`, with its sections: `NotFound` when it is not
    /// theirs (or not of that kind), `Unavailable` when the bank will not share it now.
    pub(crate) async fn owned_product(
        &self,
        ctx: &ConnectorContext,
        kind: &str,
        id: &str,
    ) -> Result<Value, ConnectorError> {
        let (document, holder_kind) = holder_document(ctx).ok_or(ConnectorError::NotFound)?;
        let row = self
            .storage
            .product_of(document, holder_kind, id)
            .await?
            .filter(|p| p.kind == kind)
            .ok_or(ConnectorError::NotFound)?;
        if row.status != AVAILABLE {
            // The platform reads the resources API status from the message.
            return Err(ConnectorError::Unavailable(row.status));
        }
        Ok(self.storage.product_body(&row)?)
    }
}
