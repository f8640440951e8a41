//! Credit card accounts: three closed bills with their transactions, this week's purchases
//! not yet billed, and the limits.

use serde_json::json;

use super::util::{BRAND_NAME, HOLDER_CNPJ, Rng, brl, money, stable_id};
use super::{SeedEntry, SeedProduct, section};
use crate::dates::{at_ms, day};

/// The card's commercial product, network and total limit.
pub struct CardProduct {
    name: &'static str,
    product_type: &'static str,
    network: &'static str,
    limit_cents: i64,
}

pub const PLATINUM: CardProduct = CardProduct {
    name: "Aberta Platinum",
    product_type: "PLATINUM",
    network: "MASTERCARD",
    limit_cents: 1_800_000,
};
pub const GOLD: CardProduct = CardProduct {
    name: "Aberta Gold",
    product_type: "GOLD",
    network: "VISA",
    limit_cents: 650_000,
};
pub const BUSINESS: CardProduct = CardProduct {
    name: "Aberta Empresas",
    product_type: "EMPRESARIAL",
    network: "ELO",
    limit_cents: 4_500_000,
};

/// Due dates of the closed bills, in days from today.
const BILL_DUE_DAYS: [i32; 3] = [-75, -45, -15];
/// Days after a bill's due date that its next bill closes (purchases after it go to the next).
const PURCHASES_PER_BILL: usize = 7;

const MERCHANTS: &[(&str, i64, (i64, i64))] = &[
    ("Supermercado Bom Preço", 5411, (4_500, 48_000)),
    ("Posto Avenida", 5541, (9_000, 32_000)),
    ("Farmácia Saúde", 5912, (1_800, 15_000)),
    ("Restaurante Sabor Mineiro", 5812, (3_800, 21_000)),
    ("Livraria Cultura Viva", 5942, (4_900, 19_000)),
    ("Companhia Aérea Voe Bem", 4511, (45_000, 180_000)),
    ("Streaming Play", 4899, (2_190, 5_590)),
];

pub fn card(owner: &str, key: &str, product: CardProduct) -> SeedProduct {
    let mut rng = Rng::new(key);
    let id = stable_id(&format!("card/{key}"));
    let last_four = rng.digits(4);
    let list = json!({
        "creditCardAccountId": id,
        "brandName": BRAND_NAME,
        "companyCnpj": HOLDER_CNPJ,
        "name": product.name,
        "productType": product.product_type,
        "creditCardNetwork": product.network,
    });
    let detail = json!({
        "name": product.name,
        "productType": product.product_type,
        "creditCardNetwork": product.network,
        "paymentMethod": [{ "identificationNumber": last_four, "isMultipleCreditCard": false }],
    });
    let mut entries = Vec::new();
    let mut seq = 0;
    for (b, due) in BILL_DUE_DAYS.iter().enumerate() {
        let bill_id = stable_id(&format!("{id}/bill/{b}"));
        let mut total = 0;
        for p in 0..PURCHASES_PER_BILL {
            let entry = purchase(
                &id,
                seq,
                *due - 38 + 4 * p as i32,
                Some((&bill_id, *due - 10)),
                &last_four,
                &mut rng,
                p,
            );
            total += if entry.tag.as_deref() == Some("ESTORNO") {
                -cents_of(&entry)
            } else {
                cents_of(&entry)
            };
            entries.push(entry);
            seq += 1;
        }
        entries.push(bill(&bill_id, *due, total, &mut rng));
    }
    let mut unbilled = 0;
    for (p, offset) in [0, -1, -3, -4, -6].into_iter().enumerate() {
        let entry = purchase(&id, seq, offset, None, &last_four, &mut rng, p);
        unbilled += cents_of(&entry);
        entries.push(entry);
        seq += 1;
    }
    let used = unbilled;
    let limits = json!([
        {
            "creditLineLimitType": "LIMITE_CREDITO_TOTAL",
            "consolidationType": "CONSOLIDADO",
            "identificationNumber": last_four,
            "isLimitFlexible": false,
            "limitAmount": money(product.limit_cents),
            "usedAmount": money(used),
            "availableAmount": money(product.limit_cents - used),
        },
        {
            "creditLineLimitType": "LIMITE_CREDITO_MODALIDADE_OPERACAO",
            "consolidationType": "INDIVIDUAL",
            "identificationNumber": last_four,
            "lineName": "SAQUE_CREDITO_BRASIL",
            "isLimitFlexible": false,
            "limitAmount": money(product.limit_cents / 5),
            "usedAmount": money(0),
            "availableAmount": money(product.limit_cents / 5),
        }
    ]);
    SeedProduct {
        id,
        owner_id: owner.to_string(),
        kind: "CREDIT_CARD_ACCOUNT",
        account_type: None,
        status: "AVAILABLE",
        label: format!("Cartão {} final {last_four}", product.name),
        body: json!({ section::LIST: list, section::DETAIL: detail, section::LIMITS: limits }),
        entries,
    }
}

