//! Pix payments at the demo bank, on SQLite and PostgreSQL: the lifecycle and its debit, every
//! rejection and hold the rules promise, cancellation, who may see a payment, the accounts a
//! customer may pay from, balances under concurrent payments, sealing, and that every answer
//! validates against the generated models.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aberta_demo_bank::{DEMO_ISPB, DemoBank, PixRules};
use aberta_payments::accounts::{AccountsApiDiscovery, ApprovalRules, PaymentAccounts};
use aberta_runtime::Validate;
use aberta_runtime::connector::{ConnectorContext, ConnectorError};
use chrono::{DateTime, Utc};
use common::*;
use ofb_accounts_v2::connector::*;
use ofb_accounts_v2::params as acc;
use ofb_payments_v4::connector::*;
use ofb_payments_v4::models::{
    CreatePixPayment, CreatePixPaymentData, DebtorAccount, PatchPixPayment,
    ResponseCreatePixPaymentData, ResponsePixPaymentData,
};
use ofb_payments_v4::params as pay;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

const CREDITOR_NUMBER: &str = "8765432109";
const PROXY: &str = "recebedor.teste@example.org";
const REMITTANCE: &str = "Aluguel de marco, apartamento 42";

/// Rules whose steps never happen on their own during a test: only `settle_due` with a time
/// hours ahead moves a payment.
/// The portal's account discovery, through the bank's accounts connector.
fn discovery(bank: &std::sync::Arc<DemoBank>) -> AccountsApiDiscovery {
    AccountsApiDiscovery::new(bank.clone(), DEMO_ISPB)
}

fn hourly() -> PixRules {
    PixRules {
        step: Duration::from_secs(3600),
        ..PixRules::default()
    }
}

/// Rules under which a payment settles at its first read.
fn instant() -> PixRules {
    PixRules {
        step: Duration::ZERO,
        ..PixRules::default()
    }
}

/// An `endToEndId` stamped `stamp` (`yyyyMMddHHmm`), unique.
fn e2e_at(stamp: &str) -> String {
    let tail: String = uuid::Uuid::new_v4().simple().to_string()[..11].to_string();
    format!("E{DEMO_ISPB}{stamp}{tail}")
}

/// An immediate payment's `endToEndId`: stamped now.
fn e2e_now() -> String {
    e2e_at(&Utc::now().format("%Y%m%d%H%M").to_string())
}

/// A scheduled payment's `endToEndId`: `days` from today (Brasília) at 15:00 UTC.
fn e2e_scheduled(days: i64) -> String {
    let date = aberta_demo_bank::dates::today() + chrono::Duration::days(days);
    e2e_at(&format!("{}1500", date.format("%Y%m%d")))
}

fn item(amount: &str, end_to_end_id: String) -> CreatePixPaymentData {
    serde_json::from_value(json!({
        "endToEndId": end_to_end_id,
        "localInstrument": "DICT",
        "payment": { "amount": amount, "currency": "BRL" },
        "creditorAccount": {
            "ispb": "12345678",
            "issuer": "1774",
            "number": CREDITOR_NUMBER,
            "accountType": "CACC"
        },
        "remittanceInformation": REMITTANCE,
        "proxy": PROXY,
        "cnpjInitiator": "50685362000135",
        "ibgeTownCode": "5300108",
        "authorisationFlow": "HYBRID_FLOW"
    }))
    .unwrap()
}

fn post(items: Vec<CreatePixPaymentData>) -> PaymentsPostPixPaymentsInput {
    PaymentsPostPixPaymentsInput {
        body: CreatePixPayment { data: items },
    }
}

fn patch(cpf: &str) -> PatchPixPayment {
    serde_json::from_value(json!({
        "data": {
            "status": "CANC",
            "cancellation": { "cancelledBy": { "document": { "identification": cpf, "rel": "CPF" } } }
        }
    }))
    .unwrap()
}

/// Fails the test on any violation of the generated model.
fn valid<T: Validate>(what: &str, value: &T) {
    let found = violations(what, value);
    assert!(found.is_empty(), "{found:#?}");
}

