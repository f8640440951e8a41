//! invoice-financings 2.4.0: receivables-advance contracts the consent shares, with warranties,
//! instalments and payments.

super::contracts::contracts_api! {
    service: InvoiceFinancingsService,
    krate: ofb_invoice_financings_v2,
    api: InvoiceFinancingsApi,
    connector: InvoiceFinancingsConnector,
    resource_type: crate::endpoints::resource_type::INVOICE_FINANCING,
    single_links: LinksSingle,
    list: (invoice_financings_get_contracts, InvoiceFinancingsGetContractsRequest, InvoiceFinancingsGetContractsResponse, InvoiceFinancingsGetContractsInput, ResponseInvoiceFinancingsContractList, crate::endpoints::INVOICE_FINANCINGS),
    one: (invoice_financings_get_contracts_contract_id, InvoiceFinancingsGetContractsContractIdRequest, InvoiceFinancingsGetContractsContractIdResponse, InvoiceFinancingsGetContractsContractIdInput, ResponseInvoiceFinancingsContract, crate::endpoints::INVOICE_FINANCING),
    warranties: (invoice_financings_get_contracts_contract_id_warranties, InvoiceFinancingsGetContractsContractIdWarrantiesRequest, InvoiceFinancingsGetContractsContractIdWarrantiesResponse, InvoiceFinancingsGetContractsContractIdWarrantiesInput, ResponseInvoiceFinancingsWarranties, crate::endpoints::INVOICE_FINANCING_WARRANTIES),
    instalments: (invoice_financings_get_contracts_contract_id_scheduled_instalments, InvoiceFinancingsGetContractsContractIdScheduledInstalmentsRequest, InvoiceFinancingsGetContractsContractIdScheduledInstalmentsResponse, InvoiceFinancingsGetContractsContractIdScheduledInstalmentsInput, ResponseInvoiceFinancingsInstalments, crate::endpoints::INVOICE_FINANCING_SCHEDULED_INSTALMENTS),
    payments: (invoice_financings_get_contracts_contract_id_payments, InvoiceFinancingsGetContractsContractIdPaymentsRequest, InvoiceFinancingsGetContractsContractIdPaymentsResponse, InvoiceFinancingsGetContractsContractIdPaymentsInput, ResponseInvoiceFinancingsPayments, crate::endpoints::INVOICE_FINANCING_PAYMENTS),
}
