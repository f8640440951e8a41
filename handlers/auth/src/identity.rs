//! Who the end user is: the [`IdentityConnector`] the portal logs in through (the institution's
//! identity provider in production), and [`StaticUsers`], the sandbox's test users.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::AuthError;

/// An authenticated end user. `Debug` hides the documents.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndUser {
    /// Stable, never reassigned, not the CPF: the id_token `sub`.
    pub subject: String,
    pub cpf: String,
    /// CNPJs of the businesses this user may act for.
    pub cnpjs: Vec<String>,
    pub name: String,
    /// The assurance level the login achieved (`urn:brasil:openbanking:loa2` for one factor,
    /// `…:loa3` for two).
    #[serde(default = "single_factor")]
    pub acr: String,
}

fn single_factor() -> String {
    crate::request_object::LOA2.to_string()
}

impl std::fmt::Debug for EndUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndUser")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// An account the user can pick on the consent screen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserAccount {
    pub id: String,
    pub label: String,
}

/// The institution's identity provider.
#[async_trait]
pub trait IdentityConnector: Send + Sync + 'static {
    /// `None` for wrong credentials.
    async fn authenticate(
        &self,
        brand: &str,
        username: &str,
        password: &str,
    ) -> Result<Option<EndUser>, AuthError>;

    /// The accounts the user holds at the brand.
    async fn accounts(&self, brand: &str, user: &EndUser) -> Result<Vec<UserAccount>, AuthError>;
}

/// A fixed list of users (the sandbox's): username = CPF.
#[derive(Clone)]
pub struct StaticUsers {
    users: Vec<(String, String, String)>,
}

impl std::fmt::Debug for StaticUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticUsers")
            .field("count", &self.users.len())
            .finish()
    }
}

impl StaticUsers {
    /// `(cpf, password, name)` triples.
    pub fn new(users: Vec<(String, String, String)>) -> Self {
        Self { users }
    }

    fn subject(cpf: &str) -> String {
        format!(
            "user-{}",
            &crate::crypto::digest(&format!("aberta-sub:{cpf}"))[..22]
        )
    }
}

#[async_trait]
impl IdentityConnector for StaticUsers {
    async fn authenticate(
        &self,
        _brand: &str,
        username: &str,
        password: &str,
    ) -> Result<Option<EndUser>, AuthError> {
        let username: String = username.chars().filter(char::is_ascii_digit).collect();
        Ok(self
            .users
            .iter()
            .find(|(cpf, pw, _)| *cpf == username && pw.as_bytes() == password.as_bytes())
            .map(|(cpf, _, name)| EndUser {
                subject: Self::subject(cpf),
                cpf: cpf.clone(),
                cnpjs: vec![],
                name: name.clone(),
                acr: single_factor(),
            }))
    }

    async fn accounts(&self, _brand: &str, user: &EndUser) -> Result<Vec<UserAccount>, AuthError> {
        let suffix = &user.cpf[user.cpf.len().saturating_sub(4)..];
        Ok(vec![
            UserAccount {
                id: format!("acc-{}-checking", user.subject),
                label: format!("Conta corrente final {suffix}"),
            },
            UserAccount {
                id: format!("acc-{}-savings", user.subject),
                label: format!("Poupança final {suffix}"),
            },
        ])
    }
}
