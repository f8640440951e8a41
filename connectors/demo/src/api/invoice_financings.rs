//! invoice-financings 2.4.0: discounted cheques and trade bills, through the shared contract helpers.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use ofb_invoice_financings_v2::connector::*;
use ofb_invoice_financings_v2::models::{
    InvoiceFinancingsContract, InvoiceFinancingsContractData, InvoiceFinancingsContractedWarranty,
    InvoiceFinancingsInstalments, InvoiceFinancingsPayments,
};

use crate::DemoBank;
use crate::seed::section as s;

const KIND: &str = "INVOICE_FINANCING";

#[async_trait::async_trait]
impl InvoiceFinancingsConnector for DemoBank {
    async fn invoice_financings_get_contracts(
        &self,
        ctx: &ConnectorContext,
        input: InvoiceFinancingsGetContractsInput,
    ) -> Result<Page<InvoiceFinancingsContractData>, ConnectorError> {
        self.contract_list(ctx, KIND, input.page).await
    }

    async fn invoice_financings_get_contracts_contract_id(
        &self,
        ctx: &ConnectorContext,
        input: InvoiceFinancingsGetContractsContractIdInput,
    ) -> Result<InvoiceFinancingsContract, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::DETAIL)
            .await
    }

    async fn invoice_financings_get_contracts_contract_id_warranties(
        &self,
        ctx: &ConnectorContext,
        input: InvoiceFinancingsGetContractsContractIdWarrantiesInput,
    ) -> Result<Page<InvoiceFinancingsContractedWarranty>, ConnectorError> {
        self.contract_warranties(ctx, KIND, &input.contract_id.0, input.page)
            .await
    }

    async fn invoice_financings_get_contracts_contract_id_scheduled_instalments(
        &self,
        ctx: &ConnectorContext,
        input: InvoiceFinancingsGetContractsContractIdScheduledInstalmentsInput,
    ) -> Result<InvoiceFinancingsInstalments, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::INSTALMENTS)
            .await
    }

    async fn invoice_financings_get_contracts_contract_id_payments(
        &self,
        ctx: &ConnectorContext,
        input: InvoiceFinancingsGetContractsContractIdPaymentsInput,
    ) -> Result<InvoiceFinancingsPayments, ConnectorError> {
        self.contract_section(ctx, KIND, &input.contract_id.0, s::PAYMENTS)
            .await
    }
}
