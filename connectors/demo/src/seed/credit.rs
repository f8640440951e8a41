//! Credit contracts for the loans, financings, invoice-financings and
//! unarranged-accounts-overdraft APIs. The four specs share one contract shape; a contract
//! here carries the union of their fields and each API reads what its schema names.

use serde_json::{Value, json};

use super::util::{BRAND_NAME, HOLDER_CNPJ, brl, stable_id};
use super::{SeedEntry, SeedProduct, section};
use crate::dates::{at_ms, day};

/// What differs between contracts.
struct Terms {
    key: String,
    kind: &'static str,
    product_type: &'static str,
    product_sub_type: &'static str,
    /// Loans only.
    category: Option<&'static str>,
    product_name: &'static str,
    label: &'static str,
    amount_cents: i64,
    /// Monthly instalments; zero for a contract without a schedule (overdraft).
    instalments: i32,
    /// Monthly pre-fixed rate, e.g. `0.019900`.
    monthly_rate: f64,
    annual_rate: &'static str,
    cet: &'static str,
    amortization: &'static str,
    /// Days ago the contract was signed.
    signed_days_ago: i32,
    warranties: Vec<(&'static str, &'static str, i64)>,
    ipoc_tag: &'static str,
}

/// The instalment of a PRICE schedule, in cents.
fn price_instalment(principal: i64, rate: f64, n: i32) -> i64 {
    if n == 0 {
        return principal;
    }
    let p = principal as f64;
    (p * rate / (1.0 - (1.0 + rate).powi(-n))).round() as i64
}

/// Outstanding principal after `paid` PRICE instalments.
fn price_balance(principal: i64, rate: f64, n: i32, paid: i32) -> i64 {
    let p = principal as f64;
    let growth = (1.0 + rate).powi(n);
    (p * (growth - (1.0 + rate).powi(paid)) / (growth - 1.0)).round() as i64
}

fn contract(owner: &str, t: Terms) -> SeedProduct {
    let id = stable_id(&format!("contract/{}", t.key));
    let number = format!("{}{}", t.ipoc_tag, &id.replace('-', "")[..10]).to_uppercase();
    let ipoc = format!(
        "{}{}{}",
        &HOLDER_CNPJ[..8],
        t.ipoc_tag,
        &id.replace('-', "")[..16]
    );
    let signed = -t.signed_days_ago;
    let scheduled = t.instalments > 0;
    let paid = if scheduled {
        (t.signed_days_ago / 30).min(t.instalments)
    } else {
        0
    };
    let instalment = price_instalment(t.amount_cents, t.monthly_rate, t.instalments);
    let balance = if scheduled {
        price_balance(t.amount_cents, t.monthly_rate, t.instalments, paid)
    } else {
        t.amount_cents
    };
    let list = json!({
        "contractId": id,
        "brandName": BRAND_NAME,
        "companyCnpj": HOLDER_CNPJ,
        "productType": t.product_type,
        "productSubType": t.product_sub_type,
        "productSubTypeCategory": t.category,
        "ipocCode": ipoc,
    });
    let mut detail = json!({
        "contractNumber": number,
        "ipocCode": ipoc,
        "productName": t.product_name,
        "productType": t.product_type,
        "productSubType": t.product_sub_type,
        "contractDate": day(signed),
        "disbursementDates": [day(signed + 1)],
        "contractAmount": brl(t.amount_cents),
        "currency": "BRL",
        "instalmentPeriodicity": if scheduled { "MENSAL" } else { "SEM_PERIODICIDADE_REGULAR" },
        "CET": t.cet,
        "hasInsuranceContracted": false,
        "amortizationScheduled": t.amortization,
        "interestRates": [{
            "taxType": "EFETIVA",
            "interestRateType": "COMPOSTO",
            "taxPeriodicity": "AA",
            "calculation": "30/360",
            "referentialRateIndexerType": "PRE_FIXADO",
            "referentialRateIndexerSubType": "PRE_FIXADO",
            "preFixedRate": t.annual_rate,
            "postFixedRate": "0.000000",
        }],
        "contractedFees": [{
            "feeName": "Tarifa de cadastro",
            "feeCode": "CADASTRO",
            "feeChargeType": "UNICA",
            "feeCharge": "FIXO",
            "feeAmount": "150.00",
        }],
        "contractedFinanceCharges": [
            { "chargeType": "MULTA_ATRASO_PAGAMENTO", "chargeRate": "0.020000" },
            { "chargeType": "JUROS_MORA_ATRASO", "chargeRate": "0.010000" },
        ],
    });
    if let Some(category) = t.category {
        detail["productSubTypeCategory"] = json!(category);
    }
    if scheduled {
        detail["dueDate"] = json!(day(signed + 30 * t.instalments));
        detail["firstInstalmentDueDate"] = json!(day(signed + 30));
        detail["nextInstalmentAmount"] = json!(brl(instalment));
    }
    let instalments = if scheduled {
        json!({
            "typeNumberOfInstalments": "MES",
            "totalNumberOfInstalments": t.instalments,
            "typeContractRemaining": "MES",
            "contractRemainingNumber": t.instalments - paid,
            "paidInstalments": paid,
            "dueInstalments": t.instalments - paid,
            "pastDueInstalments": 0,
            "balloonPayments": [{
                "dueDate": day(signed + 30 * t.instalments),
                "amount": { "amount": brl(instalment), "currency": "BRL" },
            }],
        })
    } else {
        json!({
            "typeNumberOfInstalments": "SEM_PRAZO_TOTAL",
            "typeContractRemaining": "SEM_PRAZO_REMANESCENTE",
            "paidInstalments": 0,
            "dueInstalments": 0,
            "pastDueInstalments": 0,
        })
    };
    let payments = json!({
        "paidInstalments": paid,
        "contractOutstandingBalance": brl(balance),
        "lastUpdatedContractOutstandingBalance": at_ms(0, "03:00:00"),
        "totalRemainingAmount": brl(if scheduled { instalment * i64::from(t.instalments - paid) } else { balance }),
        "releases": releases(&id, signed, paid, instalment, scheduled),
    });
    let entries = t
        .warranties
        .iter()
        .enumerate()
        .map(|(i, (kind, sub_kind, cents))| SeedEntry {
            id: stable_id(&format!("{id}/warranty/{i}")),
            section: section::WARRANTIES,
            parent_id: None,
            day_offset: signed,
            tag: None,
            mcc: None,
            body: json!({
                "currency": "BRL",
                "warrantyType": kind,
                "warrantySubType": sub_kind,
                "warrantyAmount": brl(*cents),
            }),
        })
        .collect();
    SeedProduct {
        id,
        owner_id: owner.to_string(),
        kind: t.kind,
        account_type: None,
        status: "AVAILABLE",
        label: format!("{} {}", t.label, &number[number.len() - 4..]),
        body: json!({
            section::LIST: list,
            section::DETAIL: detail,
            section::INSTALMENTS: instalments,
            section::PAYMENTS: payments,
        }),
        entries,
    }
}

