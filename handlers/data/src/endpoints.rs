//! Every operation the resource servers answer, with what the guard checks for it: the
//! OAuth scope (requirements §1.10), the consent permission (each spec's `info.description`,
//! "Permissions necessárias") and the kind of resource its path names.

/// Resource types of resources 3.1.0 (`ResponseResourceList/.../type`).
pub mod resource_type {
    pub const ACCOUNT: &str = "ACCOUNT";
    pub const CREDIT_CARD_ACCOUNT: &str = "CREDIT_CARD_ACCOUNT";
    pub const LOAN: &str = "LOAN";
    pub const FINANCING: &str = "FINANCING";
    pub const UNARRANGED_ACCOUNT_OVERDRAFT: &str = "UNARRANGED_ACCOUNT_OVERDRAFT";
    pub const INVOICE_FINANCING: &str = "INVOICE_FINANCING";
}

/// One operation of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The spec's `operationId`.
    pub operation_id: &'static str,
    /// The templated path under the API's base path.
    pub path: &'static str,
    pub scope: &'static str,
    pub permission: &'static str,
    /// The resource type of the path's id, for operations on one product.
    pub resource_type: Option<&'static str>,
    /// Whether operational limits may apply (requirements §4: never on resources).
    pub limited: bool,
}

macro_rules! endpoints {
    ($($name:ident = $op:literal, $path:literal, $scope:literal, $perm:literal, $rtype:expr, $limited:literal;)*) => {
        $(pub static $name: Endpoint = Endpoint {
            operation_id: $op,
            path: $path,
            scope: $scope,
            permission: $perm,
            resource_type: $rtype,
            limited: $limited,
        };)*
        /// Every endpoint, for lookups and tests.
        pub static ALL: &[&Endpoint] = &[$(&$name),*];
    };
}

