//! financings 2.4.0: vehicle and home financings, through the shared contract helpers.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use ofb_financings_v2::connector::*;
use ofb_financings_v2::models::{
    FinancingsContract, FinancingsInstalments, FinancingsListContract, FinancingsPayments,
    FinancingsWarranties,
};

use crate::DemoBank;
use crate::seed::section as s;

const KIND: &str = "FINANCING";

#[async_trait::async_trait]
impl FinancingsConnector for DemoBank {
    async fn financings_get_contracts(
        &self,
        ctx: &ConnectorContext,
        input: FinancingsGetContractsInput,
    ) -> Result<Page<FinancingsListContract>, ConnectorError> {
        self.contract_list(ctx, KIND, input.page).await
    }

    async fn financings_get_contracts_contract_id(
        &self,
        ctx: &ConnectorContext,
        input: FinancingsGetContractsContractIdInput,
    ) -> Result<FinancingsContract, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::DETAIL)
            .await
    }

    async fn financings_get_contracts_contract_id_warranties(
        &self,
        ctx: &ConnectorContext,
        input: FinancingsGetContractsContractIdWarrantiesInput,
    ) -> Result<Page<FinancingsWarranties>, ConnectorError> {
        self.contract_warranties(ctx, KIND, &input.contract_id.0, input.page)
            .await
    }

    async fn financings_get_contracts_contract_id_scheduled_instalments(
        &self,
        ctx: &ConnectorContext,
        input: FinancingsGetContractsContractIdScheduledInstalmentsInput,
    ) -> Result<FinancingsInstalments, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::INSTALMENTS)
            .await
    }

    async fn financings_get_contracts_contract_id_payments(
        &self,
        ctx: &ConnectorContext,
        input: FinancingsGetContractsContractIdPaymentsInput,
    ) -> Result<FinancingsPayments, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::PAYMENTS)
            .await
    }
}
