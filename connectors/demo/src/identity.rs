//! The bank's identity provider for the consent portal: people log in with their CPF and
//! password, and pick among their own products and those of the businesses they represent.

use aberta_auth::AuthError;
use aberta_auth::identity::{EndUser, IdentityConnector, UserAccount};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::DemoBank;
use crate::error::DemoError;

/// One-factor login (the portal asks for a password only).
const LOA2: &str = "urn:brasil:openbanking:loa2";

/// The login subject for a CPF: the same derivation as the sandbox's `StaticUsers`, so a
/// sandbox that moves from the static list to the demo bank keeps its users' subjects.
pub(crate) fn subject_of(cpf: &str) -> String {
    let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("aberta-sub:{cpf}").as_bytes()));
    format!("user-{}", &digest[..22])
}

/// A demo-grade password hash: SHA-256 salted with the subject. A real bank keeps passwords
/// in its identity provider, never in a connector.
pub(crate) fn password_hash(subject: &str, password: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!("aberta-demo-bank:{subject}:{password}").as_bytes(),
    ))
}

/// Compares without stopping at the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn store_error(err: DemoError) -> AuthError {
    match err {
        DemoError::Store(err) => AuthError::Store(err),
        other => AuthError::Config(format!("demo bank: {other}")),
    }
}

impl DemoBank {
    async fn login(&self, username: &str, password: &str) -> Result<Option<EndUser>, DemoError> {
        let cpf: String = username.chars().filter(char::is_ascii_digit).collect();
        if cpf.len() != 11 {
            return Ok(None);
        }
        let Some(row) = self.storage.customer_by_document(&cpf).await? else {
            return Ok(None);
        };
        let expected = row.password_hash.as_deref().unwrap_or_default();
        if row.kind != "PF" || !same(expected, &password_hash(&row.subject, password)) {
            return Ok(None);
        }
        let mut cnpjs = Vec::new();
        for business_id in row.represents.split_whitespace() {
            if let Some(business) = self.storage.customer(business_id).await? {
                cnpjs.push(self.storage.customer_document(&business)?);
            }
        }
        Ok(Some(EndUser {
            subject: row.subject.clone(),
            cpf,
            cnpjs,
            name: self.storage.customer_name(&row)?,
            acr: LOA2.to_string(),
        }))
    }

    /// Every product of the user and of the businesses they represent, unavailable ones
    /// included (the consent may link them; the resources API then reports their status).
    async fn choices(&self, user: &EndUser) -> Result<Vec<UserAccount>, DemoError> {
        let mut owners = Vec::new();
        if let Some(person) = self.storage.customer_by_document(&user.cpf).await? {
            owners.push((person, None));
        }
        for cnpj in &user.cnpjs {
            if let Some(business) = self.storage.customer_by_document(cnpj).await? {
                let name = self.storage.customer_name(&business)?;
                owners.push((business, Some(name)));
            }
        }
        let mut out = Vec::new();
        for (owner, business_name) in owners {
            for product in self.storage.products(&owner.id, None, None).await? {
                let label = self.storage.product_label(&product)?;
                out.push(UserAccount {
                    id: product.id.clone(),
                    label: match &business_name {
                        Some(name) => format!("{name} · {label}"),
                        None => label,
                    },
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl IdentityConnector for DemoBank {
    async fn authenticate(
        &self,
        _brand: &str,
        username: &str,
        password: &str,
    ) -> Result<Option<EndUser>, AuthError> {
        self.login(username, password).await.map_err(store_error)
    }

    async fn accounts(&self, _brand: &str, user: &EndUser) -> Result<Vec<UserAccount>, AuthError> {
        self.choices(user).await.map_err(store_error)
    }
}
