//! Deposit and payment accounts with a year of transactions (a few in the last week, one
//! scheduled ahead) for the accounts API.

use serde_json::{Value, json};

use super::util::{BRANCH_CODE, BRAND_NAME, COMPE_CODE, HOLDER_CNPJ, Rng, brl, money, stable_id};
use super::{SeedEntry, SeedProduct, section};
use crate::dates::{NOW, at_ms};

pub const CHECKING: &str = "CONTA_DEPOSITO_A_VISTA";
pub const SAVINGS: &str = "CONTA_POUPANCA";
pub const PREPAID: &str = "CONTA_PAGAMENTO_PRE_PAGA";

/// Days back of the oldest seeded transaction (the API serves at most twelve months).
const HISTORY_DAYS: i32 = 330;

/// A transaction template: name, spec type, credit or debit, counterparty kind, cents range.
struct Kind {
    name: &'static str,
    kind: &'static str,
    credit: bool,
    party: Party,
    cents: (i64, i64),
}

#[derive(Clone, Copy, PartialEq)]
enum Party {
    None,
    Person,
    Company,
    SameBank,
}

const CHECKING_KINDS: &[Kind] = &[
    Kind {
        name: "Pix recebido",
        kind: "PIX",
        credit: true,
        party: Party::Person,
        cents: (2_000, 90_000),
    },
    Kind {
        name: "Pagamento de boleto - energia",
        kind: "BOLETO",
        credit: false,
        party: Party::Company,
        cents: (9_000, 38_000),
    },
    Kind {
        name: "Compra no débito - supermercado",
        kind: "CARTAO",
        credit: false,
        party: Party::None,
        cents: (3_500, 62_000),
    },
    Kind {
        name: "Pix enviado",
        kind: "PIX",
        credit: false,
        party: Party::Person,
        cents: (1_500, 45_000),
    },
    Kind {
        name: "Crédito de salário",
        kind: "FOLHA_PAGAMENTO",
        credit: true,
        party: Party::Company,
        cents: (420_000, 980_000),
    },
    Kind {
        name: "TED enviada",
        kind: "TED",
        credit: false,
        party: Party::Person,
        cents: (50_000, 250_000),
    },
    Kind {
        name: "Conta de água e esgoto",
        kind: "CONVENIO_ARRECADACAO",
        credit: false,
        party: Party::None,
        cents: (6_000, 21_000),
    },
    Kind {
        name: "Tarifa do pacote de serviços",
        kind: "PACOTE_TARIFA_SERVICOS",
        credit: false,
        party: Party::None,
        cents: (2_990, 2_990),
    },
    Kind {
        name: "Saque em terminal",
        kind: "SAQUE",
        credit: false,
        party: Party::None,
        cents: (10_000, 60_000),
    },
    Kind {
        name: "Transferência da poupança",
        kind: "TRANSFERENCIA_MESMA_INSTITUICAO",
        credit: true,
        party: Party::SameBank,
        cents: (20_000, 150_000),
    },
];

const SAVINGS_KINDS: &[Kind] = &[
    Kind {
        name: "Rendimento da poupança",
        kind: "RENDIMENTO_APLIC_FINANCEIRA",
        credit: true,
        party: Party::None,
        cents: (1_200, 9_500),
    },
    Kind {
        name: "Depósito",
        kind: "DEPOSITO",
        credit: true,
        party: Party::None,
        cents: (20_000, 200_000),
    },
    Kind {
        name: "Transferência para conta corrente",
        kind: "TRANSFERENCIA_MESMA_INSTITUICAO",
        credit: false,
        party: Party::SameBank,
        cents: (20_000, 150_000),
    },
    Kind {
        name: "Pix recebido",
        kind: "PIX",
        credit: true,
        party: Party::Person,
        cents: (5_000, 50_000),
    },
];

fn label_of(account_type: &str) -> &'static str {
    match account_type {
        SAVINGS => "Poupança",
        PREPAID => "Conta de pagamento",
        _ => "Conta corrente",
    }
}

/// An available account with `transactions` entries and the given available balance.
pub fn account(
    owner: &str,
    key: &str,
    account_type: &'static str,
    transactions: usize,
    balance_cents: i64,
) -> SeedProduct {
    let mut rng = Rng::new(key);
    let mut product = base(owner, key, account_type, &mut rng, balance_cents);
    let kinds = if account_type == SAVINGS {
        SAVINGS_KINDS
    } else {
        CHECKING_KINDS
    };
    product.entries = (0..transactions)
        .map(|i| transaction(&product.id, i, offset(i, transactions), kinds, &mut rng))
        .collect();
    product
}

/// The one resource the bank will not share: a prepaid account blocked by a court order.
/// The resources API lists it as `UNAVAILABLE`; every read of it is refused.
pub fn unavailable_prepaid(owner: &str, key: &str) -> SeedProduct {
    let mut rng = Rng::new(key);
    let mut product = base(owner, key, PREPAID, &mut rng, 0);
    product.status = "UNAVAILABLE";
    product.entries = (0..5)
        .map(|i| {
            transaction(
                &product.id,
                i,
                -40 - 20 * i as i32,
                CHECKING_KINDS,
                &mut rng,
            )
        })
        .collect();
    product
}

