//! Every answer of every connector method, for every seeded customer and resource (every
//! page), validates against the generated models with zero violations.

mod common;

use aberta_demo_bank::DemoBank;
use aberta_runtime::Validate;
use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page, PageRequest};
use common::*;
use ofb_accounts_v2::connector::*;
use ofb_accounts_v2::params as acc;
use ofb_credit_cards_v2::connector::*;
use ofb_credit_cards_v2::params as cc;
use ofb_customers_v2::connector::*;
use ofb_financings_v2::connector::*;
use ofb_invoice_financings_v2::connector::*;
use ofb_loans_v2::connector::*;
use ofb_resources_v3::connector::*;
use ofb_unarranged_accounts_overdraft_v2::connector::*;

/// Small pages, so every list is walked across several.
const PAGE_SIZE: u32 = 7;

/// Reads every page of a list through `fetch`, checking each item.
async fn all_pages<T, F, Fut>(what: &str, found: &mut Vec<String>, mut fetch: F) -> Vec<T>
where
    T: Validate,
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, ConnectorError>>,
{
    let mut items = Vec::new();
    let mut number = 1;
    loop {
        let page = fetch(page(number, PAGE_SIZE))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        for (i, item) in page.items.iter().enumerate() {
            found.extend(violations(&format!("{what} p{number}[{i}]"), item));
        }
        let seen = (number - 1) as u64 * PAGE_SIZE as u64 + page.items.len() as u64;
        let done = page.items.len() < PAGE_SIZE as usize || seen >= page.total_records;
        assert!(
            seen <= page.total_records,
            "{what}: more items than total_records"
        );
        items.extend(page.items);
        if done {
            assert_eq!(
                items.len() as u64,
                page.total_records,
                "{what}: total_records"
            );
            return items;
        }
        number += 1;
    }
}

fn one<T: Validate>(what: &str, found: &mut Vec<String>, value: Result<T, ConnectorError>) {
    let value = value.unwrap_or_else(|e| panic!("{what}: {e}"));
    found.extend(violations(what, &value));
}

/// The whole year back and a month ahead.
fn year() -> (Option<String>, Option<String>) {
    (Some(date(-365)), Some(date(30)))
}