/// Creates one payment and checks the answer.
async fn pay_one(
    bank: &DemoBank,
    ctx: &ConnectorContext,
    amount: &str,
    e2e: String,
) -> ResponseCreatePixPaymentData {
    let mut created = bank
        .payments_post_pix_payments(ctx, post(vec![item(amount, e2e)]))
        .await
        .unwrap();
    assert_eq!(created.len(), 1);
    let created = created.remove(0);
    valid("POST /pix/payments", &created);
    created
}

async fn get(bank: &DemoBank, ctx: &ConnectorContext, id: &str) -> ResponsePixPaymentData {
    let found = bank
        .payments_get_pix_payments_payment_id(ctx, get_input(id))
        .await
        .unwrap();
    valid("GET /pix/payments/{id}", &found);
    found
}

fn get_input(id: &str) -> PaymentsGetPixPaymentsPaymentIdInput {
    PaymentsGetPixPaymentsPaymentIdInput {
        payment_id: pay::PaymentId(id.to_string()),
    }
}

fn patch_input(id: &str, cpf: &str) -> PaymentsPatchPixPaymentsPaymentIdInput {
    PaymentsPatchPixPaymentsPaymentIdInput {
        payment_id: pay::PaymentId(id.to_string()),
        body: patch(cpf),
    }
}

fn status_of<T: serde::Serialize>(value: &T) -> String {
    json(value)["status"].as_str().unwrap().to_string()
}