/// One release per paid instalment, plus a late-fee payment outside the schedule.
fn releases(id: &str, signed: i32, paid: i32, instalment: i64, scheduled: bool) -> Vec<Value> {
    let mut out: Vec<Value> = (0..paid)
        .map(|i| {
            json!({
                "paymentId": stable_id(&format!("{id}/payment/{i}")),
                "isOverParcelPayment": false,
                "instalmentId": stable_id(&format!("{id}/instalment/{i}")),
                "paidDate": day(signed + 30 * (i + 1)),
                "currency": "BRL",
                "paidAmount": brl(instalment),
            })
        })
        .collect();
    if !scheduled || paid > 0 {
        out.push(json!({
            "paymentId": stable_id(&format!("{id}/payment/extra")),
            "isOverParcelPayment": true,
            "paidDate": day(signed + 12),
            "currency": "BRL",
            "paidAmount": "38.40",
            "overParcel": {
                "fees": [{ "feeName": "Tarifa de renegociação", "feeCode": "RENEGOCIACAO", "feeAmount": "25.00" }],
                "charges": [{
                    "chargeType": "JUROS_MORA_ATRASO",
                    "chargeAdditionalInfo": "Juros de mora por atraso",
                    "chargeAmount": "13.40",
                }],
            },
        }));
    }
    out
}

pub fn personal_loan(owner: &str, key: &str) -> SeedProduct {
    contract(
        owner,
        Terms {
            key: key.into(),
            kind: "LOAN",
            product_type: "EMPRESTIMOS",
            product_sub_type: "CREDITO_PESSOAL_SEM_CONSIGNACAO",
            category: Some("CREDITO_PESSOAL_CLEAN"),
            product_name: "Crédito Pessoal Aberta",
            label: "Empréstimo pessoal",
            amount_cents: 1_500_000,
            instalments: 24,
            monthly_rate: 0.0199,
            annual_rate: "0.266800",
            cet: "0.291500",
            amortization: "PRICE",
            signed_days_ago: 200,
            warranties: vec![("CAUCAO", "APLICACOES_FINANCEIRAS_RENDA_FIXA", 500_000)],
            ipoc_tag: "LN",
        },
    )
}

