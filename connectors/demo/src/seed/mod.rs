//! The demo bank's customers and products, built deterministically in code and written once
//! by the migration. Everything here is plain data: [`crate::storage`] seals it on the way in.
//!
//! Dates are tokens relative to today ([`crate::dates`]); amounts are in BRL. The same data
//! serves every brand of the platform.

mod accounts;
mod cards;
mod credit;
mod people;
pub mod util;

use serde_json::Value;

pub use people::{BUSINESSES, Business, PEOPLE, Person};

/// Everything the migration writes.
pub struct SeedBank {
    pub customers: Vec<SeedCustomer>,
    pub products: Vec<SeedProduct>,
}

/// A customer row before sealing.
pub struct SeedCustomer {
    pub id: String,
    /// `PF` or `PJ`.
    pub kind: &'static str,
    pub document: String,
    pub name: String,
    pub password: Option<String>,
    pub represents: Vec<String>,
    /// `{"identification":…, "qualification":…, "financialRelations":…}`.
    pub profile: Value,
}

/// A product row before sealing, with its paginated entries.
pub struct SeedProduct {
    pub id: String,
    pub owner_id: String,
    /// The resources API type.
    pub kind: &'static str,
    pub account_type: Option<&'static str>,
    pub status: &'static str,
    pub label: String,
    /// Sections by name, each a spec-shaped document.
    pub body: Value,
    pub entries: Vec<SeedEntry>,
}

/// One paginated item under a product.
pub struct SeedEntry {
    pub id: String,
    pub section: &'static str,
    pub parent_id: Option<String>,
    pub day_offset: i32,
    pub tag: Option<String>,
    pub mcc: Option<i64>,
    pub body: Value,
}

/// Section names shared by the seed, the storage and the connectors.
pub mod section {
    pub const LIST: &str = "list";
    pub const DETAIL: &str = "detail";
    pub const BALANCES: &str = "balances";
    pub const OVERDRAFT_LIMITS: &str = "overdraftLimits";
    pub const LIMITS: &str = "limits";
    pub const INSTALMENTS: &str = "instalments";
    pub const PAYMENTS: &str = "payments";
    pub const TRANSACTIONS: &str = "transactions";
    pub const BILLS: &str = "bills";
    pub const WARRANTIES: &str = "warranties";
}

/// Builds the whole bank.
pub fn bank() -> SeedBank {
    let mut products = Vec::new();
    for person in PEOPLE {
        products.extend(person_products(person));
    }
    for business in BUSINESSES {
        products.extend(business_products(business));
    }
    let mut customers = Vec::new();
    for person in PEOPLE {
        customers.push(people::person_customer(person, &products));
    }
    for business in BUSINESSES {
        customers.push(people::business_customer(business, &products));
    }
    SeedBank {
        customers,
        products,
    }
}

fn person_products(person: &Person) -> Vec<SeedProduct> {
    let owner = people::customer_id(person.key);
    match person.key {
        "maria" => vec![
            accounts::account(&owner, "maria-checking", accounts::CHECKING, 42, 1_254_390),
            accounts::account(&owner, "maria-savings", accounts::SAVINGS, 30, 3_870_012),
            accounts::unavailable_prepaid(&owner, "maria-prepaid"),
            cards::card(&owner, "maria-card", cards::PLATINUM),
            credit::personal_loan(&owner, "maria-loan"),
            credit::vehicle_financing(&owner, "maria-financing"),
            credit::cheque_discount(&owner, "maria-invoice"),
            credit::overdraft(&owner, "maria-overdraft"),
        ],
        "joao" => vec![
            accounts::account(&owner, "joao-checking", accounts::CHECKING, 28, 215_033),
            cards::card(&owner, "joao-card", cards::GOLD),
        ],
        "ana" => vec![
            accounts::account(&owner, "ana-checking", accounts::CHECKING, 27, 845_120),
            accounts::account(&owner, "ana-savings", accounts::SAVINGS, 26, 12_400_000),
            credit::home_financing(&owner, "ana-financing"),
        ],
        _ => vec![accounts::account(
            &owner,
            &format!("{}-checking", person.key),
            accounts::CHECKING,
            26,
            402_377,
        )],
    }
}

fn business_products(business: &Business) -> Vec<SeedProduct> {
    let owner = people::customer_id(business.key);
    let key = business.key;
    let mut products = vec![accounts::account(
        &owner,
        &format!("{key}-checking"),
        accounts::CHECKING,
        32,
        9_812_455,
    )];
    if key == "souza-design" {
        products.push(credit::duplicate_discount(&owner, "souza-design-invoice"));
        products.push(credit::working_capital(&owner, "souza-design-loan"));
    } else {
        products.push(cards::card(&owner, &format!("{key}-card"), cards::BUSINESS));
        products.push(credit::overdraft(&owner, &format!("{key}-overdraft")));
    }
    products
}

#[cfg(test)]
mod tests {
    use super::util::{cnpj_is_valid, cpf_is_valid};
    use super::*;

    /// João's CPF predates the seed (the sandbox's tests use it) and its check digits do not
    /// hold; every other document the bank holds or shows must be valid.
    const GRANDFATHERED: &str = "52960092087";

    fn documents(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    let is_document = matches!(
                        key.as_str(),
                        "partieCnpjCpf"
                            | "cpfNumber"
                            | "cnpjNumber"
                            | "documentNumber"
                            | "cnpjCpfNumber"
                            | "companyCnpj"
                    );
                    match item {
                        Value::String(text) if is_document => out.push(text.clone()),
                        Value::Array(items) if key == "companiesCnpj" => {
                            out.extend(items.iter().filter_map(|i| i.as_str().map(str::to_string)))
                        }
                        other => documents(other, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| documents(i, out)),
            _ => {}
        }
    }

    #[test]
    fn every_document_has_valid_check_digits() {
        let bank = bank();
        let mut found: Vec<String> = bank.customers.iter().map(|c| c.document.clone()).collect();
        for c in &bank.customers {
            documents(&c.profile, &mut found);
        }
        for p in &bank.products {
            documents(&p.body, &mut found);
            for e in &p.entries {
                documents(&e.body, &mut found);
            }
        }
        assert!(found.len() > 100);
        for doc in found.iter().filter(|d| d.as_str() != GRANDFATHERED) {
            let valid = match doc.len() {
                11 => cpf_is_valid(doc),
                14 => cnpj_is_valid(doc),
                _ => false,
            };
            assert!(valid, "invalid document {doc}");
        }
    }

    #[test]
    fn the_seed_is_deterministic() {
        let (a, b) = (bank(), bank());
        assert_eq!(a.products.len(), b.products.len());
        for (x, y) in a.products.iter().zip(&b.products) {
            assert_eq!(x.id, y.id);
            assert_eq!(x.body, y.body);
            assert_eq!(x.entries.len(), y.entries.len());
        }
    }
}