fn refusal_code(err: ConnectorError) -> String {
    match err {
        ConnectorError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The accounts API's id of the account a payment debits.
async fn account_id_of(bank: &DemoBank, ctx: &ConnectorContext, debtor: &Value) -> String {
    let accounts = bank
        .accounts_get_accounts(
            ctx,
            AccountsGetAccountsInput {
                account_type: None,
                pagination_key: None,
                page: page(1, 100),
            },
        )
        .await
        .unwrap();
    accounts
        .items
        .iter()
        .map(json)
        .find(|a| {
            format!(
                "{}{}",
                a["number"].as_str().unwrap(),
                a["checkDigit"].as_str().unwrap()
            ) == debtor["number"].as_str().unwrap()
        })
        .map(|a| a["accountId"].as_str().unwrap().to_string())
        .expect("the debtor account is one of the customer's accounts")
}

/// The available balance the accounts API shows, in cents.
async fn balance(bank: &DemoBank, ctx: &ConnectorContext, account_id: &str) -> i64 {
    let balances = bank
        .accounts_get_accounts_account_id_balances(
            ctx,
            AccountsGetAccountsAccountIdBalancesInput {
                account_id: acc::AccountId(account_id.to_string()),
            },
        )
        .await
        .unwrap();
    let amount = balances.available_amount.amount;
    let (units, cents) = amount.split_once('.').unwrap();
    units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

#[tokio::test]
async fn a_payment_moves_from_rcvd_to_acsc_and_is_debited_once() {
    for backend in backends() {
        let b = bench_with_rules(backend, hourly()).await;
        let ctx = person(MARIA);
        let created = pay_one(&b.bank, &ctx, "150.25", e2e_now()).await;
        let t0: DateTime<Utc> = Utc::now();
        let debtor = json(&created)["debtorAccount"].clone();
        let account = account_id_of(&b.bank, &ctx, &debtor).await;
        let before = balance(&b.bank, &ctx, &account).await;

        let body = json(&created);
        assert_eq!(body["status"], "RCVD", "{backend:?}");
        assert_eq!(body["consentId"], ctx.consent_id.clone().unwrap());
        assert_eq!(body["debtorAccount"]["ispb"], DEMO_ISPB);
        assert_eq!(body["creditorAccount"]["number"], CREDITOR_NUMBER);
        assert_eq!(body["proxy"], PROXY);
        assert_eq!(body["remittanceInformation"], REMITTANCE);
        assert_eq!(body["payment"]["amount"], "150.25");
        assert_ne!(body["paymentId"], body["endToEndId"]);
        assert!(body.get("rejectionReason").is_none());
        let id = created.payment_id.clone();
        assert_eq!(status_of(&get(&b.bank, &ctx, &id).await), "RCVD");

        let mut seen = Vec::new();
        for step in 1..=3 {
            assert_eq!(b.bank.settle_due(t0 + hours(step)).await.unwrap(), 1);
            let now = get(&b.bank, &ctx, &id).await;
            seen.push(status_of(&now));
            if step < 3 {
                assert_eq!(balance(&b.bank, &ctx, &account).await, before);
            }
        }
        assert_eq!(seen, ["ACCP", "ACPD", "ACSC"], "{backend:?}");
        assert_eq!(balance(&b.bank, &ctx, &account).await, before - 15_025);

        // Nothing is left to do: later sweeps and reads debit nothing more.
        assert_eq!(b.bank.settle_due(t0 + hours(48)).await.unwrap(), 0);
        let settled = get(&b.bank, &ctx, &id).await;
        assert_eq!(status_of(&settled), "ACSC");
        assert_eq!(balance(&b.bank, &ctx, &account).await, before - 15_025);
        // statusUpdateDateTime is when ACSC happened, after creation.
        assert!(settled.status_update_date_time > settled.creation_date_time);
    }
}

#[tokio::test]
async fn a_caller_polling_sees_the_payment_move_on_its_own() {
    for backend in backends() {
        let rules = PixRules {
            step: Duration::from_millis(40),
            ..PixRules::default()
        };
        let b = bench_with_rules(backend, rules).await;
        let ctx = person(ANA);
        let created = pay_one(&b.bank, &ctx, "12.00", e2e_now()).await;
        let mut seen = vec![status_of(&created)];
        for _ in 0..1_000 {
            let now = status_of(&get(&b.bank, &ctx, &created.payment_id).await);
            if seen.last() != Some(&now) {
                seen.push(now.clone());
            }
            if now == "ACSC" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        assert_eq!(seen.last().map(String::as_str), Some("ACSC"), "{seen:?}");
        let order = ["RCVD", "ACCP", "ACPD", "ACSC"];
        let positions: Vec<usize> = seen
            .iter()
            .map(|s| order.iter().position(|o| o == s).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    }
}

#[tokio::test]
async fn insufficient_funds_end_rjct_and_debit_nothing() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        // João's checking account holds R$ 2 150.33.
        let ctx = person(JOAO);
        let created = pay_one(&b.bank, &ctx, "3000.00", e2e_now()).await;
        let account = account_id_of(&b.bank, &ctx, &json(&created)["debtorAccount"]).await;
        assert_eq!(balance(&b.bank, &ctx, &account).await, 215_033);
        let found = json(&get(&b.bank, &ctx, &created.payment_id).await);
        assert_eq!(found["status"], "RJCT", "{backend:?}");
        assert_eq!(found["rejectionReason"]["code"], "SALDO_INSUFICIENTE");
        assert!(
            !found["rejectionReason"]["detail"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert_eq!(balance(&b.bank, &ctx, &account).await, 215_033);
    }
}

#[tokio::test]
async fn an_amount_above_the_limit_ends_rjct_even_when_affordable() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        // Maria's checking account holds R$ 12 543.90; the limit is R$ 10 000.00.
        let ctx = person(MARIA);
        let created = pay_one(&b.bank, &ctx, "10000.01", e2e_now()).await;
        let account = account_id_of(&b.bank, &ctx, &json(&created)["debtorAccount"]).await;
        let found = json(&get(&b.bank, &ctx, &created.payment_id).await);
        assert_eq!(found["status"], "RJCT", "{backend:?}");
        assert_eq!(found["rejectionReason"]["code"], "VALOR_ACIMA_LIMITE");
        assert_eq!(balance(&b.bank, &ctx, &account).await, 1_254_390);
        // At the limit exactly, it settles.
        let at_limit = pay_one(&b.bank, &ctx, "10000.00", e2e_now()).await;
        assert_eq!(
            status_of(&get(&b.bank, &ctx, &at_limit.payment_id).await),
            "ACSC"
        );
        assert_eq!(balance(&b.bank, &ctx, &account).await, 254_390);
    }
}

#[tokio::test]
async fn a_payment_held_for_analysis_can_be_cancelled() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        let ctx = person(MARIA);
        let created = pay_one(&b.bank, &ctx, "1234.56", e2e_now()).await;
        let account = account_id_of(&b.bank, &ctx, &json(&created)["debtorAccount"]).await;
        let id = created.payment_id.clone();
        assert_eq!(status_of(&get(&b.bank, &ctx, &id).await), "PDNG");
        // It stays held, however much time passes.
        b.bank.settle_due(Utc::now() + hours(72)).await.unwrap();
        assert_eq!(status_of(&get(&b.bank, &ctx, &id).await), "PDNG");

        let cancelled = b
            .bank
            .payments_patch_pix_payments_payment_id(&ctx, patch_input(&id, MARIA))
            .await
            .unwrap();
        valid("PATCH /pix/payments/{id}", &cancelled);
        let body = json(&cancelled);
        assert_eq!(body["status"], "CANC", "{backend:?}");
        assert_eq!(body["cancellation"]["reason"], "CANCELADO_PENDENCIA");
        assert_eq!(body["cancellation"]["cancelledFrom"], "INICIADORA");
        assert_eq!(
            body["cancellation"]["cancelledBy"]["document"]["identification"],
            MARIA
        );
        let found = json(&get(&b.bank, &ctx, &id).await);
        assert_eq!(found["status"], "CANC");
        assert_eq!(found["cancellation"], body["cancellation"]);
        assert_eq!(balance(&b.bank, &ctx, &account).await, 1_254_390);

        // A second cancellation is refused: CANC is final.
        let again = b
            .bank
            .payments_patch_pix_payments_payment_id(&ctx, patch_input(&id, MARIA))
            .await
            .unwrap_err();
        assert_eq!(refusal_code(again), "PAGAMENTO_NAO_PERMITE_CANCELAMENTO");
    }
}

#[tokio::test]
async fn a_scheduled_recurrence_stays_schd_and_is_cancelled_by_consent() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        let ctx = person(MARIA);
        let items = [3, 10, 40]
            .into_iter()
            .map(|days| item("99.90", e2e_scheduled(days)))
            .collect();
        let created = b
            .bank
            .payments_post_pix_payments(&ctx, post(items))
            .await
            .unwrap();
        assert_eq!(created.len(), 3);
        for (i, payment) in created.iter().enumerate() {
            valid(&format!("scheduled [{i}]"), payment);
            assert_eq!(status_of(payment), "SCHD", "{backend:?}");
        }
        let ids: Vec<&str> = created.iter().map(|p| p.payment_id.as_str()).collect();
        assert_eq!(
            ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
            3
        );
        // Before their dates, nothing moves them.
        b.bank.settle_due(Utc::now() + hours(24)).await.unwrap();
        for id in &ids {
            assert_eq!(status_of(&get(&b.bank, &ctx, id).await), "SCHD");
        }

        let consent_id = ctx.consent_id.clone().unwrap();
        let cancelled = b
            .bank
            .payments_patch_pix_payments_consent_id(
                &ctx,
                PaymentsPatchPixPaymentsConsentIdInput {
                    consent_id: pay::ConsentId(consent_id.clone()),
                    body: patch(MARIA),
                },
            )
            .await
            .unwrap();
        for (i, c) in cancelled.iter().enumerate() {
            valid(&format!("PATCH consent [{i}]"), c);
        }
        let got: Vec<&str> = cancelled.iter().map(|c| c.payment_id.as_str()).collect();
        assert_eq!(got, ids, "{backend:?}");
        for id in &ids {
            let found = json(&get(&b.bank, &ctx, id).await);
            assert_eq!(found["status"], "CANC");
            assert_eq!(found["cancellation"]["reason"], "CANCELADO_AGENDAMENTO");
        }
        // Nothing is left to cancel.
        let again = b
            .bank
            .payments_patch_pix_payments_consent_id(
                &ctx,
                PaymentsPatchPixPaymentsConsentIdInput {
                    consent_id: pay::ConsentId(consent_id),
                    body: patch(MARIA),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(refusal_code(again), "PAGAMENTO_NAO_PERMITE_CANCELAMENTO");
    }
}

#[tokio::test]
async fn a_scheduled_payment_settles_on_its_date() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        let ctx = person(ANA);
        let created = pay_one(&b.bank, &ctx, "500.00", e2e_scheduled(2)).await;
        let account = account_id_of(&b.bank, &ctx, &json(&created)["debtorAccount"]).await;
        let before = balance(&b.bank, &ctx, &account).await;
        assert_eq!(status_of(&created), "SCHD");
        // 00:00 in Brasília of the date is 03:00 UTC.
        let date = aberta_demo_bank::dates::today() + chrono::Duration::days(2);
        let midnight = date.and_hms_opt(3, 0, 0).unwrap().and_utc();
        assert_eq!(
            b.bank
                .settle_due(midnight - chrono::Duration::seconds(1))
                .await
                .unwrap(),
            0
        );
        assert_eq!(b.bank.settle_due(midnight).await.unwrap(), 3, "{backend:?}");
        assert_eq!(
            status_of(&get(&b.bank, &ctx, &created.payment_id).await),
            "ACSC"
        );
        assert_eq!(balance(&b.bank, &ctx, &account).await, before - 50_000);
        // A settled payment cannot be cancelled.
        let refused = b
            .bank
            .payments_patch_pix_payments_payment_id(&ctx, patch_input(&created.payment_id, ANA))
            .await
            .unwrap_err();
        assert_eq!(refusal_code(refused), "PAGAMENTO_NAO_PERMITE_CANCELAMENTO");
    }
}