endpoints! {
    RESOURCES = "resourcesGetResources", "/resources", "resources", "RESOURCES_READ", None, false;

    PERSONAL_IDENTIFICATIONS = "customersGetPersonalIdentifications", "/personal/identifications", "customers", "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ", None, true;
    PERSONAL_QUALIFICATIONS = "customersGetPersonalQualifications", "/personal/qualifications", "customers", "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ", None, true;
    PERSONAL_FINANCIAL_RELATIONS = "customersGetPersonalFinancialRelations", "/personal/financial-relations", "customers", "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ", None, true;
    BUSINESS_IDENTIFICATIONS = "customersGetBusinessIdentifications", "/business/identifications", "customers", "CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ", None, true;
    BUSINESS_QUALIFICATIONS = "customersGetBusinessQualifications", "/business/qualifications", "customers", "CUSTOMERS_BUSINESS_ADITTIONALINFO_READ", None, true;
    BUSINESS_FINANCIAL_RELATIONS = "customersGetBusinessFinancialRelations", "/business/financial-relations", "customers", "CUSTOMERS_BUSINESS_ADITTIONALINFO_READ", None, true;

    ACCOUNTS = "accountsGetAccounts", "/accounts", "accounts", "ACCOUNTS_READ", None, true;
    ACCOUNT = "accountsGetAccountsAccountId", "/accounts/{accountId}", "accounts", "ACCOUNTS_READ", Some(resource_type::ACCOUNT), true;
    ACCOUNT_BALANCES = "accountsGetAccountsAccountIdBalances", "/accounts/{accountId}/balances", "accounts", "ACCOUNTS_BALANCES_READ", Some(resource_type::ACCOUNT), true;
    ACCOUNT_TRANSACTIONS = "accountsGetAccountsAccountIdTransactions", "/accounts/{accountId}/transactions", "accounts", "ACCOUNTS_TRANSACTIONS_READ", Some(resource_type::ACCOUNT), true;
    ACCOUNT_TRANSACTIONS_CURRENT = "accountsGetAccountsAccountIdTransactionsCurrent", "/accounts/{accountId}/transactions-current", "accounts", "ACCOUNTS_TRANSACTIONS_READ", Some(resource_type::ACCOUNT), true;
    ACCOUNT_OVERDRAFT_LIMITS = "accountsGetAccountsAccountIdOverdraftLimits", "/accounts/{accountId}/overdraft-limits", "accounts", "ACCOUNTS_OVERDRAFT_LIMITS_READ", Some(resource_type::ACCOUNT), true;

    CREDIT_CARDS = "creditCardsGetAccounts", "/accounts", "credit-cards-accounts", "CREDIT_CARDS_ACCOUNTS_READ", None, true;
    CREDIT_CARD = "creditCardsGetAccountsCreditCardAccountId", "/accounts/{creditCardAccountId}", "credit-cards-accounts", "CREDIT_CARDS_ACCOUNTS_READ", Some(resource_type::CREDIT_CARD_ACCOUNT), true;
    CREDIT_CARD_BILLS = "creditCardsGetAccountsCreditCardAccountIdBills", "/accounts/{creditCardAccountId}/bills", "credit-cards-accounts", "CREDIT_CARDS_ACCOUNTS_BILLS_READ", Some(resource_type::CREDIT_CARD_ACCOUNT), true;
    CREDIT_CARD_BILL_TRANSACTIONS = "creditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactions", "/accounts/{creditCardAccountId}/bills/{billId}/transactions", "credit-cards-accounts", "CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ", Some(resource_type::CREDIT_CARD_ACCOUNT), true;
    CREDIT_CARD_LIMITS = "creditCardsGetAccountsCreditCardAccountIdLimits", "/accounts/{creditCardAccountId}/limits", "credit-cards-accounts", "CREDIT_CARDS_ACCOUNTS_LIMITS_READ", Some(resource_type::CREDIT_CARD_ACCOUNT), true;
    CREDIT_CARD_TRANSACTIONS = "creditCardsGetAccountsCreditCardAccountIdTransactions", "/accounts/{creditCardAccountId}/transactions", "credit-cards-accounts", "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ", Some(resource_type::CREDIT_CARD_ACCOUNT), true;
    CREDIT_CARD_TRANSACTIONS_CURRENT = "creditCardsGetAccountsCreditCardAccountIdTransactionsCurrent", "/accounts/{creditCardAccountId}/transactions-current", "credit-cards-accounts", "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ", Some(resource_type::CREDIT_CARD_ACCOUNT), true;

    LOANS = "loansGetContracts", "/contracts", "loans", "LOANS_READ", None, true;
    LOAN = "loansGetContractsContractId", "/contracts/{contractId}", "loans", "LOANS_READ", Some(resource_type::LOAN), true;
    LOAN_WARRANTIES = "loansGetContractsContractIdWarranties", "/contracts/{contractId}/warranties", "loans", "LOANS_WARRANTIES_READ", Some(resource_type::LOAN), true;
    LOAN_SCHEDULED_INSTALMENTS = "loansGetContractsContractIdScheduledInstalments", "/contracts/{contractId}/scheduled-instalments", "loans", "LOANS_SCHEDULED_INSTALMENTS_READ", Some(resource_type::LOAN), true;
    LOAN_PAYMENTS = "loansGetContractsContractIdPayments", "/contracts/{contractId}/payments", "loans", "LOANS_PAYMENTS_READ", Some(resource_type::LOAN), true;

    FINANCINGS = "financingsGetContracts", "/contracts", "financings", "FINANCINGS_READ", None, true;
    FINANCING = "financingsGetContractsContractId", "/contracts/{contractId}", "financings", "FINANCINGS_READ", Some(resource_type::FINANCING), true;
    FINANCING_WARRANTIES = "financingsGetContractsContractIdWarranties", "/contracts/{contractId}/warranties", "financings", "FINANCINGS_WARRANTIES_READ", Some(resource_type::FINANCING), true;
    FINANCING_SCHEDULED_INSTALMENTS = "financingsGetContractsContractIdScheduledInstalments", "/contracts/{contractId}/scheduled-instalments", "financings", "FINANCINGS_SCHEDULED_INSTALMENTS_READ", Some(resource_type::FINANCING), true;
    FINANCING_PAYMENTS = "financingsGetContractsContractIdPayments", "/contracts/{contractId}/payments", "financings", "FINANCINGS_PAYMENTS_READ", Some(resource_type::FINANCING), true;

    INVOICE_FINANCINGS = "invoiceFinancingsGetContracts", "/contracts", "invoice-financings", "INVOICE_FINANCINGS_READ", None, true;
    INVOICE_FINANCING = "invoiceFinancingsGetContractsContractId", "/contracts/{contractId}", "invoice-financings", "INVOICE_FINANCINGS_READ", Some(resource_type::INVOICE_FINANCING), true;
    INVOICE_FINANCING_WARRANTIES = "invoiceFinancingsGetContractsContractIdWarranties", "/contracts/{contractId}/warranties", "invoice-financings", "INVOICE_FINANCINGS_WARRANTIES_READ", Some(resource_type::INVOICE_FINANCING), true;
    INVOICE_FINANCING_SCHEDULED_INSTALMENTS = "invoiceFinancingsGetContractsContractIdScheduledInstalments", "/contracts/{contractId}/scheduled-instalments", "invoice-financings", "INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ", Some(resource_type::INVOICE_FINANCING), true;
    INVOICE_FINANCING_PAYMENTS = "invoiceFinancingsGetContractsContractIdPayments", "/contracts/{contractId}/payments", "invoice-financings", "INVOICE_FINANCINGS_PAYMENTS_READ", Some(resource_type::INVOICE_FINANCING), true;

    OVERDRAFTS = "unarrangedAccountsOverdraftGetContracts", "/contracts", "unarranged-accounts-overdraft", "UNARRANGED_ACCOUNTS_OVERDRAFT_READ", None, true;
    OVERDRAFT = "unarrangedAccountsOverdraftGetContractsContractId", "/contracts/{contractId}", "unarranged-accounts-overdraft", "UNARRANGED_ACCOUNTS_OVERDRAFT_READ", Some(resource_type::UNARRANGED_ACCOUNT_OVERDRAFT), true;
    OVERDRAFT_WARRANTIES = "unarrangedAccountsOverdraftGetContractsContractIdWarranties", "/contracts/{contractId}/warranties", "unarranged-accounts-overdraft", "UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ", Some(resource_type::UNARRANGED_ACCOUNT_OVERDRAFT), true;
    OVERDRAFT_SCHEDULED_INSTALMENTS = "unarrangedAccountsOverdraftGetContractsContractIdScheduledInstalments", "/contracts/{contractId}/scheduled-instalments", "unarranged-accounts-overdraft", "UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ", Some(resource_type::UNARRANGED_ACCOUNT_OVERDRAFT), true;
    OVERDRAFT_PAYMENTS = "unarrangedAccountsOverdraftGetContractsContractIdPayments", "/contracts/{contractId}/payments", "unarranged-accounts-overdraft", "UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ", Some(resource_type::UNARRANGED_ACCOUNT_OVERDRAFT), true;
}

