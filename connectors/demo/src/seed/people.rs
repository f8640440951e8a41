//! The bank's customers: four people (the sandbox's users) and two businesses, with the
//! customers API documents built from them and from their products.

use serde_json::{Value, json};

use super::util::{BRAND_NAME, HOLDER_CNPJ, money, stable_id};
use super::{SeedCustomer, SeedProduct, section};
use crate::dates::{NOW, at, day};

/// A person who can log in (username = CPF).
pub struct Person {
    pub key: &'static str,
    pub cpf: &'static str,
    pub name: &'static str,
    pub password: &'static str,
    pub birth_date: &'static str,
    pub sex: &'static str,
    pub marital: &'static str,
    pub mother: &'static str,
    pub email: &'static str,
    pub mobile: (&'static str, &'static str),
    pub address: Address,
    pub occupation: &'static str,
    pub income_cents: i64,
    pub patrimony_cents: i64,
    /// Keys of the businesses this person represents.
    pub represents: &'static [&'static str],
}

/// A business customer, acted for by one of the people.
pub struct Business {
    pub key: &'static str,
    pub cnpj: &'static str,
    pub company_name: &'static str,
    pub trade_name: &'static str,
    pub representative: &'static str,
    pub shareholding: &'static str,
    pub activity_code: &'static str,
    pub revenue_cents: i64,
    pub patrimony_cents: i64,
    pub email: &'static str,
    pub phone: (&'static str, &'static str),
    pub address: Address,
    pub founded_days_ago: i32,
}

pub struct Address {
    pub street: &'static str,
    pub district: &'static str,
    pub town: &'static str,
    pub ibge: &'static str,
    pub uf: &'static str,
    pub post_code: &'static str,
}

/// The people. Maria and João are the sandbox's original users; their CPFs and passwords
/// are fixed by the ecosystem seed and its tests.
pub static PEOPLE: &[Person] = &[
    Person {
        key: "maria",
        cpf: "76109277673",
        name: "Maria Souza",
        password: "aberta-demo-1",
        birth_date: "1986-04-12",
        sex: "FEMININO",
        marital: "CASADO",
        mother: "Helena Souza",
        email: "maria.souza@example.com",
        mobile: ("11", "987654321"),
        address: Address {
            street: "Rua Harmonia, 412, ap 31",
            district: "Vila Madalena",
            town: "São Paulo",
            ibge: "3550308",
            uf: "SP",
            post_code: "05435000",
        },
        occupation: "Designer gráfica",
        income_cents: 1_450_000,
        patrimony_cents: 42_000_000,
        represents: &["souza-design"],
    },
    Person {
        key: "joao",
        cpf: "52960092087",
        name: "João Pereira",
        password: "aberta-demo-2",
        birth_date: "1979-11-03",
        sex: "MASCULINO",
        marital: "SOLTEIRO",
        mother: "Rosa Pereira",
        email: "joao.pereira@example.com",
        mobile: ("21", "998877665"),
        address: Address {
            street: "Avenida Atlântica, 1702",
            district: "Copacabana",
            town: "Rio de Janeiro",
            ibge: "3304557",
            uf: "RJ",
            post_code: "22021001",
        },
        occupation: "Professor",
        income_cents: 680_000,
        patrimony_cents: 9_500_000,
        represents: &[],
    },
    Person {
        key: "ana",
        cpf: "31845706226",
        name: "Ana Oliveira",
        password: "aberta-demo-3",
        birth_date: "1992-07-25",
        sex: "FEMININO",
        marital: "SOLTEIRO",
        mother: "Lucia Oliveira",
        email: "ana.oliveira@example.com",
        mobile: ("31", "991234567"),
        address: Address {
            street: "Rua da Bahia, 1148",
            district: "Centro",
            town: "Belo Horizonte",
            ibge: "3106200",
            uf: "MG",
            post_code: "30160011",
        },
        occupation: "Engenheira civil",
        income_cents: 1_120_000,
        patrimony_cents: 31_000_000,
        represents: &[],
    },
    Person {
        key: "carlos",
        cpf: "64319057848",
        name: "Carlos Lima",
        password: "aberta-demo-4",
        birth_date: "1975-02-14",
        sex: "MASCULINO",
        marital: "CASADO",
        mother: "Teresa Lima",
        email: "carlos.lima@example.com",
        mobile: ("41", "996655443"),
        address: Address {
            street: "Rua XV de Novembro, 700",
            district: "Centro",
            town: "Curitiba",
            ibge: "4106902",
            uf: "PR",
            post_code: "80020310",
        },
        occupation: "Empresário",
        income_cents: 2_300_000,
        patrimony_cents: 120_000_000,
        represents: &["lima-alimentos"],
    },
];

