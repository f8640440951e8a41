//! Pagination keys (`pagination-key`, "identificador de rechamada"): every page of a list
//! carries one in its links, and a call that presents it back is a re-call the operational
//! limits do not count. A key is a MAC over who may present it and when it was issued, under
//! the key ring's index key, so any instance verifies it without shared state, and a receiver
//! cannot make one up to page for free.

use std::sync::Arc;

use aberta_store::KeyRing;

/// How long a list's key keeps its re-calls free.
const VALID_FOR_S: i64 = 3600;
/// Clock difference between instances a key issued "in the future" is forgiven.
const SKEW_S: i64 = 60;
/// Characters of the MAC kept in the key (22 base64url characters = 132 bits).
const MAC_CHARS: usize = 22;

/// Whom a key is issued to: one client, one consent, one operation on one resource.
#[derive(Debug, Clone, Copy)]
pub struct RecallScope<'a> {
    pub brand: &'a str,
    pub client_id: &'a str,
    pub consent_id: &'a str,
    pub operation_id: &'a str,
    pub resource_id: &'a str,
}

#[derive(Clone)]
pub struct RecallKeys {
    keyring: Arc<KeyRing>,
}

impl std::fmt::Debug for RecallKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecallKeys").finish_non_exhaustive()
    }
}

impl RecallKeys {
    pub fn new(keyring: Arc<KeyRing>) -> Self {
        Self { keyring }
    }

    /// A key for `scope`, issued at `now` (unix seconds): `<issued, hex>.<mac>`.
    pub fn issue(&self, scope: &RecallScope<'_>, now: i64) -> String {
        format!("{now:x}.{}", self.mac(scope, now))
    }

    /// Whether `key` was issued for `scope` and is still valid at `now`.
    pub fn verify(&self, key: &str, scope: &RecallScope<'_>, now: i64) -> bool {
        let Some((issued, mac)) = key.split_once('.') else {
            return false;
        };
        let Ok(issued) = i64::from_str_radix(issued, 16) else {
            return false;
        };
        let age = now - issued;
        if !(-SKEW_S..=VALID_FOR_S).contains(&age) {
            return false;
        }
        equal_in_constant_time(mac.as_bytes(), self.mac(scope, issued).as_bytes())
    }

    fn mac(&self, scope: &RecallScope<'_>, issued: i64) -> String {
        let message = format!(
            "pagination-key\n{}\n{}\n{}\n{}\n{}\n{issued}",
            scope.brand, scope.client_id, scope.consent_id, scope.operation_id, scope.resource_id
        );
        let mut mac = self.keyring.blind_index(&message);
        mac.truncate(MAC_CHARS);
        mac
    }
}

fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn keys() -> RecallKeys {
        RecallKeys::new(Arc::new(KeyRing::generate().unwrap()))
    }

    fn scope() -> RecallScope<'static> {
        RecallScope {
            brand: "bank",
            client_id: "client-1",
            consent_id: "urn:bank:c1",
            operation_id: "accountsGetAccountsAccountIdTransactions",
            resource_id: "acc-1",
        }
    }

    #[test]
    fn a_key_is_good_for_its_own_scope_within_the_hour() {
        let keys = keys();
        let key = keys.issue(&scope(), NOW);
        assert!(keys.verify(&key, &scope(), NOW));
        assert!(keys.verify(&key, &scope(), NOW + VALID_FOR_S));
        assert!(!keys.verify(&key, &scope(), NOW + VALID_FOR_S + 1));
        assert!(!keys.verify(&key, &scope(), NOW - SKEW_S - 1));
    }

    #[test]
    fn a_key_is_no_good_elsewhere_or_altered() {
        let keys = keys();
        let key = keys.issue(&scope(), NOW);
        let others = [
            RecallScope {
                client_id: "client-2",
                ..scope()
            },
            RecallScope {
                consent_id: "urn:bank:c2",
                ..scope()
            },
            RecallScope {
                operation_id: "accountsGetAccounts",
                ..scope()
            },
            RecallScope {
                resource_id: "acc-2",
                ..scope()
            },
            RecallScope {
                brand: "other",
                ..scope()
            },
        ];
        for other in &others {
            assert!(!keys.verify(&key, other, NOW), "{other:?}");
        }
        // A later issue date on the same MAC, a cut MAC, garbage.
        let (_, mac) = key.split_once('.').unwrap();
        assert!(!keys.verify(&format!("{:x}.{mac}", NOW + 1), &scope(), NOW));
        assert!(!keys.verify(&key[..key.len() - 1], &scope(), NOW));
        assert!(!keys.verify("anything", &scope(), NOW));
        assert!(!keys.verify("", &scope(), NOW));
        // Another key ring does not accept it either.
        assert!(!self::keys().verify(&key, &scope(), NOW));
    }
}
