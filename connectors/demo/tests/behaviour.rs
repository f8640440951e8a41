//! What the demo bank promises besides schema validity: login, the consent screen's choices,
//! who may see what, the unavailable resource, filters and pagination, current dates, and
//! sealed storage.

mod common;

use aberta_auth::identity::{IdentityConnector, StaticUsers};
use aberta_demo_bank::DemoBank;
use aberta_runtime::connector::{ConnectorContext, ConnectorError};
use common::*;
use ofb_accounts_v2::connector::*;
use ofb_accounts_v2::params as acc;
use ofb_credit_cards_v2::connector::*;
use ofb_credit_cards_v2::params as cc;
use ofb_customers_v2::connector::*;
use ofb_financings_v2::connector::*;
use ofb_loans_v2::connector::*;
use ofb_resources_v3::connector::*;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

async fn resources(bank: &DemoBank, ctx: &ConnectorContext) -> Vec<Value> {
    let page = bank
        .resources_get_resources(ctx, ResourcesGetResourcesInput { page: page(1, 100) })
        .await
        .unwrap();
    page.items.iter().map(json).collect()
}

async fn resource_of(bank: &DemoBank, ctx: &ConnectorContext, kind: &str) -> String {
    resources(bank, ctx)
        .await
        .into_iter()
        .find(|r| r["type"] == kind && r["status"] == "AVAILABLE")
        .and_then(|r| r["resourceId"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn transactions_input(
    id: &str,
    from: Option<String>,
    to: Option<String>,
    direction: Option<&str>,
    page: aberta_runtime::connector::PageRequest,
) -> AccountsGetAccountsAccountIdTransactionsInput {
    AccountsGetAccountsAccountIdTransactionsInput {
        account_id: acc::AccountId(id.to_string()),
        from_booking_date: from.map(acc::FromBookingDate),
        to_booking_date: to.map(acc::ToBookingDate),
        credit_debit_indicator: direction.map(|d| acc::CreditDebitIndicator(d.to_string())),
        pagination_key: None,
        page,
    }
}

#[tokio::test]
async fn people_log_in_with_cpf_and_password() {
    for backend in backends() {
        let b = bench(backend).await;
        let maria = b
            .bank
            .authenticate("aberta-demo", "761.092.776-73", "aberta-demo-1")
            .await
            .unwrap()
            .expect("Maria logs in");
        assert_eq!(maria.cpf, MARIA);
        assert_eq!(maria.name, "Maria Souza");
        assert_eq!(maria.cnpjs, vec![SOUZA_DESIGN.to_string()]);
        assert_eq!(maria.acr, "urn:brasil:openbanking:loa2");
        assert!(!maria.subject.contains(MARIA));
        // The same subject the sandbox's static users give, so switching keeps consents.
        let static_users = StaticUsers::new(vec![(
            MARIA.into(),
            "aberta-demo-1".into(),
            "Maria Souza".into(),
        )]);
        let same = static_users
            .authenticate("aberta-demo", MARIA, "aberta-demo-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(maria.subject, same.subject);

        let joao = b
            .bank
            .authenticate("x", JOAO, "aberta-demo-2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(joao.name, "João Pereira");
        assert!(joao.cnpjs.is_empty());
        let carlos = b
            .bank
            .authenticate("x", CARLOS, "aberta-demo-4")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(carlos.cnpjs, vec![LIMA_ALIMENTOS.to_string()]);
        assert!(
            b.bank
                .authenticate("x", ANA, "aberta-demo-3")
                .await
                .unwrap()
                .is_some()
        );

        for (user, password) in [
            (MARIA, "aberta-demo-2"),
            (MARIA, ""),
            (JOAO, "aberta-demo-1"),
            ("00000000000", "aberta-demo-1"),
            (SOUZA_DESIGN, "aberta-demo-1"),
            ("", ""),
        ] {
            assert!(
                b.bank
                    .authenticate("x", user, password)
                    .await
                    .unwrap()
                    .is_none(),
                "{backend:?}: a wrong login was accepted"
            );
        }
    }
}

#[tokio::test]
async fn the_consent_screen_offers_own_and_represented_products() {
    for backend in backends() {
        let b = bench(backend).await;
        let maria = b
            .bank
            .authenticate("x", MARIA, "aberta-demo-1")
            .await
            .unwrap()
            .unwrap();
        let choices = b.bank.accounts("aberta-demo", &maria).await.unwrap();
        let own = resources(&b.bank, &person(MARIA)).await;
        let company = resources(&b.bank, &business(MARIA, SOUZA_DESIGN)).await;
        assert_eq!(choices.len(), own.len() + company.len());
        for r in own.iter().chain(&company) {
            assert!(choices.iter().any(|c| c.id == r["resourceId"]));
        }
        assert!(choices.iter().all(|c| !c.label.is_empty()));
        assert!(choices.iter().any(|c| c.label.starts_with("Souza Design")));

        let joao = b
            .bank
            .authenticate("x", JOAO, "aberta-demo-2")
            .await
            .unwrap()
            .unwrap();
        let joao_choices = b.bank.accounts("aberta-demo", &joao).await.unwrap();
        assert!(!joao_choices.is_empty());
        assert!(
            joao_choices
                .iter()
                .all(|c| !choices.iter().any(|m| m.id == c.id))
        );
    }
}

#[tokio::test]
async fn the_unavailable_resource_is_listed_but_refused() {
    for backend in backends() {
        let b = bench(backend).await;
        let ctx = person(MARIA);
        let all = resources(&b.bank, &ctx).await;
        let unavailable: Vec<&Value> = all
            .iter()
            .filter(|r| r["status"] == "UNAVAILABLE")
            .collect();
        assert_eq!(unavailable.len(), 1, "{all:?}");
        let id = unavailable[0]["resourceId"].as_str().unwrap();
        for kind in [
            "ACCOUNT",
            "CREDIT_CARD_ACCOUNT",
            "LOAN",
            "FINANCING",
            "INVOICE_FINANCING",
            "UNARRANGED_ACCOUNT_OVERDRAFT",
        ] {
            assert!(
                all.iter()
                    .any(|r| r["type"] == kind && r["status"] == "AVAILABLE"),
                "Maria has a {kind}"
            );
        }

        let read = b
            .bank
            .accounts_get_accounts_account_id(
                &ctx,
                AccountsGetAccountsAccountIdInput {
                    account_id: acc::AccountId(id.into()),
                },
            )
            .await;
        // The message is the resource's status, which the platform maps to its 403 code.
        assert!(
            matches!(&read, Err(ConnectorError::Unavailable(status)) if status == "UNAVAILABLE"),
            "{read:?}"
        );
        let txs = b
            .bank
            .accounts_get_accounts_account_id_transactions(
                &ctx,
                transactions_input(id, Some(date(-365)), Some(date(0)), None, page(1, 25)),
            )
            .await;
        assert!(matches!(txs, Err(ConnectorError::Unavailable(_))));
        let listed = b
            .bank
            .accounts_get_accounts(
                &ctx,
                AccountsGetAccountsInput {
                    account_type: None,
                    pagination_key: None,
                    page: page(1, 25),
                },
            )
            .await
            .unwrap();
        assert!(listed.items.iter().all(|a| json(a)["accountId"] != id));
        assert_eq!(listed.total_records, listed.items.len() as u64);
    }
}

#[tokio::test]
async fn another_customers_resource_is_not_found() {
    for backend in backends() {
        let b = bench(backend).await;
        let maria = person(MARIA);
        let joao = person(JOAO);
        let account = resource_of(&b.bank, &maria, "ACCOUNT").await;
        let loan = resource_of(&b.bank, &maria, "LOAN").await;
        let company_account = resource_of(&b.bank, &business(MARIA, SOUZA_DESIGN), "ACCOUNT").await;

        let read = |ctx: ConnectorContext, id: String| {
            let bank = b.bank.clone();
            async move {
                bank.accounts_get_accounts_account_id_balances(
                    &ctx,
                    AccountsGetAccountsAccountIdBalancesInput {
                        account_id: acc::AccountId(id),
                    },
                )
                .await
            }
        };
        assert!(read(maria.clone(), account.clone()).await.is_ok());
        assert!(matches!(
            read(joao.clone(), account.clone()).await,
            Err(ConnectorError::NotFound)
        ));
        // A business's account is the business's, not its representative's personal one.
        assert!(matches!(
            read(maria.clone(), company_account.clone()).await,
            Err(ConnectorError::NotFound)
        ));
        assert!(
            read(business(MARIA, SOUZA_DESIGN), company_account.clone())
                .await
                .is_ok()
        );
        assert!(matches!(
            read(business(CARLOS, LIMA_ALIMENTOS), company_account).await,
            Err(ConnectorError::NotFound)
        ));
        assert!(matches!(
            read(maria.clone(), "no-such-account".into()).await,
            Err(ConnectorError::NotFound)
        ));
        // Right owner, wrong API.
        let as_financing = b
            .bank
            .financings_get_contracts_contract_id(
                &maria,
                FinancingsGetContractsContractIdInput {
                    contract_id: ofb_financings_v2::params::ContractId(loan.clone()),
                },
            )
            .await;
        assert!(matches!(as_financing, Err(ConnectorError::NotFound)));
        let as_loan = b
            .bank
            .loans_get_contracts_contract_id(
                &joao,
                LoansGetContractsContractIdInput {
                    contract_id: ofb_loans_v2::params::ContractId(loan),
                },
            )
            .await;
        assert!(matches!(as_loan, Err(ConnectorError::NotFound)));
        // A stranger has nothing, and no profile.
        let stranger = person("11144477735");
        assert!(resources(&b.bank, &stranger).await.is_empty());
        let profile = b
            .bank
            .customers_get_personal_qualifications(
                &stranger,
                CustomersGetPersonalQualificationsInput {},
            )
            .await;
        assert!(matches!(profile, Err(ConnectorError::NotFound)));
    }
}

#[tokio::test]
async fn filters_and_pagination_report_every_match() {
    for backend in backends() {
        let b = bench(backend).await;
        let ctx = person(MARIA);
        let checking = resource_of(&b.bank, &ctx, "ACCOUNT").await;
        let year = || (Some(date(-365)), Some(date(30)));
        let fetch = |from: Option<String>, to: Option<String>, dir: Option<&'static str>, p| {
            let bank = b.bank.clone();
            let ctx = ctx.clone();
            let id = checking.clone();
            async move {
                bank.accounts_get_accounts_account_id_transactions(
                    &ctx,
                    transactions_input(&id, from, to, dir, p),
                )
                .await
                .unwrap()
            }
        };
        let (from, to) = year();
        let first = fetch(from.clone(), to.clone(), None, page(1, 10)).await;
        let total = first.total_records;
        assert!(total > 25, "{total}");
        assert_eq!(first.items.len(), 10);
        let last_page = total.div_ceil(10) as u32;
        let last = fetch(from.clone(), to.clone(), None, page(last_page, 10)).await;
        assert_eq!(last.total_records, total);
        assert_eq!(last.items.len() as u64, total - 10 * (last_page as u64 - 1));
        let beyond = fetch(from.clone(), to.clone(), None, page(last_page + 1, 10)).await;
        assert!(beyond.items.is_empty());
        assert_eq!(beyond.total_records, total);

        let credits = fetch(from.clone(), to.clone(), Some("CREDITO"), page(1, 1000)).await;
        let debits = fetch(from.clone(), to.clone(), Some("DEBITO"), page(1, 1000)).await;
        assert!(credits.total_records > 0 && debits.total_records > 0);
        assert_eq!(credits.total_records + debits.total_records, total);
        assert!(
            credits
                .items
                .iter()
                .all(|t| json(t)["creditDebitType"] == "CREDITO")
        );

        // Dates are today's: a week back holds several, each within the window.
        let week = fetch(Some(date(-6)), Some(date(0)), None, page(1, 1000)).await;
        assert!(week.total_records >= 5, "{}", week.total_records);
        for t in &week.items {
            let day = json(t)["transactionDateTime"].as_str().unwrap()[..10].to_string();
            assert!(day >= date(-6) && day <= date(0), "{day}");
        }
        // No dates means today only.
        let today = fetch(None, None, None, page(1, 1000)).await;
        assert!(today.total_records >= 1);
        assert!(today.items.iter().all(|t| {
            json(t)["transactionDateTime"]
                .as_str()
                .unwrap()
                .starts_with(&date(0))
        }));
        // The current endpoint never reaches past D-6.
        let current = b
            .bank
            .accounts_get_accounts_account_id_transactions_current(
                &ctx,
                AccountsGetAccountsAccountIdTransactionsCurrentInput {
                    account_id: acc::AccountId(checking.clone()),
                    from_booking_date: Some(acc::FromBookingDate(date(-90))),
                    to_booking_date: Some(acc::ToBookingDate(date(0))),
                    credit_debit_indicator: None,
                    pagination_key: None,
                    page: page(1, 1000),
                },
            )
            .await
            .unwrap();
        assert_eq!(current.total_records, week.total_records);

        // Account type filter.
        let savings = b
            .bank
            .accounts_get_accounts(
                &ctx,
                AccountsGetAccountsInput {
                    account_type: Some(acc::AccountType("CONTA_POUPANCA".into())),
                    pagination_key: None,
                    page: page(1, 25),
                },
            )
            .await
            .unwrap();
        assert_eq!(savings.total_records, 1);
        assert_eq!(json(&savings.items[0])["type"], "CONTA_POUPANCA");
        let accounts = b
            .bank
            .accounts_get_accounts(
                &ctx,
                AccountsGetAccountsInput {
                    account_type: None,
                    pagination_key: None,
                    page: page(2, 1),
                },
            )
            .await
            .unwrap();
        assert_eq!(accounts.total_records, 2);
        assert_eq!(accounts.items.len(), 1);

        // Resources paginate too.
        let all = resources(&b.bank, &ctx).await;
        let second = b
            .bank
            .resources_get_resources(&ctx, ResourcesGetResourcesInput { page: page(2, 3) })
            .await
            .unwrap();
        assert_eq!(second.total_records, all.len() as u64);
        assert_eq!(json(&second.items[0]), all[3]);

        // Card filters: by transaction type and by merchant category.
        let card = resource_of(&b.bank, &ctx, "CREDIT_CARD_ACCOUNT").await;
        let card_fetch = |kind: Option<&str>, mcc: Option<f64>| {
            let bank = b.bank.clone();
            let ctx = ctx.clone();
            let input = CreditCardsGetAccountsCreditCardAccountIdTransactionsInput {
                credit_card_account_id: cc::CreditCardAccountId(card.clone()),
                pagination_key: None,
                from_transaction_date: Some(cc::FromTransactionDate(date(-365))),
                to_transaction_date: Some(cc::ToTransactionDate(date(0))),
                transaction_type: kind.map(|k| cc::TransactionType(k.into())),
                payee_mcc: mcc.map(cc::PayeeMcc),
                page: page(1, 1000),
            };
            async move {
                bank.credit_cards_get_accounts_credit_card_account_id_transactions(&ctx, input)
                    .await
                    .unwrap()
            }
        };
        let every = card_fetch(None, None).await;
        let fees = card_fetch(Some("TARIFA"), None).await;
        assert_eq!(fees.total_records, 3);
        assert!(fees.items.iter().all(|t| json(t)["feeType"] == "ANUIDADE"));
        let mcc = json(&every.items[0])["payeeMCC"].as_f64().unwrap();
        let by_mcc = card_fetch(None, Some(mcc)).await;
        assert!(by_mcc.total_records >= 1 && by_mcc.total_records < every.total_records);
        assert!(
            by_mcc
                .items
                .iter()
                .all(|t| json(t)["payeeMCC"].as_f64() == Some(mcc))
        );

        // Bills by due date, and a bill's own transactions.
        let bills = b
            .bank
            .credit_cards_get_accounts_credit_card_account_id_bills(
                &ctx,
                CreditCardsGetAccountsCreditCardAccountIdBillsInput {
                    credit_card_account_id: cc::CreditCardAccountId(card.clone()),
                    pagination_key: None,
                    from_due_date: Some(cc::FromDueDate(date(-30))),
                    to_due_date: Some(cc::ToDueDate(date(0))),
                    page: page(1, 25),
                },
            )
            .await
            .unwrap();
        assert_eq!(bills.total_records, 1);
        let bill_id = json(&bills.items[0])["billId"]
            .as_str()
            .unwrap()
            .to_string();
        let in_bill = b
            .bank
            .credit_cards_get_accounts_credit_card_account_id_bills_bill_id_transactions(
                &ctx,
                CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsInput {
                    credit_card_account_id: cc::CreditCardAccountId(card.clone()),
                    bill_id: cc::BillId(bill_id.clone()),
                    pagination_key: None,
                    from_transaction_date: None,
                    to_transaction_date: None,
                    transaction_type: None,
                    payee_mcc: None,
                    page: page(1, 1000),
                },
            )
            .await
            .unwrap();
        assert!(in_bill.total_records > 0);
        assert!(
            in_bill
                .items
                .iter()
                .all(|t| json(t)["billId"] == bill_id.as_str())
        );
    }
}

/// Every text column of every demo table, as stored.
async fn raw_rows(store: &aberta_store::Store) -> String {
    let db = store.connection();
    let mut out = String::new();
    for table in ["demo_customer", "demo_product", "demo_entry"] {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT * FROM {table}"),
            ))
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{table} is empty");
        for row in rows {
            for column in row.column_names() {
                if let Ok(text) = row.try_get::<String>("", &column) {
                    out.push_str(&text);
                    out.push('\n');
                } else if let Ok(Some(text)) = row.try_get::<Option<String>>("", &column) {
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn personal_data_is_sealed_at_rest() {
    for backend in backends() {
        let b = bench(backend).await;
        let mut secrets: Vec<String> = [MARIA, JOAO, ANA, CARLOS, SOUZA_DESIGN, LIMA_ALIMENTOS]
            .iter()
            .map(|s| s.to_string())
            .collect();
        secrets.extend(
            [
                "Maria Souza",
                "João Pereira",
                "Ana Oliveira",
                "Carlos Lima",
                "Souza Design",
                "Lima Comércio",
                "maria.souza@example.com",
                "Rua Harmonia",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        for (_, ctx) in contexts() {
            let accounts = b
                .bank
                .accounts_get_accounts(
                    &ctx,
                    AccountsGetAccountsInput {
                        account_type: None,
                        pagination_key: None,
                        page: page(1, 100),
                    },
                )
                .await
                .unwrap();
            for account in &accounts.items {
                secrets.push(json(account)["number"].as_str().unwrap().to_string());
            }
        }
        assert!(secrets.len() > 20);
        let raw = raw_rows(&b.store).await;
        for secret in &secrets {
            assert!(
                !raw.contains(secret.as_str()),
                "{backend:?}: a seeded value is stored in clear"
            );
        }
        // And the data does open through the bank.
        let relations = b
            .bank
            .customers_get_personal_identifications(
                &person(MARIA),
                CustomersGetPersonalIdentificationsInput {
                    pagination_key: None,
                    page: page(1, 25),
                },
            )
            .await
            .unwrap();
        assert_eq!(json(&relations.items[0])["civilName"], "Maria Souza");
        assert!(
            !serde_json::to_string(&json(&relations.items[0]))
                .unwrap()
                .contains("\"@")
        );
    }
}

#[tokio::test]
async fn instances_starting_together_seed_once() {
    for backend in backends() {
        let (store, _dir) = common::store(backend).await;
        let ring = std::sync::Arc::new(aberta_store::KeyRing::generate().unwrap());
        let (a, c) = tokio::join!(
            DemoBank::open(&store, ring.clone()),
            DemoBank::open(&store, ring.clone())
        );
        let (a, _c) = (a.unwrap(), c.unwrap());
        let again = DemoBank::open(&store, ring.clone()).await.unwrap();
        let db = store.connection();
        let marker = ring.blind_index(MARIA);
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT id FROM demo_customer WHERE document_index = '{marker}'"),
            ))
            .await
            .unwrap();
        assert_eq!(
            rows.len(),
            1,
            "{backend:?}: Maria seeded {} times",
            rows.len()
        );
        let ctx = person(MARIA);
        assert_eq!(resources(&a, &ctx).await, resources(&again, &ctx).await);
    }
}