pub fn working_capital(owner: &str, key: &str) -> SeedProduct {
    contract(
        owner,
        Terms {
            key: key.into(),
            kind: "LOAN",
            product_type: "EMPRESTIMOS",
            product_sub_type: "CAPITAL_GIRO_PRAZO_VENCIMENTO_SUPERIOR_365_DIAS",
            category: Some("OUTRO"),
            product_name: "Capital de Giro Aberta Empresas",
            label: "Capital de giro",
            amount_cents: 8_000_000,
            instalments: 36,
            monthly_rate: 0.0149,
            annual_rate: "0.194400",
            cet: "0.215000",
            amortization: "PRICE",
            signed_days_ago: 420,
            warranties: vec![("GARANTIA_FIDEJUSSORIA", "PESSOA_FISICA", 10_000)],
            ipoc_tag: "WC",
        },
    )
}

pub fn vehicle_financing(owner: &str, key: &str) -> SeedProduct {
    contract(
        owner,
        Terms {
            key: key.into(),
            kind: "FINANCING",
            product_type: "FINANCIAMENTOS",
            product_sub_type: "AQUISICAO_BENS_VEICULOS_AUTOMOTORES",
            category: None,
            product_name: "Financiamento de Veículos Aberta",
            label: "Financiamento de veículo",
            amount_cents: 6_200_000,
            instalments: 48,
            monthly_rate: 0.0145,
            annual_rate: "0.188700",
            cet: "0.205300",
            amortization: "PRICE",
            signed_days_ago: 390,
            warranties: vec![("ALIENACAO_FIDUCIARIA", "VEICULOS_AUTOMOTORES", 7_800_000)],
            ipoc_tag: "FV",
        },
    )
}

pub fn home_financing(owner: &str, key: &str) -> SeedProduct {
    contract(
        owner,
        Terms {
            key: key.into(),
            kind: "FINANCING",
            product_type: "FINANCIAMENTOS_IMOBILIARIOS",
            product_sub_type: "FINANCIAMENTO_HABITACIONAL_SFH",
            category: None,
            product_name: "Crédito Imobiliário Aberta",
            label: "Financiamento imobiliário",
            amount_cents: 42_000_000,
            instalments: 360,
            monthly_rate: 0.0089,
            annual_rate: "0.112000",
            cet: "0.124000",
            amortization: "PRICE",
            signed_days_ago: 730,
            warranties: vec![("HIPOTECA", "PRIMEIRO_GRAU_IMOVEIS_RESIDENCIAIS", 55_000_000)],
            ipoc_tag: "FH",
        },
    )
}

pub fn cheque_discount(owner: &str, key: &str) -> SeedProduct {
    contract(
        owner,
        Terms {
            key: key.into(),
            kind: "INVOICE_FINANCING",
            product_type: "DIREITOS_CREDITORIOS_DESCONTADOS",
            product_sub_type: "DESCONTO_CHEQUES",
            category: None,
            product_name: "Desconto de Cheques Aberta",
            label: "Desconto de cheques",
            amount_cents: 480_000,
            instalments: 3,
            monthly_rate: 0.0229,
            annual_rate: "0.312000",
            cet: "0.335000",
            amortization: "PRICE",
            signed_days_ago: 50,
            warranties: vec![("CESSAO_DIREITOS_CREDITORIOS", "CHEQUES", 480_000)],
            ipoc_tag: "DC",
        },
    )
}

pub fn duplicate_discount(owner: &str, key: &str) -> SeedProduct {
    contract(
        owner,
        Terms {
            key: key.into(),
            kind: "INVOICE_FINANCING",
            product_type: "DIREITOS_CREDITORIOS_DESCONTADOS",
            product_sub_type: "DESCONTO_DUPLICATAS",
            category: None,
            product_name: "Desconto de Duplicatas Aberta Empresas",
            label: "Desconto de duplicatas",
            amount_cents: 2_600_000,
            instalments: 4,
            monthly_rate: 0.0189,
            annual_rate: "0.252000",
            cet: "0.271000",
            amortization: "PRICE",
            signed_days_ago: 70,
            warranties: vec![("CESSAO_DIREITOS_CREDITORIOS", "DUPLICATAS", 2_600_000)],
            ipoc_tag: "DD",
        },
    )
}

pub fn overdraft(owner: &str, key: &str) -> SeedProduct {
    contract(
        owner,
        Terms {
            key: key.into(),
            kind: "UNARRANGED_ACCOUNT_OVERDRAFT",
            product_type: "ADIANTAMENTO_A_DEPOSITANTES",
            product_sub_type: "ADIANTAMENTO_A_DEPOSITANTES",
            category: None,
            product_name: "Adiantamento a Depositante",
            label: "Adiantamento a depositante",
            amount_cents: 73_500,
            instalments: 0,
            monthly_rate: 0.0799,
            annual_rate: "1.514000",
            cet: "1.602000",
            amortization: "SEM_SISTEMA_AMORTIZACAO",
            signed_days_ago: 18,
            warranties: vec![("OUTRAS_GARANTIAS_NAO_FIDEJUSSORIAS", "OUTROS", 73_500)],
            ipoc_tag: "AD",
        },
    )
}
