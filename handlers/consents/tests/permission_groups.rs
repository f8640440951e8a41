//! The permission-group rules of consents 3.3.1, table-driven over the groups as the spec's
//! table lists them (written out here, independent of the crate's own table).

use aberta_consents::permissions::validate;
use aberta_consents::{PermissionError, PermissionGroup};

const R: &str = "RESOURCES_READ";

/// Each group of the spec's table, with whether it needs `businessEntity`.
fn spec_groups() -> Vec<(&'static str, Vec<&'static str>, bool)> {
    vec![
        (
            "Dados Cadastrais PF",
            vec!["CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ", R],
            false,
        ),
        (
            "Informações complementares PF",
            vec!["CUSTOMERS_PERSONAL_ADITTIONALINFO_READ", R],
            false,
        ),
        (
            "Dados Cadastrais PJ",
            vec!["CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ", R],
            true,
        ),
        (
            "Informações complementares PJ",
            vec!["CUSTOMERS_BUSINESS_ADITTIONALINFO_READ", R],
            true,
        ),
        (
            "Contas: Saldos",
            vec!["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", R],
            false,
        ),
        (
            "Contas: Limites",
            vec!["ACCOUNTS_READ", "ACCOUNTS_OVERDRAFT_LIMITS_READ", R],
            false,
        ),
        (
            "Contas: Extratos",
            vec!["ACCOUNTS_READ", "ACCOUNTS_TRANSACTIONS_READ", R],
            false,
        ),
        (
            "Cartão: Limites",
            vec![
                "CREDIT_CARDS_ACCOUNTS_READ",
                "CREDIT_CARDS_ACCOUNTS_LIMITS_READ",
                R,
            ],
            false,
        ),
        (
            "Cartão: Transações",
            vec![
                "CREDIT_CARDS_ACCOUNTS_READ",
                "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ",
                R,
            ],
            false,
        ),
        (
            "Cartão: Faturas",
            vec![
                "CREDIT_CARDS_ACCOUNTS_READ",
                "CREDIT_CARDS_ACCOUNTS_BILLS_READ",
                "CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ",
                R,
            ],
            false,
        ),
        (
            "Operações de Crédito",
            vec![
                "LOANS_READ",
                "LOANS_WARRANTIES_READ",
                "LOANS_SCHEDULED_INSTALMENTS_READ",
                "LOANS_PAYMENTS_READ",
                "FINANCINGS_READ",
                "FINANCINGS_WARRANTIES_READ",
                "FINANCINGS_SCHEDULED_INSTALMENTS_READ",
                "FINANCINGS_PAYMENTS_READ",
                "UNARRANGED_ACCOUNTS_OVERDRAFT_READ",
                "UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ",
                "UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ",
                "UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ",
                "INVOICE_FINANCINGS_READ",
                "INVOICE_FINANCINGS_WARRANTIES_READ",
                "INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ",
                "INVOICE_FINANCINGS_PAYMENTS_READ",
                R,
            ],
            false,
        ),
    ]
}

#[test]
fn each_offered_group_is_accepted_whole() {
    let offered = PermissionGroup::served_by_default();
    for (name, perms, business) in spec_groups() {
        assert_eq!(
            validate(&perms, business, &offered),
            Ok(perms.iter().map(|p| p.to_string()).collect::<Vec<_>>()),
            "{name}"
        );
    }
}

#[test]
fn each_group_missing_resources_read_is_incomplete() {
    let offered = PermissionGroup::served_by_default();
    for (name, perms, business) in spec_groups() {
        let without: Vec<&str> = perms.iter().copied().filter(|p| *p != R).collect();
        assert_eq!(
            validate(&without, business, &offered),
            Err(PermissionError::IncompleteGroup),
            "{name}"
        );
    }
}

#[test]
fn each_multi_permission_group_missing_a_data_permission_is_incomplete() {
    let offered = PermissionGroup::served_by_default();
    for (name, perms, business) in spec_groups() {
        if perms.len() < 3 || name == "Operações de Crédito" {
            continue;
        }
        for dropped in perms.iter().filter(|p| **p != R) {
            let partial: Vec<&str> = perms.iter().copied().filter(|p| p != dropped).collect();
            assert_eq!(
                validate(&partial, business, &offered),
                Err(PermissionError::IncompleteGroup),
                "{name} without {dropped}"
            );
        }
    }
}

#[test]
fn refusals_and_their_codes() {
    let offered = PermissionGroup::served_by_default();
    let cases: Vec<(&str, Vec<&str>, bool, &str)> = vec![
        (
            "PF and PJ together",
            vec![
                "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
                "CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ",
                R,
            ],
            true,
            "PERMISSAO_PF_PJ_EM_CONJUNTO",
        ),
        (
            "PJ without businessEntity",
            vec!["CUSTOMERS_BUSINESS_ADITTIONALINFO_READ", R],
            false,
            "INFORMACOES_PJ_NAO_INFORMADAS",
        ),
        (
            "PF with businessEntity",
            vec!["CUSTOMERS_PERSONAL_ADITTIONALINFO_READ", R],
            true,
            "PERMISSOES_PJ_INCORRETAS",
        ),
        (
            "half a group",
            vec![
                "CREDIT_CARDS_ACCOUNTS_BILLS_READ",
                "CREDIT_CARDS_ACCOUNTS_READ",
                R,
            ],
            false,
            "COMBINACAO_PERMISSOES_INCORRETA",
        ),
        (
            "resources alone",
            vec![R],
            false,
            "COMBINACAO_PERMISSOES_INCORRETA",
        ),
        (
            "exchanges only",
            vec!["EXCHANGES_READ", R],
            false,
            "SEM_PERMISSOES_FUNCIONAIS_RESTANTES",
        ),
        (
            "investments only",
            vec![
                "BANK_FIXED_INCOMES_READ",
                "CREDIT_FIXED_INCOMES_READ",
                "FUNDS_READ",
                "VARIABLE_INCOMES_READ",
                "TREASURE_TITLES_READ",
                R,
            ],
            false,
            "SEM_PERMISSOES_FUNCIONAIS_RESTANTES",
        ),
    ];
    for (name, perms, business, code) in cases {
        assert_eq!(
            validate(&perms, business, &offered).map_err(|e| e.code()),
            Err(code),
            "{name}"
        );
    }
}

#[test]
fn an_institution_offering_everything_keeps_exchanges() {
    let all = PermissionGroup::ALL.to_vec();
    assert!(validate(&["EXCHANGES_READ", R], false, &all).is_ok());
}