pub static BUSINESSES: &[Business] = &[
    Business {
        key: "souza-design",
        cnpj: "34567890000130",
        company_name: "Souza Design Gráfico Ltda",
        trade_name: "Souza Design",
        representative: "maria",
        shareholding: "1.000000",
        activity_code: "7410202",
        revenue_cents: 84_000_000,
        patrimony_cents: 25_000_000,
        email: "contato@souzadesign.example.com",
        phone: ("11", "30304040"),
        address: Address {
            street: "Rua Fradique Coutinho, 980, sala 4",
            district: "Pinheiros",
            town: "São Paulo",
            ibge: "3550308",
            uf: "SP",
            post_code: "05416001",
        },
        founded_days_ago: 2900,
    },
    Business {
        key: "lima-alimentos",
        cnpj: "45678901000175",
        company_name: "Lima Comércio de Alimentos Ltda",
        trade_name: "Empório Lima",
        representative: "carlos",
        shareholding: "0.700000",
        activity_code: "4721102",
        revenue_cents: 310_000_000,
        patrimony_cents: 95_000_000,
        email: "financeiro@emporiolima.example.com",
        phone: ("41", "32225566"),
        address: Address {
            street: "Avenida Sete de Setembro, 2450",
            district: "Rebouças",
            town: "Curitiba",
            ibge: "4106902",
            uf: "PR",
            post_code: "80230010",
        },
        founded_days_ago: 5200,
    },
];

/// The stable customer id for a seed key.
pub fn customer_id(key: &str) -> String {
    stable_id(&format!("customer/{key}"))
}

fn person(key: &str) -> Option<&'static Person> {
    PEOPLE.iter().find(|p| p.key == key)
}

fn postal_address(address: &Address) -> Value {
    json!({
        "isMain": true,
        "address": address.street,
        "districtName": address.district,
        "townName": address.town,
        "ibgeTownCode": address.ibge,
        "countrySubDivision": address.uf,
        "postCode": address.post_code,
        "country": "Brasil",
        "countryCode": "BRA",
    })
}

/// The product types a customer's financial relations list.
fn product_service_types(products: &[&SeedProduct]) -> Vec<&'static str> {
    let mut types = Vec::new();
    for product in products {
        let kind = match product.kind {
            "ACCOUNT" => product.account_type.unwrap_or("OUTROS"),
            "CREDIT_CARD_ACCOUNT" => "CARTAO_CREDITO",
            _ => "OPERACAO_CREDITO",
        };
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    types
}

/// The accounts a customer's financial relations list (the detail without currency).
fn relation_accounts(products: &[&SeedProduct]) -> Vec<Value> {
    products
        .iter()
        .filter(|p| p.kind == "ACCOUNT" && p.status == "AVAILABLE")
        .map(|p| {
            let detail = &p.body[section::DETAIL];
            json!({
                "compeCode": detail["compeCode"],
                "branchCode": detail["branchCode"],
                "number": detail["number"],
                "checkDigit": detail["checkDigit"],
                "type": detail["type"],
                "subtype": detail["subtype"],
            })
        })
        .collect()
}

