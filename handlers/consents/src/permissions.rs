//! Permission groups of consents 3.3.1 (the groups table in `#/info/description`) and the
//! checks a requested permission list must pass before a consent is created. Pure: no I/O.
//!
//! A request is accepted when every functional permission belongs to a complete group that the
//! request holds in full (including `RESOURCES_READ`). Groups this institution does not offer
//! are then dropped; credit operations, investments and exchanges count as one product each, so
//! their permissions stay or go together.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub const RESOURCES_READ: &str = "RESOURCES_READ";

/// A row of the groups table (credit operations, investments and exchanges are one product
/// each, whatever sub-set of them a request names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PermissionGroup {
    PersonalRegistration,
    PersonalAdditionalInfo,
    BusinessRegistration,
    BusinessAdditionalInfo,
    AccountsBalances,
    AccountsLimits,
    AccountsTransactions,
    CreditCardLimits,
    CreditCardTransactions,
    CreditCardBills,
    CreditOperations,
    Investments,
    Exchanges,
}

const LOANS: &[&str] = &[
    "LOANS_READ",
    "LOANS_WARRANTIES_READ",
    "LOANS_SCHEDULED_INSTALMENTS_READ",
    "LOANS_PAYMENTS_READ",
];
const FINANCINGS: &[&str] = &[
    "FINANCINGS_READ",
    "FINANCINGS_WARRANTIES_READ",
    "FINANCINGS_SCHEDULED_INSTALMENTS_READ",
    "FINANCINGS_PAYMENTS_READ",
];
const UNARRANGED: &[&str] = &[
    "UNARRANGED_ACCOUNTS_OVERDRAFT_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ",
];
const INVOICE_FINANCINGS: &[&str] = &[
    "INVOICE_FINANCINGS_READ",
    "INVOICE_FINANCINGS_WARRANTIES_READ",
    "INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ",
    "INVOICE_FINANCINGS_PAYMENTS_READ",
];
const INVESTMENTS: &[&str] = &[
    "BANK_FIXED_INCOMES_READ",
    "CREDIT_FIXED_INCOMES_READ",
    "FUNDS_READ",
    "VARIABLE_INCOMES_READ",
    "TREASURE_TITLES_READ",
];

impl PermissionGroup {
    pub const ALL: [PermissionGroup; 13] = [
        Self::PersonalRegistration,
        Self::PersonalAdditionalInfo,
        Self::BusinessRegistration,
        Self::BusinessAdditionalInfo,
        Self::AccountsBalances,
        Self::AccountsLimits,
        Self::AccountsTransactions,
        Self::CreditCardLimits,
        Self::CreditCardTransactions,
        Self::CreditCardBills,
        Self::CreditOperations,
        Self::Investments,
        Self::Exchanges,
    ];

    /// The phase-2 data groups this installation serves: everything but investments and
    /// exchanges.
    pub fn served_by_default() -> Vec<PermissionGroup> {
        Self::ALL
            .into_iter()
            .filter(|g| !matches!(g, Self::Investments | Self::Exchanges))
            .collect()
    }

    /// The permission sets that make up this group, without `RESOURCES_READ`. A product
    /// group also accepts each of its products alone (the certification suite asks for a
    /// loans-only consent, say).
    fn shapes(self) -> Vec<Vec<&'static str>> {
        match self {
            Self::PersonalRegistration => vec![vec!["CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ"]],
            Self::PersonalAdditionalInfo => vec![vec!["CUSTOMERS_PERSONAL_ADITTIONALINFO_READ"]],
            Self::BusinessRegistration => vec![vec!["CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ"]],
            Self::BusinessAdditionalInfo => vec![vec!["CUSTOMERS_BUSINESS_ADITTIONALINFO_READ"]],
            Self::AccountsBalances => vec![vec!["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ"]],
            Self::AccountsLimits => vec![vec!["ACCOUNTS_READ", "ACCOUNTS_OVERDRAFT_LIMITS_READ"]],
            Self::AccountsTransactions => {
                vec![vec!["ACCOUNTS_READ", "ACCOUNTS_TRANSACTIONS_READ"]]
            }
            Self::CreditCardLimits => vec![vec![
                "CREDIT_CARDS_ACCOUNTS_READ",
                "CREDIT_CARDS_ACCOUNTS_LIMITS_READ",
            ]],
            Self::CreditCardTransactions => vec![vec![
                "CREDIT_CARDS_ACCOUNTS_READ",
                "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ",
            ]],
            Self::CreditCardBills => vec![vec![
                "CREDIT_CARDS_ACCOUNTS_READ",
                "CREDIT_CARDS_ACCOUNTS_BILLS_READ",
                "CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ",
            ]],
            Self::CreditOperations => [LOANS, FINANCINGS, UNARRANGED, INVOICE_FINANCINGS]
                .iter()
                .map(|p| p.to_vec())
                .collect(),
            Self::Investments => INVESTMENTS.iter().map(|p| vec![*p]).collect(),
            Self::Exchanges => vec![vec!["EXCHANGES_READ"]],
        }
    }

    /// Every permission of the group, `RESOURCES_READ` included.
    pub fn permissions(self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = self.shapes().into_iter().flatten().collect();
        all.push(RESOURCES_READ);
        let mut seen = BTreeSet::new();
        all.retain(|p| seen.insert(*p));
        all
    }
}

