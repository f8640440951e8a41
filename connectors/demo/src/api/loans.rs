//! loans 2.5.0: personal and business loans, through the shared contract helpers.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use ofb_loans_v2::connector::*;
use ofb_loans_v2::models::{
    LoansContract, LoansInstalments, LoansListContract, LoansPayments, LoansWarranties,
};

use crate::DemoBank;
use crate::seed::section as s;

const KIND: &str = "LOAN";

#[async_trait::async_trait]
impl LoansConnector for DemoBank {
    async fn loans_get_contracts(
        &self,
        ctx: &ConnectorContext,
        input: LoansGetContractsInput,
    ) -> Result<Page<LoansListContract>, ConnectorError> {
        self.contract_list(ctx, KIND, input.page).await
    }

    async fn loans_get_contracts_contract_id(
        &self,
        ctx: &ConnectorContext,
        input: LoansGetContractsContractIdInput,
    ) -> Result<LoansContract, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::DETAIL)
            .await
    }

    async fn loans_get_contracts_contract_id_warranties(
        &self,
        ctx: &ConnectorContext,
        input: LoansGetContractsContractIdWarrantiesInput,
    ) -> Result<Page<LoansWarranties>, ConnectorError> {
        self.contract_warranties(ctx, KIND, &input.contract_id.0, input.page)
            .await
    }

    async fn loans_get_contracts_contract_id_scheduled_instalments(
        &self,
        ctx: &ConnectorContext,
        input: LoansGetContractsContractIdScheduledInstalmentsInput,
    ) -> Result<LoansInstalments, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::INSTALMENTS)
            .await
    }

    async fn loans_get_contracts_contract_id_payments(
        &self,
        ctx: &ConnectorContext,
        input: LoansGetContractsContractIdPaymentsInput,
    ) -> Result<LoansPayments, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::PAYMENTS)
            .await
    }
}