fn cents_of(entry: &SeedEntry) -> i64 {
    entry.body["brazilianAmount"]["amount"]
        .as_str()
        .and_then(|a| a.replace('.', "").parse().ok())
        .unwrap_or(0)
}

/// A card transaction; `bill` is the bill it belongs to and the day it posted there.
fn purchase(
    card_id: &str,
    seq: usize,
    day_offset: i32,
    bill: Option<(&str, i32)>,
    last_four: &str,
    rng: &mut Rng,
    position: usize,
) -> SeedEntry {
    let id = stable_id(&format!("{card_id}/transaction/{seq}"));
    let (merchant, mcc, range) = *rng.pick(MERCHANTS);
    let cents = rng.range(range.0, range.1);
    let time = format!(
        "{:02}:{:02}:{:02}",
        rng.range(9, 21),
        rng.range(0, 59),
        rng.range(0, 59)
    );
    // Where a transaction posts: its bill's closing day, or the next closing for this week's.
    let post_day = bill.map(|(_, d)| d).unwrap_or(15);
    let mut body = json!({
        "transactionId": id,
        "identificationNumber": last_four,
        "transactionName": merchant,
        "creditDebitType": "DEBITO",
        "transactionType": "PAGAMENTO",
        "paymentType": "A_VISTA",
        "brazilianAmount": money(cents),
        "amount": money(cents),
        "transactionDateTime": at_ms(day_offset, &time),
        "billPostDate": day(post_day),
        "payeeMCC": mcc,
    });
    let mut kind = "PAGAMENTO";
    // Each bill carries one instalment purchase, one annual fee and one refund, so every
    // conditional field of the schema appears somewhere.
    match (bill.is_some(), position) {
        (true, 1) => {
            body["paymentType"] = json!("A_PRAZO");
            body["chargeIdentificator"] = json!(2);
            body["chargeNumber"] = json!(6);
            body["transactionName"] = json!("Loja de Eletrodomésticos Lar");
            body["payeeMCC"] = json!(5722);
        }
        (true, 3) => {
            kind = "TARIFA";
            body["transactionName"] = json!("Anuidade");
            body["feeType"] = json!("ANUIDADE");
            body.as_object_mut().map(|o| o.remove("paymentType"));
            body.as_object_mut().map(|o| o.remove("payeeMCC"));
        }
        (true, 5) => {
            kind = "ESTORNO";
            body["creditDebitType"] = json!("CREDITO");
            body["transactionalAdditionalInfo"] = json!("Estorno de compra cancelada");
            body.as_object_mut().map(|o| o.remove("paymentType"));
        }
        _ => {}
    }
    body["transactionType"] = json!(kind);
    if let Some((bill_id, _)) = bill {
        body["billId"] = json!(bill_id);
    }
    SeedEntry {
        id,
        section: section::TRANSACTIONS,
        parent_id: bill.map(|(b, _)| b.to_string()),
        day_offset,
        tag: Some(kind.to_string()),
        mcc: body["payeeMCC"].as_i64(),
        body,
    }
}

fn bill(bill_id: &str, due: i32, total_cents: i64, rng: &mut Rng) -> SeedEntry {
    let body = json!({
        "billId": bill_id,
        "dueDate": day(due),
        "billTotalAmount": money(total_cents),
        "billMinimumAmount": money(total_cents.max(0) * 15 / 100),
        "isInstalment": false,
        "financeCharges": [{
            "type": "IOF",
            "additionalInfo": "IOF sobre compras no exterior",
            "amount": brl(rng.range(120, 860)),
            "currency": "BRL",
        }],
        "payments": [{
            "valueType": "VALOR_PAGAMENTO_FATURA_REALIZADO",
            "paymentDate": day(due - 1),
            "paymentMode": "DEBITO_CONTA_CORRENTE",
            "amount": brl(total_cents.max(0)),
            "currency": "BRL",
        }],
    });
    SeedEntry {
        id: bill_id.to_string(),
        section: section::BILLS,
        parent_id: None,
        day_offset: due,
        tag: None,
        mcc: None,
        body,
    }
}