/// Why a permission list was refused: each maps to the 422 code of the same name in
/// consents 3.3.1 `#/components/schemas/ResponseErrorUnprocessableEntity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionError {
    /// `PERMISSAO_PF_PJ_EM_CONJUNTO`
    PersonalAndBusiness,
    /// `INFORMACOES_PJ_NAO_INFORMADAS`
    BusinessEntityMissing,
    /// `PERMISSOES_PJ_INCORRETAS`
    PersonalForBusiness,
    /// `COMBINACAO_PERMISSOES_INCORRETA`
    IncompleteGroup,
    /// `SEM_PERMISSOES_FUNCIONAIS_RESTANTES`
    NothingOffered,
}

impl PermissionError {
    pub fn code(self) -> &'static str {
        match self {
            Self::PersonalAndBusiness => "PERMISSAO_PF_PJ_EM_CONJUNTO",
            Self::BusinessEntityMissing => "INFORMACOES_PJ_NAO_INFORMADAS",
            Self::PersonalForBusiness => "PERMISSOES_PJ_INCORRETAS",
            Self::IncompleteGroup => "COMBINACAO_PERMISSOES_INCORRETA",
            Self::NothingOffered => "SEM_PERMISSOES_FUNCIONAIS_RESTANTES",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::PersonalAndBusiness => "Permissões PF e PJ em conjunto",
            Self::BusinessEntityMissing => "Informações PJ não informadas",
            Self::PersonalForBusiness => "Permissões PJ incorretas",
            Self::IncompleteGroup => "Combinação de permissões incorreta",
            Self::NothingOffered => "Sem permissões funcionais restantes",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Self::PersonalAndBusiness => {
                "personal and business registration permissions cannot be requested together"
            }
            Self::BusinessEntityMissing => {
                "business permissions were requested without businessEntity"
            }
            Self::PersonalForBusiness => {
                "personal registration permissions were requested with businessEntity"
            }
            Self::IncompleteGroup => {
                "every permission must come with its whole group and RESOURCES_READ"
            }
            Self::NothingOffered => "none of the requested products is offered here",
        }
    }
}

fn is_personal(p: &str) -> bool {
    p.starts_with("CUSTOMERS_PERSONAL_")
}

fn is_business(p: &str) -> bool {
    p.starts_with("CUSTOMERS_BUSINESS_")
}

/// Checks `requested` (spec enum values, possibly repeated) and returns the permissions the
/// consent will hold: the request's order, duplicates removed, groups not in `offered`
/// dropped. The checks run in the order of [`PermissionError`]'s variants.
pub fn validate(
    requested: &[&str],
    has_business_entity: bool,
    offered: &[PermissionGroup],
) -> Result<Vec<String>, PermissionError> {
    let set: BTreeSet<&str> = requested.iter().copied().collect();
    let personal = set.iter().any(|p| is_personal(p));
    let business = set.iter().any(|p| is_business(p));
    if personal && business {
        return Err(PermissionError::PersonalAndBusiness);
    }
    if business && !has_business_entity {
        return Err(PermissionError::BusinessEntityMissing);
    }
    if personal && has_business_entity {
        return Err(PermissionError::PersonalForBusiness);
    }
    if !set.contains(RESOURCES_READ) {
        return Err(PermissionError::IncompleteGroup);
    }
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    for group in PermissionGroup::ALL {
        for shape in group.shapes() {
            if shape.iter().all(|p| set.contains(p)) {
                covered.extend(shape.iter().copied());
                if offered.contains(&group) {
                    kept.extend(shape.iter().copied());
                }
            }
        }
    }
    let functional: Vec<&str> = set
        .iter()
        .copied()
        .filter(|p| *p != RESOURCES_READ)
        .collect();
    if functional.is_empty() || functional.iter().any(|p| !covered.contains(p)) {
        return Err(PermissionError::IncompleteGroup);
    }
    if kept.is_empty() {
        return Err(PermissionError::NothingOffered);
    }
    kept.insert(RESOURCES_READ);
    let mut out = Vec::new();
    for p in requested {
        if kept.remove(p) {
            out.push((*p).to_string());
        }
    }
    Ok(out)
}

