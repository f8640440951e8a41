//! Small deterministic helpers the seed builders share: ids, documents, money, a PRNG.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The institution every product belongs to (the sandbox's holder organisation).
pub const BRAND_NAME: &str = "Banco Aberta Demo";
pub const HOLDER_CNPJ: &str = "11222333000181";
pub const COMPE_CODE: &str = "999";
pub const BRANCH_CODE: &str = "0001";

/// An id that is the same on every install (resource ids are kept stable so scripts and
/// docs can name them) and reveals nothing about its owner: a UUID-shaped digest of `key`.
pub fn stable_id(key: &str) -> String {
    let hash = Sha256::digest(format!("aberta-demo-bank:{key}").as_bytes());
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Appends the two CPF check digits to nine digits.
pub fn cpf_with_check_digits(base: &str) -> String {
    let mut digits: Vec<u32> = base.chars().filter_map(|c| c.to_digit(10)).collect();
    for _ in 0..2 {
        let weight_start = digits.len() as u32 + 1;
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (weight_start - i as u32))
            .sum();
        digits.push((sum * 10) % 11 % 10);
    }
    digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

/// Appends the two CNPJ check digits to twelve digits.
pub fn cnpj_with_check_digits(base: &str) -> String {
    const WEIGHTS: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    let mut digits: Vec<u32> = base.chars().filter_map(|c| c.to_digit(10)).collect();
    for _ in 0..2 {
        let weights = &WEIGHTS[13 - digits.len()..];
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        let rest = sum % 11;
        digits.push(if rest < 2 { 0 } else { 11 - rest });
    }
    digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

/// Do a CPF's check digits hold?
pub fn cpf_is_valid(cpf: &str) -> bool {
    cpf.len() == 11 && cpf_with_check_digits(&cpf[..9]) == cpf
}

/// Do a CNPJ's check digits hold?
pub fn cnpj_is_valid(cnpj: &str) -> bool {
    cnpj.len() == 14 && cnpj_with_check_digits(&cnpj[..12]) == cnpj
}

/// Cents as the specs write amounts: `1234.56`.
pub fn brl(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// `{"amount": .., "currency": "BRL"}`.
pub fn money(cents: i64) -> Value {
    json!({ "amount": brl(cents), "currency": "BRL" })
}

/// SplitMix64: tiny, deterministic, good enough for plausible amounts and picks.
pub struct Rng(u64);

impl Rng {
    pub fn new(key: &str) -> Self {
        let hash = Sha256::digest(key.as_bytes());
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&hash[..8]);
        Self(u64::from_le_bytes(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `low..=high`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        let span = (high - low + 1).max(1) as u64;
        low + (self.next_u64() % span) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// `n` random digits.
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next_u64() % 10) as u8))
            .collect()
    }

    /// A valid CPF nobody in the seed owns (a transfer's counterparty).
    pub fn cpf(&mut self) -> String {
        cpf_with_check_digits(&self.digits(9))
    }

    /// A valid CNPJ of a head office (`0001`).
    pub fn cnpj(&mut self) -> String {
        cnpj_with_check_digits(&format!("{}0001", self.digits(8)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_match_known_documents() {
        assert!(cpf_is_valid("76109277673"));
        assert!(cnpj_is_valid(HOLDER_CNPJ));
        assert!(!cpf_is_valid("76109277674"));
        assert_eq!(brl(-1234), "-12.34");
        assert_eq!(brl(5), "0.05");
    }

    #[test]
    fn ids_are_stable_and_spec_shaped() {
        assert_eq!(stable_id("x"), stable_id("x"));
        assert_ne!(stable_id("x"), stable_id("y"));
        assert_eq!(stable_id("x").len(), 36);
    }
}