#[tokio::test]
async fn cancelling_a_settled_payment_is_refused() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        let ctx = person(CARLOS);
        let created = pay_one(&b.bank, &ctx, "10.00", e2e_now()).await;
        let id = created.payment_id.clone();
        assert_eq!(status_of(&get(&b.bank, &ctx, &id).await), "ACSC");
        let err = b
            .bank
            .payments_patch_pix_payments_payment_id(&ctx, patch_input(&id, CARLOS))
            .await
            .unwrap_err();
        assert_eq!(
            refusal_code(err),
            "PAGAMENTO_NAO_PERMITE_CANCELAMENTO",
            "{backend:?}"
        );
        assert_eq!(status_of(&get(&b.bank, &ctx, &id).await), "ACSC");
        // Nor through its consent.
        let err = b
            .bank
            .payments_patch_pix_payments_consent_id(
                &ctx,
                PaymentsPatchPixPaymentsConsentIdInput {
                    consent_id: pay::ConsentId(ctx.consent_id.clone().unwrap()),
                    body: patch(CARLOS),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(refusal_code(err), "PAGAMENTO_NAO_PERMITE_CANCELAMENTO");
    }
}

#[tokio::test]
async fn another_customers_payment_is_not_found() {
    for backend in backends() {
        let b = bench_with_rules(backend, hourly()).await;
        let maria = person(MARIA);
        let created = pay_one(&b.bank, &maria, "1234.10", e2e_now()).await;
        let id = created.payment_id.clone();
        let joao = person(JOAO);
        let other_consent = ConnectorContext {
            consent_id: Some("urn:aberta:another-consent".into()),
            ..maria.clone()
        };
        for (who, ctx) in [("joao", &joao), ("maria, other consent", &other_consent)] {
            let err = b
                .bank
                .payments_get_pix_payments_payment_id(ctx, get_input(&id))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ConnectorError::NotFound),
                "{backend:?} {who}: {err:?}"
            );
            let err = b
                .bank
                .payments_patch_pix_payments_payment_id(ctx, patch_input(&id, MARIA))
                .await
                .unwrap_err();
            assert!(matches!(err, ConnectorError::NotFound), "{who}: {err:?}");
        }
        let err = b
            .bank
            .payments_patch_pix_payments_consent_id(
                &ConnectorContext {
                    consent_id: maria.consent_id.clone(),
                    ..joao.clone()
                },
                PaymentsPatchPixPaymentsConsentIdInput {
                    consent_id: pay::ConsentId(maria.consent_id.clone().unwrap()),
                    body: patch(JOAO),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound), "{err:?}");
        let err = b
            .bank
            .payments_get_pix_payments_payment_id(&maria, get_input("no-such-payment"))
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound), "{err:?}");
        // Maria still sees it, untouched.
        assert_eq!(status_of(&get(&b.bank, &maria, &id).await), "RCVD");
    }
}

