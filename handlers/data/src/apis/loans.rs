//! loans 2.5.0: loan contracts the consent shares, with warranties, instalments and payments.

super::contracts::contracts_api! {
    service: LoansService,
    krate: ofb_loans_v2,
    api: LoansApi,
    connector: LoansConnector,
    resource_type: crate::endpoints::resource_type::LOAN,
    single_links: LinksNonPaginated,
    list: (loans_get_contracts, LoansGetContractsRequest, LoansGetContractsResponse, LoansGetContractsInput, ResponseLoansContractList, crate::endpoints::LOANS),
    one: (loans_get_contracts_contract_id, LoansGetContractsContractIdRequest, LoansGetContractsContractIdResponse, LoansGetContractsContractIdInput, ResponseLoansContract, crate::endpoints::LOAN),
    warranties: (loans_get_contracts_contract_id_warranties, LoansGetContractsContractIdWarrantiesRequest, LoansGetContractsContractIdWarrantiesResponse, LoansGetContractsContractIdWarrantiesInput, ResponseLoansWarranties, crate::endpoints::LOAN_WARRANTIES),
    instalments: (loans_get_contracts_contract_id_scheduled_instalments, LoansGetContractsContractIdScheduledInstalmentsRequest, LoansGetContractsContractIdScheduledInstalmentsResponse, LoansGetContractsContractIdScheduledInstalmentsInput, ResponseLoansInstalments, crate::endpoints::LOAN_SCHEDULED_INSTALMENTS),
    payments: (loans_get_contracts_contract_id_payments, LoansGetContractsContractIdPaymentsRequest, LoansGetContractsContractIdPaymentsResponse, LoansGetContractsContractIdPaymentsInput, ResponseLoansPayments, crate::endpoints::LOAN_PAYMENTS),
}