pub fn person_customer(person: &Person, all: &[SeedProduct]) -> SeedCustomer {
    let id = customer_id(person.key);
    let products: Vec<&SeedProduct> = all.iter().filter(|p| p.owner_id == id).collect();
    let identification = json!({
        "updateDateTime": at(-40, "09:15:00"),
        "personalId": stable_id(&format!("personal/{}", person.key)),
        "brandName": BRAND_NAME,
        "civilName": person.name,
        "socialName": person.name,
        "birthDate": person.birth_date,
        "maritalStatusCode": person.marital,
        "sex": person.sex,
        "companiesCnpj": [HOLDER_CNPJ],
        "documents": { "cpfNumber": person.cpf },
        "otherDocuments": [{
            "type": "RG",
            "number": format!("{}{}", &person.cpf[..2], &person.cpf[5..11]),
            "checkDigit": "X",
            "additionalInfo": format!("SSP/{}", person.address.uf),
            "expirationDate": day(2400),
        }],
        "hasBrazilianNationality": true,
        "filiation": [{ "type": "MAE", "civilName": person.mother }],
        "contacts": {
            "postalAddresses": [postal_address(&person.address)],
            "phones": [{
                "isMain": true,
                "type": "MOVEL",
                "countryCallingCode": "55",
                "areaCode": person.mobile.0,
                "number": person.mobile.1,
            }],
            "emails": [{ "isMain": true, "email": person.email }],
        },
    });
    let qualification = json!({
        "updateDateTime": at(-40, "09:15:00"),
        "companyCnpj": HOLDER_CNPJ,
        "occupationCode": "OUTRO",
        "occupationDescription": person.occupation,
        "informedIncome": {
            "frequency": "MENSAL",
            "amount": money(person.income_cents),
            "date": day(-120),
        },
        "informedPatrimony": { "amount": money(person.patrimony_cents), "year": 2024 },
    });
    let relations = json!({
        "updateDateTime": NOW,
        "startDate": at(-3100, "10:00:00"),
        "productsServicesType": product_service_types(&products),
        "procurators": [],
        "accounts": relation_accounts(&products),
    });
    SeedCustomer {
        id,
        kind: "PF",
        document: person.cpf.to_string(),
        name: person.name.to_string(),
        password: Some(person.password.to_string()),
        represents: person.represents.iter().map(|k| customer_id(k)).collect(),
        profile: json!({
            "identification": identification,
            "qualification": qualification,
            "financialRelations": relations,
        }),
    }
}

pub fn business_customer(business: &Business, all: &[SeedProduct]) -> SeedCustomer {
    let id = customer_id(business.key);
    let products: Vec<&SeedProduct> = all.iter().filter(|p| p.owner_id == id).collect();
    let partner = person(business.representative);
    let (partner_name, partner_cpf) = partner.map(|p| (p.name, p.cpf)).unwrap_or_default();
    let identification = json!({
        "updateDateTime": at(-25, "14:00:00"),
        "businessId": stable_id(&format!("business/{}", business.key)),
        "brandName": BRAND_NAME,
        "companyName": business.company_name,
        "tradeName": business.trade_name,
        "incorporationDate": at(-business.founded_days_ago, "00:00:00"),
        "cnpjNumber": business.cnpj,
        "companiesCnpj": [HOLDER_CNPJ],
        "otherDocuments": [{
            "type": "INSCRICAO_ESTADUAL",
            "number": format!("{}{}", &business.cnpj[..8], &business.cnpj[12..]),
            "country": "BRA",
        }],
        "parties": [{
            "personType": "PESSOA_NATURAL",
            "type": "SOCIO",
            "civilName": partner_name,
            "socialName": partner_name,
            "startDate": at(-business.founded_days_ago, "00:00:00"),
            "shareholding": business.shareholding,
            "documentType": "CPF",
            "documentNumber": partner_cpf,
            "documentCountry": "BRA",
        }],
        "contacts": {
            "postalAddresses": [postal_address(&business.address)],
            "phones": [{
                "isMain": true,
                "type": "FIXO",
                "countryCallingCode": "55",
                "areaCode": business.phone.0,
                "number": business.phone.1,
            }],
            "emails": [{ "isMain": true, "email": business.email }],
        },
    });
    let qualification = json!({
        "updateDateTime": at(-25, "14:00:00"),
        "economicActivities": [{ "code": business.activity_code, "isMain": true }],
        "informedRevenue": {
            "frequency": "ANUAL",
            "amount": money(business.revenue_cents),
            "year": 2024,
        },
        "informedPatrimony": { "amount": money(business.patrimony_cents), "date": day(-200) },
    });
    let relations = json!({
        "updateDateTime": NOW,
        "startDate": at(-business.founded_days_ago + 30, "10:00:00"),
        "productsServicesType": product_service_types(&products),
        "procurators": [{
            "type": "REPRESENTANTE_LEGAL",
            "cnpjCpfNumber": partner_cpf,
            "civilName": partner_name,
        }],
        "accounts": relation_accounts(&products),
    });
    SeedCustomer {
        id,
        kind: "PJ",
        document: business.cnpj.to_string(),
        name: business.company_name.to_string(),
        password: None,
        represents: Vec::new(),
        profile: json!({
            "identification": identification,
            "qualification": qualification,
            "financialRelations": relations,
        }),
    }
}