#[tokio::test]
async fn the_consent_debtor_account_must_be_the_customers() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        let maria_accounts = discovery(&b.bank)
            .paying_accounts(&person(MARIA))
            .await
            .unwrap();
        let joao_accounts = discovery(&b.bank)
            .paying_accounts(&person(JOAO))
            .await
            .unwrap();
        let with_debtor = |account: &DebtorAccount| ConnectorContext {
            consent: Some(json!({ "debtorAccount": account })),
            ..person(MARIA)
        };

        // João's account on Maria's consent is refused, and nothing is created.
        let ctx = with_debtor(&joao_accounts[0].account);
        let err = b
            .bank
            .payments_post_pix_payments(&ctx, post(vec![item("10.00", e2e_now())]))
            .await
            .unwrap_err();
        assert_eq!(
            refusal_code(err),
            "PAGAMENTO_RECUSADO_DETENTORA",
            "{backend:?}"
        );
        let err = b
            .bank
            .payments_patch_pix_payments_consent_id(
                &ctx,
                PaymentsPatchPixPaymentsConsentIdInput {
                    consent_id: pay::ConsentId(ctx.consent_id.clone().unwrap()),
                    body: patch(MARIA),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound), "{err:?}");

        // A number of Maria's under another bank's ISPB is not hers either.
        let mut elsewhere = maria_accounts[0].account.clone();
        elsewhere.ispb = "00000000".into();
        let err = b
            .bank
            .payments_post_pix_payments(
                &with_debtor(&elsewhere),
                post(vec![item("10.00", e2e_now())]),
            )
            .await
            .unwrap_err();
        assert_eq!(refusal_code(err), "PAGAMENTO_RECUSADO_DETENTORA");

        // Her savings account, named by the consent, is the one debited.
        let savings = maria_accounts
            .iter()
            .find(|a| json(&a.account)["accountType"] == "SVGS")
            .unwrap();
        let ctx = with_debtor(&savings.account);
        let created = pay_one(&b.bank, &ctx, "10.00", e2e_now()).await;
        assert_eq!(created.debtor_account, savings.account);
        let account = account_id_of(&b.bank, &ctx, &json(&created)["debtorAccount"]).await;
        let before = balance(&b.bank, &ctx, &account).await;
        get(&b.bank, &ctx, &created.payment_id).await;
        assert_eq!(balance(&b.bank, &ctx, &account).await, before - 1_000);
        // With no debtor account in the consent, the first paying account (checking) pays.
        let created = pay_one(&b.bank, &person(MARIA), "10.00", e2e_now()).await;
        assert_eq!(created.debtor_account, maria_accounts[0].account);
    }
}