/// The day of the `i`-th of `n` transactions: the first six within the last week, one
/// scheduled four days ahead, the rest spread back over the year.
fn offset(i: usize, n: usize) -> i32 {
    const RECENT: [i32; 6] = [0, -1, -2, -3, -5, -6];
    if let Some(day) = RECENT.get(i) {
        return *day;
    }
    if i == RECENT.len() {
        return 4;
    }
    let older = (n.saturating_sub(RECENT.len() + 1)).max(1) as i32;
    let step = (HISTORY_DAYS - 7) / older;
    -7 - step * (i as i32 - RECENT.len() as i32 - 1) - 1
}

fn base(
    owner: &str,
    key: &str,
    account_type: &'static str,
    rng: &mut Rng,
    balance_cents: i64,
) -> SeedProduct {
    let id = stable_id(&format!("account/{key}"));
    let number = format!("{}{}", rng.range(1, 9), rng.digits(8));
    let check_digit = rng.digits(1);
    let label = format!(
        "{} {}-{}",
        label_of(account_type),
        &number[number.len() - 4..],
        check_digit
    );
    let list = json!({
        "brandName": BRAND_NAME,
        "companyCnpj": HOLDER_CNPJ,
        "type": account_type,
        "compeCode": COMPE_CODE,
        "branchCode": BRANCH_CODE,
        "number": number,
        "checkDigit": check_digit,
        "accountId": id,
    });
    let detail = json!({
        "compeCode": COMPE_CODE,
        "branchCode": BRANCH_CODE,
        "number": number,
        "checkDigit": check_digit,
        "type": account_type,
        "subtype": "INDIVIDUAL",
        "currency": "BRL",
    });
    let blocked = if account_type == CHECKING { 15_000 } else { 0 };
    let balances = json!({
        "availableAmount": money(balance_cents),
        "blockedAmount": money(blocked),
        "automaticallyInvestedAmount": money(balance_cents / 10),
        "updateDateTime": NOW,
    });
    let limit = if account_type == CHECKING { 500_000 } else { 0 };
    let overdraft = json!({
        "overdraftContractedLimit": money(limit),
        "overdraftUsedLimit": money(0),
        "unarrangedOverdraftAmount": money(0),
    });
    SeedProduct {
        id,
        owner_id: owner.to_string(),
        kind: "ACCOUNT",
        account_type: Some(account_type),
        status: "AVAILABLE",
        label,
        body: json!({
            section::LIST: list,
            section::DETAIL: detail,
            section::BALANCES: balances,
            section::OVERDRAFT_LIMITS: overdraft,
        }),
        entries: Vec::new(),
    }
}

fn transaction(account_id: &str, i: usize, day: i32, kinds: &[Kind], rng: &mut Rng) -> SeedEntry {
    let kind = &kinds[(rng.next_u64() % kinds.len() as u64) as usize];
    let cents = rng.range(kind.cents.0, kind.cents.1);
    let id = stable_id(&format!("{account_id}/transaction/{i}"));
    let direction = if kind.credit { "CREDITO" } else { "DEBITO" };
    let status = if day > 0 {
        "LANCAMENTO_FUTURO"
    } else {
        "TRANSACAO_EFETIVADA"
    };
    let time = format!(
        "{:02}:{:02}:{:02}",
        rng.range(8, 20),
        rng.range(0, 59),
        rng.range(0, 59)
    );
    let mut body = json!({
        "transactionId": id,
        "completedAuthorisedPaymentType": status,
        "creditDebitType": direction,
        "transactionName": kind.name,
        "type": kind.kind,
        "transactionAmount": { "amount": brl(cents), "currency": "BRL" },
        "transactionDateTime": at_ms(day, &time),
    });
    if let Some(party) = counterparty(kind.party, rng) {
        merge(&mut body, party);
    }
    SeedEntry {
        id,
        section: section::TRANSACTIONS,
        parent_id: None,
        day_offset: day,
        tag: Some(direction.to_string()),
        mcc: None,
        body,
    }
}

/// The `partie*` fields for a transfer's other side.
fn counterparty(party: Party, rng: &mut Rng) -> Option<Value> {
    let (document, person_type, compe) = match party {
        Party::None => return None,
        Party::Person => (
            rng.cpf(),
            "PESSOA_NATURAL",
            *rng.pick(&["001", "237", "260", "341"]),
        ),
        Party::Company => (
            rng.cnpj(),
            "PESSOA_JURIDICA",
            *rng.pick(&["001", "033", "104"]),
        ),
        Party::SameBank => (rng.cpf(), "PESSOA_NATURAL", COMPE_CODE),
    };
    Some(json!({
        "partieCnpjCpf": document,
        "partiePersonType": person_type,
        "partieCompeCode": compe,
        "partieBranchCode": format!("{:04}", rng.range(1, 4999)),
        "partieNumber": rng.digits(10),
        "partieCheckDigit": rng.digits(1),
    }))
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(extra)) = (target, extra) {
        target.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_cover_the_last_week_the_future_and_the_year() {
        let days: Vec<i32> = (0..42).map(|i| offset(i, 42)).collect();
        assert!(days.iter().filter(|d| (-6..=0).contains(*d)).count() >= 6);
        assert!(days.iter().any(|d| *d > 0));
        assert!(days.iter().all(|d| *d >= -HISTORY_DAYS));
        assert!(days.iter().any(|d| *d < -200));
    }
}
