//! financings 2.4.0: financing contracts the consent shares, with warranties, instalments and payments.

super::contracts::contracts_api! {
    service: FinancingsService,
    krate: ofb_financings_v2,
    api: FinancingsApi,
    connector: FinancingsConnector,
    resource_type: crate::endpoints::resource_type::FINANCING,
    single_links: LinksSingle,
    list: (financings_get_contracts, FinancingsGetContractsRequest, FinancingsGetContractsResponse, FinancingsGetContractsInput, ResponseFinancingsContractList, crate::endpoints::FINANCINGS),
    one: (financings_get_contracts_contract_id, FinancingsGetContractsContractIdRequest, FinancingsGetContractsContractIdResponse, FinancingsGetContractsContractIdInput, ResponseFinancingsContract, crate::endpoints::FINANCING),
    warranties: (financings_get_contracts_contract_id_warranties, FinancingsGetContractsContractIdWarrantiesRequest, FinancingsGetContractsContractIdWarrantiesResponse, FinancingsGetContractsContractIdWarrantiesInput, ResponseFinancingsWarranties, crate::endpoints::FINANCING_WARRANTIES),
    instalments: (financings_get_contracts_contract_id_scheduled_instalments, FinancingsGetContractsContractIdScheduledInstalmentsRequest, FinancingsGetContractsContractIdScheduledInstalmentsResponse, FinancingsGetContractsContractIdScheduledInstalmentsInput, ResponseFinancingsInstalments, crate::endpoints::FINANCING_SCHEDULED_INSTALMENTS),
    payments: (financings_get_contracts_contract_id_payments, FinancingsGetContractsContractIdPaymentsRequest, FinancingsGetContractsContractIdPaymentsResponse, FinancingsGetContractsContractIdPaymentsInput, ResponseFinancingsPayments, crate::endpoints::FINANCING_PAYMENTS),
}