#[tokio::test]
async fn paying_accounts_are_the_available_accounts_with_short_labels() {
    for backend in backends() {
        let b = bench(backend).await;
        let mut by_who = BTreeMap::new();
        for (who, ctx) in contexts() {
            let accounts = discovery(&b.bank).paying_accounts(&ctx).await.unwrap();
            for a in &accounts {
                valid(&format!("{who} paying account"), &a.account);
                assert_eq!(a.account.ispb, DEMO_ISPB);
                assert_eq!(a.account.issuer.as_deref(), Some("0001"));
                let last_four = &a.account.number[a.account.number.len() - 5..][..4];
                assert!(a.label.ends_with(last_four), "{}", a.label);
                assert!(!a.label.contains(&a.account.number));
            }
            let types: Vec<String> = accounts
                .iter()
                .map(|a| {
                    json(&a.account)["accountType"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            by_who.insert(who, types);
        }
        // Maria's blocked prepaid account cannot pay; the business pays from its own account.
        assert_eq!(by_who["maria"], ["CACC", "SVGS"], "{backend:?}");
        assert_eq!(by_who["joao"], ["CACC"]);
        assert_eq!(by_who["souza-design"], ["CACC"]);
        let maria = discovery(&b.bank)
            .paying_accounts(&person(MARIA))
            .await
            .unwrap();
        let souza = discovery(&b.bank)
            .paying_accounts(&business(MARIA, SOUZA_DESIGN))
            .await
            .unwrap();
        assert_ne!(maria[0].account, souza[0].account);
        let nobody = ConnectorContext {
            customer: None,
            ..person(MARIA)
        };
        assert!(
            discovery(&b.bank)
                .paying_accounts(&nobody)
                .await
                .unwrap()
                .is_empty()
        );

        // A business consent debits the business's account.
        let ctx = business(MARIA, SOUZA_DESIGN);
        let created = pay_one(&b.bank, &ctx, "75.00", e2e_now()).await;
        assert_eq!(created.debtor_account, souza[0].account);
        let err = b
            .bank
            .payments_get_pix_payments_payment_id(
                &ConnectorContext {
                    consent_id: ctx.consent_id.clone(),
                    ..person(MARIA)
                },
                get_input(&created.payment_id),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectorError::NotFound), "{err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_never_overdraw_and_the_affordable_ones_settle() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        let ctx = person(JOAO);
        // R$ 2 150.33 available; twenty payments of R$ 200.00 ask for R$ 4 000.00.
        let mut posts = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (bank, ctx) = (b.bank.clone(), ctx.clone());
            posts.spawn(async move {
                bank.payments_post_pix_payments(&ctx, post(vec![item("200.00", e2e_now())]))
                    .await
                    .unwrap()
                    .remove(0)
            });
        }
        let mut ids = Vec::new();
        while let Some(created) = posts.join_next().await {
            ids.push(created.unwrap().payment_id);
        }
        let account = {
            let first = get(&b.bank, &ctx, &ids[0]).await;
            account_id_of(&b.bank, &ctx, &json(&first)["debtorAccount"]).await
        };

        // Readers and sweepers race to settle them.
        let mut racers = tokio::task::JoinSet::new();
        for id in ids.clone() {
            let (bank, ctx) = (b.bank.clone(), ctx.clone());
            racers.spawn(async move {
                bank.payments_get_pix_payments_payment_id(&ctx, get_input(&id))
                    .await
                    .map(|_| ())
                    .unwrap();
            });
        }
        for _ in 0..3 {
            let bank = b.bank.clone();
            racers.spawn(async move {
                bank.settle_due(Utc::now()).await.unwrap();
            });
        }
        while let Some(done) = racers.join_next().await {
            done.unwrap();
        }

        let mut counts = BTreeMap::new();
        for id in &ids {
            let found = json(&get(&b.bank, &ctx, id).await);
            let key = match found["status"].as_str().unwrap() {
                "RJCT" => format!("RJCT {}", found["rejectionReason"]["code"]),
                other => other.to_string(),
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        let expected = BTreeMap::from([
            ("ACSC".to_string(), 10),
            ("RJCT \"SALDO_INSUFICIENTE\"".to_string(), 10),
        ]);
        assert_eq!(counts, expected, "{backend:?}");
        assert_eq!(balance(&b.bank, &ctx, &account).await, 15_033);
    }
}

#[tokio::test]
async fn every_status_answers_within_the_generated_models() {
    for backend in backends() {
        let b = bench_with_rules(backend, hourly()).await;
        let ctx = person(MARIA);
        let mut ids = BTreeMap::new();
        for (name, amount, e2e) in [
            ("settled", "20.00", e2e_now()),
            ("over limit", "20000.00", e2e_now()),
            ("held", "1234.00", e2e_now()),
            ("scheduled", "30.00", e2e_scheduled(5)),
            ("cancelled", "1234.99", e2e_now()),
        ] {
            ids.insert(name, pay_one(&b.bank, &ctx, amount, e2e).await.payment_id);
        }
        let poor = person(JOAO);
        let unaffordable = pay_one(&b.bank, &poor, "9999.99", e2e_now()).await;
        let t0 = Utc::now();
        let mut seen = std::collections::BTreeSet::new();
        for step in 0..=3 {
            if step > 0 {
                b.bank.settle_due(t0 + hours(step)).await.unwrap();
            }
            for id in ids.values() {
                seen.insert(status_of(&get(&b.bank, &ctx, id).await));
            }
            let found = get(&b.bank, &poor, &unaffordable.payment_id).await;
            seen.insert(status_of(&found));
        }
        let cancelled = b
            .bank
            .payments_patch_pix_payments_payment_id(&ctx, patch_input(&ids["cancelled"], MARIA))
            .await
            .unwrap();
        valid("PATCH", &cancelled);
        seen.insert(status_of(&get(&b.bank, &ctx, &ids["cancelled"]).await));
        let all: std::collections::BTreeSet<String> = [
            "RCVD", "ACCP", "ACPD", "ACSC", "RJCT", "PDNG", "SCHD", "CANC",
        ]
        .into_iter()
        .map(str::to_string)
        .collect();
        assert_eq!(seen, all, "{backend:?}");
        for account in discovery(&b.bank).paying_accounts(&ctx).await.unwrap() {
            valid("paying account", &account.account);
        }
    }
}

#[tokio::test]
async fn payments_are_sealed_at_rest() {
    for backend in backends() {
        let b = bench_with_rules(backend, instant()).await;
        let ctx = person(MARIA);
        let created = pay_one(&b.bank, &ctx, "1234.50", e2e_now()).await;
        get(&b.bank, &ctx, &created.payment_id).await;
        b.bank
            .payments_patch_pix_payments_payment_id(&ctx, patch_input(&created.payment_id, MARIA))
            .await
            .unwrap();
        let db = b.store.connection();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT * FROM demo_pix_payment".to_string(),
            ))
            .await
            .unwrap();
        let mut raw = String::new();
        for row in rows {
            for column in row.column_names() {
                if let Ok(Some(text)) = row.try_get::<Option<String>>("", &column) {
                    raw.push_str(&text);
                    raw.push('\n');
                }
            }
        }
        assert!(raw.contains(&created.payment_id), "{backend:?}: rows read");
        for secret in [
            MARIA,
            CREDITOR_NUMBER,
            PROXY,
            REMITTANCE,
            created.debtor_account.number.as_str(),
        ] {
            assert!(
                !raw.contains(secret),
                "{backend:?}: a value is stored in clear"
            );
        }
    }
}

#[tokio::test]
async fn a_bank_seeded_before_pix_gets_its_balances_on_upgrade() {
    for backend in backends() {
        let b = bench(backend).await;
        let db = b.store.connection();
        let sql = |text: &str| Statement::from_string(db.get_database_backend(), text.to_string());
        // Back to schema 1 for this ring: no balances, module at version 1.
        db.execute_raw(sql(&format!(
            "DELETE FROM demo_balance WHERE ring = \
             (SELECT ring FROM demo_customer WHERE document_index = '{}')",
            b.ring.blind_index(MARIA)
        )))
        .await
        .unwrap();
        db.execute_raw(sql(
            "UPDATE aberta_module_version SET version = 1 WHERE module = 'demo_bank'",
        ))
        .await
        .unwrap();
        let reopened = DemoBank::open_with_rules(&b.store, b.ring.clone(), instant())
            .await
            .unwrap();
        let ctx = person(MARIA);
        let created = pay_one(&reopened, &ctx, "40.00", e2e_now()).await;
        let account = account_id_of(&reopened, &ctx, &json(&created)["debtorAccount"]).await;
        // Without a balance row the debit could not happen and the payment would end RJCT.
        assert_eq!(
            status_of(&get(&reopened, &ctx, &created.payment_id).await),
            "ACSC",
            "{backend:?}"
        );
        assert_eq!(balance(&reopened, &ctx, &account).await, 1_250_390);
    }
}

#[tokio::test]
async fn a_repeated_request_gets_the_payments_it_made() {
    for backend in backends() {
        let b = bench_with_rules(backend, hourly()).await;
        let ctx = person(MARIA);
        let e2e = e2e_now();
        let first = pay_one(&b.bank, &ctx, "12.00", e2e.clone()).await;
        let again = pay_one(&b.bank, &ctx, "12.00", e2e).await;
        assert_eq!(again.payment_id, first.payment_id, "{backend:?}");
        // Other endToEndIds on the same consent are other payments.
        let other = pay_one(&b.bank, &ctx, "12.00", e2e_now()).await;
        assert_ne!(other.payment_id, first.payment_id, "{backend:?}");
    }
}

#[tokio::test]
async fn business_payments_from_five_thousand_need_a_second_approver() {
    for backend in backends() {
        let b = bench(backend).await;
        let consent = |amount: &str| json!({ "payment": { "amount": amount } });
        let needed = async |ctx: &ConnectorContext, amount: &str| {
            b.bank
                .approvals_needed(ctx, &consent(amount))
                .await
                .unwrap()
        };
        let firm = business(MARIA, SOUZA_DESIGN);
        assert_eq!(needed(&firm, "5000.00").await, 2, "{backend:?}");
        assert_eq!(needed(&firm, "4999.99").await, 1);
        assert_eq!(needed(&person(MARIA), "9000.00").await, 1);
        // Any person who is a customer may approve; a stranger or a business may not.
        assert!(b.bank.may_approve(&firm, "52960092087").await.unwrap());
        assert!(!b.bank.may_approve(&firm, "11144477735").await.unwrap());
        assert!(!b.bank.may_approve(&firm, "34567890000130").await.unwrap());
    }
}