/// The read permission that lets a consent see resources of `resource_type` in lists.
pub fn list_permission(resource_type: &str) -> Option<&'static str> {
    Some(match resource_type {
        resource_type::ACCOUNT => "ACCOUNTS_READ",
        resource_type::CREDIT_CARD_ACCOUNT => "CREDIT_CARDS_ACCOUNTS_READ",
        resource_type::LOAN => "LOANS_READ",
        resource_type::FINANCING => "FINANCINGS_READ",
        resource_type::UNARRANGED_ACCOUNT_OVERDRAFT => "UNARRANGED_ACCOUNTS_OVERDRAFT_READ",
        resource_type::INVOICE_FINANCING => "INVOICE_FINANCINGS_READ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permission of each path, transcribed from each spec's "Permissions necessárias".
    const SPEC: &[(&str, &str, &str)] = &[
        ("resources", "/resources", "RESOURCES_READ"),
        (
            "customers",
            "/personal/identifications",
            "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
        ),
        (
            "customers",
            "/personal/qualifications",
            "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ",
        ),
        (
            "customers",
            "/personal/financial-relations",
            "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ",
        ),
        (
            "customers",
            "/business/identifications",
            "CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ",
        ),
        (
            "customers",
            "/business/qualifications",
            "CUSTOMERS_BUSINESS_ADITTIONALINFO_READ",
        ),
        (
            "customers",
            "/business/financial-relations",
            "CUSTOMERS_BUSINESS_ADITTIONALINFO_READ",
        ),
        ("accounts", "/accounts", "ACCOUNTS_READ"),
        ("accounts", "/accounts/{accountId}", "ACCOUNTS_READ"),
        (
            "accounts",
            "/accounts/{accountId}/balances",
            "ACCOUNTS_BALANCES_READ",
        ),
        (
            "accounts",
            "/accounts/{accountId}/transactions",
            "ACCOUNTS_TRANSACTIONS_READ",
        ),
        (
            "accounts",
            "/accounts/{accountId}/transactions-current",
            "ACCOUNTS_TRANSACTIONS_READ",
        ),
        (
            "accounts",
            "/accounts/{accountId}/overdraft-limits",
            "ACCOUNTS_OVERDRAFT_LIMITS_READ",
        ),
        (
            "credit-cards-accounts",
            "/accounts",
            "CREDIT_CARDS_ACCOUNTS_READ",
        ),
        (
            "credit-cards-accounts",
            "/accounts/{creditCardAccountId}",
            "CREDIT_CARDS_ACCOUNTS_READ",
        ),
        (
            "credit-cards-accounts",
            "/accounts/{creditCardAccountId}/bills",
            "CREDIT_CARDS_ACCOUNTS_BILLS_READ",
        ),
        (
            "credit-cards-accounts",
            "/accounts/{creditCardAccountId}/bills/{billId}/transactions",
            "CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ",
        ),
        (
            "credit-cards-accounts",
            "/accounts/{creditCardAccountId}/limits",
            "CREDIT_CARDS_ACCOUNTS_LIMITS_READ",
        ),
        (
            "credit-cards-accounts",
            "/accounts/{creditCardAccountId}/transactions",
            "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ",
        ),
        (
            "credit-cards-accounts",
            "/accounts/{creditCardAccountId}/transactions-current",
            "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ",
        ),
        ("loans", "/contracts", "LOANS_READ"),
        ("loans", "/contracts/{contractId}", "LOANS_READ"),
        (
            "loans",
            "/contracts/{contractId}/warranties",
            "LOANS_WARRANTIES_READ",
        ),
        (
            "loans",
            "/contracts/{contractId}/scheduled-instalments",
            "LOANS_SCHEDULED_INSTALMENTS_READ",
        ),
        (
            "loans",
            "/contracts/{contractId}/payments",
            "LOANS_PAYMENTS_READ",
        ),
        ("financings", "/contracts", "FINANCINGS_READ"),
        ("financings", "/contracts/{contractId}", "FINANCINGS_READ"),
        (
            "financings",
            "/contracts/{contractId}/warranties",
            "FINANCINGS_WARRANTIES_READ",
        ),
        (
            "financings",
            "/contracts/{contractId}/scheduled-instalments",
            "FINANCINGS_SCHEDULED_INSTALMENTS_READ",
        ),
        (
            "financings",
            "/contracts/{contractId}/payments",
            "FINANCINGS_PAYMENTS_READ",
        ),
        (
            "invoice-financings",
            "/contracts",
            "INVOICE_FINANCINGS_READ",
        ),
        (
            "invoice-financings",
            "/contracts/{contractId}",
            "INVOICE_FINANCINGS_READ",
        ),
        (
            "invoice-financings",
            "/contracts/{contractId}/warranties",
            "INVOICE_FINANCINGS_WARRANTIES_READ",
        ),
        (
            "invoice-financings",
            "/contracts/{contractId}/scheduled-instalments",
            "INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ",
        ),
        (
            "invoice-financings",
            "/contracts/{contractId}/payments",
            "INVOICE_FINANCINGS_PAYMENTS_READ",
        ),
        (
            "unarranged-accounts-overdraft",
            "/contracts",
            "UNARRANGED_ACCOUNTS_OVERDRAFT_READ",
        ),
        (
            "unarranged-accounts-overdraft",
            "/contracts/{contractId}",
            "UNARRANGED_ACCOUNTS_OVERDRAFT_READ",
        ),
        (
            "unarranged-accounts-overdraft",
            "/contracts/{contractId}/warranties",
            "UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ",
        ),
        (
            "unarranged-accounts-overdraft",
            "/contracts/{contractId}/scheduled-instalments",
            "UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ",
        ),
        (
            "unarranged-accounts-overdraft",
            "/contracts/{contractId}/payments",
            "UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ",
        ),
    ];

    #[test]
    fn every_endpoint_has_the_spec_permission() {
        assert_eq!(ALL.len(), SPEC.len());
        for (scope, path, permission) in SPEC {
            let found: Vec<_> = ALL
                .iter()
                .filter(|e| e.scope == *scope && e.path == *path)
                .collect();
            assert_eq!(found.len(), 1, "{scope} {path}");
            assert_eq!(found[0].permission, *permission, "{scope} {path}");
            assert_eq!(
                found[0].resource_type.is_some(),
                path.matches('{').count() > 0,
                "{scope} {path}"
            );
        }
    }

    /// Each table entry is an operation of the generated servers, at the same path.
    #[test]
    fn the_table_matches_the_generated_operations() {
        let documents = [
            ("resources", ofb_resources_v3::server::openapi_document()),
            ("customers", ofb_customers_v2::server::openapi_document()),
            ("accounts", ofb_accounts_v2::server::openapi_document()),
            (
                "credit-cards-accounts",
                ofb_credit_cards_v2::server::openapi_document(),
            ),
            ("loans", ofb_loans_v2::server::openapi_document()),
            ("financings", ofb_financings_v2::server::openapi_document()),
            (
                "invoice-financings",
                ofb_invoice_financings_v2::server::openapi_document(),
            ),
            (
                "unarranged-accounts-overdraft",
                ofb_unarranged_accounts_overdraft_v2::server::openapi_document(),
            ),
        ];
        let mut operations = 0;
        for (scope, document) in documents {
            let paths = document["paths"].as_object().expect("paths");
            for (path, item) in paths {
                let op = item["get"]["operationId"].as_str().expect("operationId");
                operations += 1;
                let entry = ALL
                    .iter()
                    .find(|e| e.operation_id == op)
                    .unwrap_or_else(|| panic!("{op} has no entry"));
                assert_eq!(entry.scope, scope, "{op}");
                assert!(path.ends_with(entry.path), "{op}: {path} vs {}", entry.path);
            }
        }
        assert_eq!(operations, ALL.len());
    }

    #[test]
    fn list_permissions_cover_every_product_type() {
        for t in [
            resource_type::ACCOUNT,
            resource_type::CREDIT_CARD_ACCOUNT,
            resource_type::LOAN,
            resource_type::FINANCING,
            resource_type::UNARRANGED_ACCOUNT_OVERDRAFT,
            resource_type::INVOICE_FINANCING,
        ] {
            assert!(list_permission(t).is_some());
        }
        assert_eq!(list_permission("FUND"), None);
    }
}
