//! unarranged-accounts-overdraft 2.5.0: advances to depositors beyond the arranged limit, through the shared contract helpers.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use ofb_unarranged_accounts_overdraft_v2::connector::*;
use ofb_unarranged_accounts_overdraft_v2::models::{
    UnarrangedAccountOverdraftContractData, UnarrangedAccountOverdraftContractListData,
    UnarrangedAccountOverdraftInstalmentsData, UnarrangedAccountOverdraftPaymentsData,
    UnarrangedAccountsOverdraftContractedWarranty,
};

use crate::DemoBank;
use crate::seed::section as s;

const KIND: &str = "UNARRANGED_ACCOUNT_OVERDRAFT";

#[async_trait::async_trait]
impl UnarrangedAccountsOverdraftConnector for DemoBank {
    async fn unarranged_accounts_overdraft_get_contracts(
        &self,
        ctx: &ConnectorContext,
        input: UnarrangedAccountsOverdraftGetContractsInput,
    ) -> Result<Page<UnarrangedAccountOverdraftContractListData>, ConnectorError> {
        self.contract_list(ctx, KIND, input.page).await
    }

    async fn unarranged_accounts_overdraft_get_contracts_contract_id(
        &self,
        ctx: &ConnectorContext,
        input: UnarrangedAccountsOverdraftGetContractsContractIdInput,
    ) -> Result<UnarrangedAccountOverdraftContractData, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::DETAIL)
            .await
    }

    async fn unarranged_accounts_overdraft_get_contracts_contract_id_warranties(
        &self,
        ctx: &ConnectorContext,
        input: UnarrangedAccountsOverdraftGetContractsContractIdWarrantiesInput,
    ) -> Result<Page<UnarrangedAccountsOverdraftContractedWarranty>, ConnectorError> {
        self.contract_warranties(ctx, KIND, &input.contract_id.0, input.page)
            .await
    }

    async fn unarranged_accounts_overdraft_get_contracts_contract_id_scheduled_instalments(
        &self,
        ctx: &ConnectorContext,
        input: UnarrangedAccountsOverdraftGetContractsContractIdScheduledInstalmentsInput,
    ) -> Result<UnarrangedAccountOverdraftInstalmentsData, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::INSTALMENTS)
            .await
    }

    async fn unarranged_accounts_overdraft_get_contracts_contract_id_payments(
        &self,
        ctx: &ConnectorContext,
        input: UnarrangedAccountsOverdraftGetContractsContractIdPaymentsInput,
    ) -> Result<UnarrangedAccountOverdraftPaymentsData, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::PAYMENTS)
            .await
    }
}