/// The resource type (resources v3 `type`) each permission that lists resources opens.
pub fn resource_type_of(permission: &str) -> Option<&'static str> {
    Some(match permission {
        "ACCOUNTS_READ" => "ACCOUNT",
        "CREDIT_CARDS_ACCOUNTS_READ" => "CREDIT_CARD_ACCOUNT",
        "LOANS_READ" => "LOAN",
        "FINANCINGS_READ" => "FINANCING",
        "UNARRANGED_ACCOUNTS_OVERDRAFT_READ" => "UNARRANGED_ACCOUNT_OVERDRAFT",
        "INVOICE_FINANCINGS_READ" => "INVOICE_FINANCING",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_offered() -> Vec<PermissionGroup> {
        PermissionGroup::ALL.to_vec()
    }

    #[test]
    fn every_group_alone_is_accepted() {
        for group in PermissionGroup::ALL {
            let perms = group.permissions();
            let business = perms.iter().any(|p| is_business(p));
            let got = validate(&perms, business, &all_offered()).unwrap();
            assert_eq!(got, perms, "{group:?}");
        }
    }

    #[test]
    fn dropping_any_permission_of_a_single_shape_group_is_refused() {
        for group in PermissionGroup::ALL {
            let shapes = group.shapes();
            if shapes.len() != 1 {
                continue;
            }
            let perms = group.permissions();
            let business = perms.iter().any(|p| is_business(p));
            for skip in 0..perms.len() {
                let partial: Vec<&str> = perms
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, p)| *p)
                    .collect();
                assert_eq!(
                    validate(&partial, business, &all_offered()),
                    Err(PermissionError::IncompleteGroup),
                    "{group:?} without {}",
                    perms[skip]
                );
            }
        }
    }

    #[test]
    fn a_credit_product_alone_is_a_group_but_half_a_product_is_not() {
        let loans: Vec<&str> = LOANS.iter().copied().chain([RESOURCES_READ]).collect();
        assert!(validate(&loans, false, &all_offered()).is_ok());
        let half = ["LOANS_READ", "LOANS_PAYMENTS_READ", RESOURCES_READ];
        assert_eq!(
            validate(&half, false, &all_offered()),
            Err(PermissionError::IncompleteGroup)
        );
    }

    #[test]
    fn personal_and_business_together_is_refused_first() {
        let perms = [
            "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
            "CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ",
            RESOURCES_READ,
        ];
        for business in [false, true] {
            assert_eq!(
                validate(&perms, business, &all_offered()),
                Err(PermissionError::PersonalAndBusiness)
            );
        }
    }

    #[test]
    fn business_permissions_need_the_business_and_personal_ones_refuse_it() {
        let business = ["CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ", RESOURCES_READ];
        assert_eq!(
            validate(&business, false, &all_offered()),
            Err(PermissionError::BusinessEntityMissing)
        );
        let personal = ["CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ", RESOURCES_READ];
        assert_eq!(
            validate(&personal, true, &all_offered()),
            Err(PermissionError::PersonalForBusiness)
        );
        let accounts = ["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", RESOURCES_READ];
        assert!(validate(&accounts, true, &all_offered()).is_ok());
    }

    #[test]
    fn resources_read_is_required_and_not_enough_alone() {
        assert_eq!(
            validate(
                &["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ"],
                false,
                &all_offered()
            ),
            Err(PermissionError::IncompleteGroup)
        );
        assert_eq!(
            validate(&[RESOURCES_READ], false, &all_offered()),
            Err(PermissionError::IncompleteGroup)
        );
    }

    #[test]
    fn groups_not_offered_are_dropped_and_nothing_left_is_refused() {
        let offered = PermissionGroup::served_by_default();
        let mixed = [
            "ACCOUNTS_READ",
            "ACCOUNTS_BALANCES_READ",
            "EXCHANGES_READ",
            "FUNDS_READ",
            RESOURCES_READ,
        ];
        assert_eq!(
            validate(&mixed, false, &offered).unwrap(),
            vec!["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", RESOURCES_READ]
        );
        for only in [
            PermissionGroup::Exchanges.permissions(),
            PermissionGroup::Investments.permissions(),
        ] {
            assert_eq!(
                validate(&only, false, &offered),
                Err(PermissionError::NothingOffered)
            );
        }
    }

    #[test]
    fn duplicates_collapse_and_order_is_kept() {
        let perms = [
            RESOURCES_READ,
            "ACCOUNTS_BALANCES_READ",
            "ACCOUNTS_READ",
            "ACCOUNTS_READ",
        ];
        assert_eq!(
            validate(&perms, false, &all_offered()).unwrap(),
            vec![RESOURCES_READ, "ACCOUNTS_BALANCES_READ", "ACCOUNTS_READ"]
        );
    }

    #[test]
    fn resource_types_follow_the_product_permissions() {
        assert_eq!(resource_type_of("ACCOUNTS_READ"), Some("ACCOUNT"));
        assert_eq!(resource_type_of("ACCOUNTS_BALANCES_READ"), None);
        assert_eq!(
            resource_type_of("INVOICE_FINANCINGS_READ"),
            Some("INVOICE_FINANCING")
        );
    }
}