async fn walk(bank: &DemoBank, who: &str, ctx: &ConnectorContext) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut calls = 0;
    let resources = all_pages(&format!("{who} resources"), &mut found, |p| {
        bank.resources_get_resources(ctx, ResourcesGetResourcesInput { page: p })
    })
    .await;
    assert!(!resources.is_empty(), "{who} has resources");

    if ctx.business.is_some() {
        all_pages(
            &format!("{who} business identifications"),
            &mut found,
            |p| {
                bank.customers_get_business_identifications(
                    ctx,
                    CustomersGetBusinessIdentificationsInput {
                        pagination_key: None,
                        page: p,
                    },
                )
            },
        )
        .await;
        one(
            &format!("{who} business qualification"),
            &mut found,
            bank.customers_get_business_qualifications(
                ctx,
                CustomersGetBusinessQualificationsInput {},
            )
            .await,
        );
        one(
            &format!("{who} business relations"),
            &mut found,
            bank.customers_get_business_financial_relations(
                ctx,
                CustomersGetBusinessFinancialRelationsInput {},
            )
            .await,
        );
    } else {
        all_pages(
            &format!("{who} personal identifications"),
            &mut found,
            |p| {
                bank.customers_get_personal_identifications(
                    ctx,
                    CustomersGetPersonalIdentificationsInput {
                        pagination_key: None,
                        page: p,
                    },
                )
            },
        )
        .await;
        one(
            &format!("{who} personal qualification"),
            &mut found,
            bank.customers_get_personal_qualifications(
                ctx,
                CustomersGetPersonalQualificationsInput {},
            )
            .await,
        );
        one(
            &format!("{who} personal relations"),
            &mut found,
            bank.customers_get_personal_financial_relations(
                ctx,
                CustomersGetPersonalFinancialRelationsInput {},
            )
            .await,
        );
    }

    all_pages(&format!("{who} accounts"), &mut found, |p| {
        bank.accounts_get_accounts(
            ctx,
            AccountsGetAccountsInput {
                account_type: None,
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;
    all_pages(&format!("{who} cards"), &mut found, |p| {
        bank.credit_cards_get_accounts(
            ctx,
            CreditCardsGetAccountsInput {
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;
    all_pages(&format!("{who} loans"), &mut found, |p| {
        bank.loans_get_contracts(
            ctx,
            LoansGetContractsInput {
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;
    all_pages(&format!("{who} financings"), &mut found, |p| {
        bank.financings_get_contracts(
            ctx,
            FinancingsGetContractsInput {
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;
    all_pages(&format!("{who} invoice financings"), &mut found, |p| {
        bank.invoice_financings_get_contracts(
            ctx,
            InvoiceFinancingsGetContractsInput {
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;
    all_pages(&format!("{who} overdrafts"), &mut found, |p| {
        bank.unarranged_accounts_overdraft_get_contracts(
            ctx,
            UnarrangedAccountsOverdraftGetContractsInput {
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;

    for resource in &resources {
        let r = json(resource);
        let id = r["resourceId"].as_str().unwrap().to_string();
        if r["status"] != "AVAILABLE" {
            continue;
        }
        let what = format!("{who} {} {id}", r["type"]);
        calls += 1;
        match r["type"].as_str().unwrap() {
            "ACCOUNT" => walk_account(bank, ctx, &what, &id, &mut found).await,
            "CREDIT_CARD_ACCOUNT" => walk_card(bank, ctx, &what, &id, &mut found).await,
            "LOAN" => {
                let c = || ofb_loans_v2::params::ContractId(id.clone());
                one(
                    &what,
                    &mut found,
                    bank.loans_get_contracts_contract_id(
                        ctx,
                        LoansGetContractsContractIdInput { contract_id: c() },
                    )
                    .await,
                );
                one(
                    &what,
                    &mut found,
                    bank.loans_get_contracts_contract_id_scheduled_instalments(
                        ctx,
                        LoansGetContractsContractIdScheduledInstalmentsInput { contract_id: c() },
                    )
                    .await,
                );
                one(
                    &what,
                    &mut found,
                    bank.loans_get_contracts_contract_id_payments(
                        ctx,
                        LoansGetContractsContractIdPaymentsInput { contract_id: c() },
                    )
                    .await,
                );
                let w = all_pages(&what, &mut found, |p| {
                    bank.loans_get_contracts_contract_id_warranties(
                        ctx,
                        LoansGetContractsContractIdWarrantiesInput {
                            contract_id: c(),
                            pagination_key: None,
                            page: p,
                        },
                    )
                })
                .await;
                assert!(!w.is_empty(), "{what} warranties");
            }
            "FINANCING" => {
                let c = || ofb_financings_v2::params::ContractId(id.clone());
                one(
                    &what,
                    &mut found,
                    bank.financings_get_contracts_contract_id(
                        ctx,
                        FinancingsGetContractsContractIdInput { contract_id: c() },
                    )
                    .await,
                );
                one(
                    &what,
                    &mut found,
                    bank.financings_get_contracts_contract_id_scheduled_instalments(
                        ctx,
                        FinancingsGetContractsContractIdScheduledInstalmentsInput {
                            contract_id: c(),
                        },
                    )
                    .await,
                );
                one(
                    &what,
                    &mut found,
                    bank.financings_get_contracts_contract_id_payments(
                        ctx,
                        FinancingsGetContractsContractIdPaymentsInput { contract_id: c() },
                    )
                    .await,
                );
                let w = all_pages(&what, &mut found, |p| {
                    bank.financings_get_contracts_contract_id_warranties(
                        ctx,
                        FinancingsGetContractsContractIdWarrantiesInput {
                            contract_id: c(),
                            pagination_key: None,
                            page: p,
                        },
                    )
                })
                .await;
                assert!(!w.is_empty(), "{what} warranties");
            }
            "INVOICE_FINANCING" => {
                let c = || ofb_invoice_financings_v2::params::ContractId(id.clone());
                one(
                    &what,
                    &mut found,
                    bank.invoice_financings_get_contracts_contract_id(
                        ctx,
                        InvoiceFinancingsGetContractsContractIdInput { contract_id: c() },
                    )
                    .await,
                );
                one(
                    &what,
                    &mut found,
                    bank.invoice_financings_get_contracts_contract_id_scheduled_instalments(
                        ctx,
                        InvoiceFinancingsGetContractsContractIdScheduledInstalmentsInput {
                            contract_id: c(),
                        },
                    )
                    .await,
                );
                one(
                    &what,
                    &mut found,
                    bank.invoice_financings_get_contracts_contract_id_payments(
                        ctx,
                        InvoiceFinancingsGetContractsContractIdPaymentsInput { contract_id: c() },
                    )
                    .await,
                );
                let w = all_pages(&what, &mut found, |p| {
                    bank.invoice_financings_get_contracts_contract_id_warranties(
                        ctx,
                        InvoiceFinancingsGetContractsContractIdWarrantiesInput {
                            contract_id: c(),
                            pagination_key: None,
                            page: p,
                        },
                    )
                })
                .await;
                assert!(!w.is_empty(), "{what} warranties");
            }
            "UNARRANGED_ACCOUNT_OVERDRAFT" => {
                let c = || ofb_unarranged_accounts_overdraft_v2::params::ContractId(id.clone());
                one(
                    &what,
                    &mut found,
                    bank.unarranged_accounts_overdraft_get_contracts_contract_id(
                        ctx,
                        UnarrangedAccountsOverdraftGetContractsContractIdInput { contract_id: c() },
                    )
                    .await,
                );
                one(&what, &mut found, bank.unarranged_accounts_overdraft_get_contracts_contract_id_scheduled_instalments(ctx, UnarrangedAccountsOverdraftGetContractsContractIdScheduledInstalmentsInput { contract_id: c() }).await);
                one(
                    &what,
                    &mut found,
                    bank.unarranged_accounts_overdraft_get_contracts_contract_id_payments(
                        ctx,
                        UnarrangedAccountsOverdraftGetContractsContractIdPaymentsInput {
                            contract_id: c(),
                        },
                    )
                    .await,
                );
                let w = all_pages(&what, &mut found, |p| {
                    bank.unarranged_accounts_overdraft_get_contracts_contract_id_warranties(
                        ctx,
                        UnarrangedAccountsOverdraftGetContractsContractIdWarrantiesInput {
                            contract_id: c(),
                            pagination_key: None,
                            page: p,
                        },
                    )
                })
                .await;
                assert!(!w.is_empty(), "{what} warranties");
            }
            other => panic!("unexpected resource type {other}"),
        }
    }
    (found, calls)
}

async fn walk_account(
    bank: &DemoBank,
    ctx: &ConnectorContext,
    what: &str,
    id: &str,
    found: &mut Vec<String>,
) {
    let a = || acc::AccountId(id.to_string());
    one(
        what,
        found,
        bank.accounts_get_accounts_account_id(
            ctx,
            AccountsGetAccountsAccountIdInput { account_id: a() },
        )
        .await,
    );
    one(
        what,
        found,
        bank.accounts_get_accounts_account_id_balances(
            ctx,
            AccountsGetAccountsAccountIdBalancesInput { account_id: a() },
        )
        .await,
    );
    one(
        what,
        found,
        bank.accounts_get_accounts_account_id_overdraft_limits(
            ctx,
            AccountsGetAccountsAccountIdOverdraftLimitsInput { account_id: a() },
        )
        .await,
    );
    let (from, to) = year();
    let all = all_pages(what, found, |p| {
        bank.accounts_get_accounts_account_id_transactions(
            ctx,
            AccountsGetAccountsAccountIdTransactionsInput {
                account_id: a(),
                from_booking_date: from.clone().map(acc::FromBookingDate),
                to_booking_date: to.clone().map(acc::ToBookingDate),
                credit_debit_indicator: None,
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;
    assert!(all.len() > 25, "{what}: {} transactions", all.len());
    let current = all_pages(what, found, |p| {
        bank.accounts_get_accounts_account_id_transactions_current(
            ctx,
            AccountsGetAccountsAccountIdTransactionsCurrentInput {
                account_id: a(),
                from_booking_date: Some(acc::FromBookingDate(date(-6))),
                to_booking_date: Some(acc::ToBookingDate(date(0))),
                credit_debit_indicator: None,
                pagination_key: None,
                page: p,
            },
        )
    })
    .await;
    assert!(!current.is_empty(), "{what}: recent transactions");
}

async fn walk_card(
    bank: &DemoBank,
    ctx: &ConnectorContext,
    what: &str,
    id: &str,
    found: &mut Vec<String>,
) {
    let c = || cc::CreditCardAccountId(id.to_string());
    one(
        what,
        found,
        bank.credit_cards_get_accounts_credit_card_account_id(
            ctx,
            CreditCardsGetAccountsCreditCardAccountIdInput {
                credit_card_account_id: c(),
            },
        )
        .await,
    );
    let limits = bank
        .credit_cards_get_accounts_credit_card_account_id_limits(
            ctx,
            CreditCardsGetAccountsCreditCardAccountIdLimitsInput {
                credit_card_account_id: c(),
            },
        )
        .await
        .unwrap();
    assert!(!limits.is_empty());
    for (i, limit) in limits.iter().enumerate() {
        found.extend(violations(&format!("{what} limit {i}"), limit));
    }
    let bills = all_pages(what, found, |p| {
        bank.credit_cards_get_accounts_credit_card_account_id_bills(
            ctx,
            CreditCardsGetAccountsCreditCardAccountIdBillsInput {
                credit_card_account_id: c(),
                pagination_key: None,
                from_due_date: None,
                to_due_date: None,
                page: p,
            },
        )
    })
    .await;
    assert!(!bills.is_empty(), "{what}: bills");
    for bill in &bills {
        let bill_id = json(bill)["billId"].as_str().unwrap().to_string();
        let items = all_pages(what, found, |p| {
            bank.credit_cards_get_accounts_credit_card_account_id_bills_bill_id_transactions(
                ctx,
                CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsInput {
                    credit_card_account_id: c(),
                    bill_id: cc::BillId(bill_id.clone()),
                    pagination_key: None,
                    from_transaction_date: None,
                    to_transaction_date: None,
                    transaction_type: None,
                    payee_mcc: None,
                    page: p,
                },
            )
        })
        .await;
        assert!(!items.is_empty(), "{what}: bill transactions");
    }
    let (from, to) = year();
    all_pages(what, found, |p| {
        bank.credit_cards_get_accounts_credit_card_account_id_transactions(
            ctx,
            CreditCardsGetAccountsCreditCardAccountIdTransactionsInput {
                credit_card_account_id: c(),
                pagination_key: None,
                from_transaction_date: from.clone().map(cc::FromTransactionDate),
                to_transaction_date: to.clone().map(cc::ToTransactionDate),
                transaction_type: None,
                payee_mcc: None,
                page: p,
            },
        )
    })
    .await;
    let current = all_pages(what, found, |p| {
        bank.credit_cards_get_accounts_credit_card_account_id_transactions_current(
            ctx,
            CreditCardsGetAccountsCreditCardAccountIdTransactionsCurrentInput {
                credit_card_account_id: c(),
                pagination_key: None,
                from_transaction_date: Some(cc::FromTransactionDate(date(-6))),
                to_transaction_date: Some(cc::ToTransactionDate(date(0))),
                transaction_type: None,
                payee_mcc: None,
                page: p,
            },
        )
    })
    .await;
    assert!(!current.is_empty(), "{what}: recent card transactions");
}

#[tokio::test]
async fn every_answer_validates_against_the_generated_models() {
    for backend in backends() {
        let bench = bench(backend).await;
        let mut violations = Vec::new();
        let mut resources = 0;
        for (who, ctx) in contexts() {
            let (found, walked) = walk(&bench.bank, &who, &ctx).await;
            violations.extend(found);
            resources += walked;
        }
        assert!(resources >= 15, "{backend:?}: walked {resources} resources");
        assert!(
            violations.is_empty(),
            "{backend:?}: {} violations:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }
}

#[test]
fn the_check_catches_a_broken_value() {
    let broken: ofb_accounts_v2::models::AccountTransactionsData =
        serde_json::from_value(serde_json::json!({
            "transactionId": "tx-1",
            "completedAuthorisedPaymentType": "TRANSACAO_EFETIVADA",
            "creditDebitType": "CREDITO",
            "transactionName": "x",
            "type": "PIX",
            "transactionAmount": { "amount": "12.3", "currency": "BRL" },
            "transactionDateTime": "2024-01-01T10:00:00Z",
        }))
        .unwrap();
    let found = violations("broken", &broken);
    assert_eq!(found.len(), 2, "{found:?}");
}
