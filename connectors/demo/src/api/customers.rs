//! customers 2.2.1: the person's and the business's registration data, qualification and
//! relationship with the bank.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use ofb_customers_v2::connector::*;
use ofb_customers_v2::models::{
    BusinessFinancialRelationData, BusinessIdentificationData, BusinessQualificationData,
    PersonalFinancialRelationData, PersonalIdentificationData, PersonalQualificationData,
};
use serde::de::DeserializeOwned;

use crate::DemoBank;
use crate::access::{decode, decode_page, section};
use crate::entity::customer;

const IDENTIFICATION: &str = "identification";
const QUALIFICATION: &str = "qualification";
const RELATIONS: &str = "financialRelations";

impl DemoBank {
    /// One profile document of `who`; `NotFound` when the bank does not know them.
    fn profile_part<T: DeserializeOwned>(
        &self,
        who: Option<customer::Model>,
        part: &'static str,
    ) -> Result<T, ConnectorError> {
        let who = who.ok_or(ConnectorError::NotFound)?;
        let profile = self.storage.customer_profile(&who)?;
        decode(section(&profile, part)?)
    }

    /// The identification list: one entry, or none for a stranger.
    fn identification_page<T: DeserializeOwned>(
        &self,
        who: Option<customer::Model>,
    ) -> Result<Page<T>, ConnectorError> {
        let Some(who) = who else {
            return Ok(Page {
                items: Vec::new(),
                total_records: 0,
            });
        };
        let profile = self.storage.customer_profile(&who)?;
        decode_page(vec![section(&profile, IDENTIFICATION)?], 1)
    }
}

#[async_trait::async_trait]
impl CustomersConnector for DemoBank {
    async fn customers_get_personal_identifications(
        &self,
        ctx: &ConnectorContext,
        input: CustomersGetPersonalIdentificationsInput,
    ) -> Result<Page<PersonalIdentificationData>, ConnectorError> {
        let page = self.identification_page(self.person(ctx).await?)?;
        Ok(first_page_only(page, input.page.page))
    }

    async fn customers_get_personal_qualifications(
        &self,
        ctx: &ConnectorContext,
        _input: CustomersGetPersonalQualificationsInput,
    ) -> Result<PersonalQualificationData, ConnectorError> {
        self.profile_part(self.person(ctx).await?, QUALIFICATION)
    }

    async fn customers_get_personal_financial_relations(
        &self,
        ctx: &ConnectorContext,
        _input: CustomersGetPersonalFinancialRelationsInput,
    ) -> Result<PersonalFinancialRelationData, ConnectorError> {
        self.profile_part(self.person(ctx).await?, RELATIONS)
    }

    async fn customers_get_business_identifications(
        &self,
        ctx: &ConnectorContext,
        input: CustomersGetBusinessIdentificationsInput,
    ) -> Result<Page<BusinessIdentificationData>, ConnectorError> {
        let page = self.identification_page(self.business(ctx).await?)?;
        Ok(first_page_only(page, input.page.page))
    }

    async fn customers_get_business_qualifications(
        &self,
        ctx: &ConnectorContext,
        _input: CustomersGetBusinessQualificationsInput,
    ) -> Result<BusinessQualificationData, ConnectorError> {
        self.profile_part(self.business(ctx).await?, QUALIFICATION)
    }

    async fn customers_get_business_financial_relations(
        &self,
        ctx: &ConnectorContext,
        _input: CustomersGetBusinessFinancialRelationsInput,
    ) -> Result<BusinessFinancialRelationData, ConnectorError> {
        self.profile_part(self.business(ctx).await?, RELATIONS)
    }
}

/// A one-item list has nothing past page one, though the total stays the same.
fn first_page_only<T>(mut page: Page<T>, number: u32) -> Page<T> {
    if number > 1 {
        page.items.clear();
    }
    page
}
