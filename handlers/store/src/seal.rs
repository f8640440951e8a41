//! Encryption at rest: [`KeyRing`] seals personal data with AES-256-GCM under the current key
//! and opens it under whichever key sealed it, so keys rotate without rewriting old rows; a
//! keyed hash ([`KeyRing::blind_index`]) stands in for a column that must be searchable.
//!
//! A sealed value reads `<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`. The caller names the
//! column it writes as associated data, so a value copied into another column does not open.

use std::collections::BTreeMap;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// The environment variable holding a key ring's JSON in production.
pub const KEYRING_ENV: &str = "ABERTA_KEYRING";

/// Data keys by id, the one new values are sealed under, and the index key.
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, LessSafeKey>,
    index: hmac::Key,
    stored: StoredKeyRing,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The JSON form: `{"current":"k1","keys":{"k1":"<base64url 32 bytes>"},"index":"<…>"}`.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKeyRing {
    current: String,
    keys: BTreeMap<String, String>,
    index: String,
}

fn crypto_err(what: &str) -> StoreError {
    StoreError::Crypto(what.to_string())
}

fn random_key() -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    rand::fill(&mut key).map_err(|_| crypto_err("no randomness"))?;
    Ok(key)
}

impl KeyRing {
    /// A fresh ring with one data key (`k1`) and an index key.
    pub fn generate() -> Result<Self> {
        let stored = StoredKeyRing {
            current: "k1".to_string(),
            keys: BTreeMap::from([("k1".to_string(), URL_SAFE_NO_PAD.encode(random_key()?))]),
            index: URL_SAFE_NO_PAD.encode(random_key()?),
        };
        Self::from_stored(stored)
    }

    /// Parses the JSON form.
    pub fn from_json(json: &str) -> Result<Self> {
        let stored: StoredKeyRing =
            serde_json::from_str(json).map_err(|e| crypto_err(&format!("key ring JSON: {e}")))?;
        Self::from_stored(stored)
    }

    /// The JSON form, to keep in a secret manager or a file only the service reads.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.stored).unwrap_or_default()
    }

    /// `$ABERTA_KEYRING` when set, otherwise the file at `path`, created with a fresh ring
    /// (mode 0600) when missing: the sandbox's default.
    pub fn from_env_or_file(path: &Path) -> Result<Self> {
        if let Ok(json) = std::env::var(KEYRING_ENV) {
            return Self::from_json(&json);
        }
        match std::fs::read_to_string(path) {
            Ok(json) => Self::from_json(&json),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let ring = Self::generate()?;
                write_private(path, &ring.to_json())?;
                Ok(ring)
            }
            Err(err) => Err(crypto_err(&format!("{}: {err}", path.display()))),
        }
    }

    /// Adds a new data key and makes it current; old values still open.
    pub fn rotate(&mut self) -> Result<String> {
        let id = format!("k{}", self.keys.len() + 1);
        let mut stored = self.stored.clone();
        stored
            .keys
            .insert(id.clone(), URL_SAFE_NO_PAD.encode(random_key()?));
        stored.current = id.clone();
        *self = Self::from_stored(stored)?;
        Ok(id)
    }

    fn from_stored(stored: StoredKeyRing) -> Result<Self> {
        let decode = |value: &str| -> Result<Vec<u8>> {
            let bytes = URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| crypto_err("a key is not base64url"))?;
            if bytes.len() != 32 {
                return Err(crypto_err("a key is not 32 bytes"));
            }
            Ok(bytes)
        };
        let mut keys = BTreeMap::new();
        for (id, value) in &stored.keys {
            if id.is_empty() || id.contains(':') {
                return Err(crypto_err("a key id is empty or holds ':'"));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &decode(value)?)
                .map_err(|_| crypto_err("bad data key"))?;
            keys.insert(id.clone(), LessSafeKey::new(unbound));
        }
        if !keys.contains_key(&stored.current) {
            return Err(crypto_err("the current key id has no key"));
        }
        Ok(Self {
            current: stored.current.clone(),
            keys,
            index: hmac::Key::new(hmac::HMAC_SHA256, &decode(&stored.index)?),
            stored,
        })
    }

    /// Id of the key new values are sealed under.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Encrypts `plaintext` for the column named by `column` (e.g. `consent.logged_user`).
    pub fn seal(&self, column: &str, plaintext: &str) -> Result<String> {
        let key = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce).map_err(|_| crypto_err("no randomness"))?;
        let mut in_out = plaintext.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(column.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| crypto_err("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Ok(format!("{}:{}", self.current, URL_SAFE_NO_PAD.encode(out)))
    }

    /// Decrypts a value [`seal`](Self::seal) made for the same column.
    pub fn open(&self, column: &str, sealed: &str) -> Result<String> {
        let (id, body) = sealed
            .split_once(':')
            .ok_or_else(|| crypto_err("not a sealed value"))?;
        let key = self
            .keys
            .get(id)
            .ok_or_else(|| crypto_err("sealed under an unknown key id"))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| crypto_err("sealed value is not base64url"))?;
        if bytes.len() < NONCE_LEN {
            return Err(crypto_err("sealed value too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| crypto_err("nonce"))?;
        let mut in_out = ciphertext.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(column.as_bytes()), &mut in_out)
            .map_err(|_| crypto_err("sealed value does not open"))?;
        String::from_utf8(plain.to_vec()).map_err(|_| crypto_err("sealed value is not UTF-8"))
    }

    /// [`seal`](Self::seal) for an optional value.
    pub fn seal_opt(&self, column: &str, plaintext: Option<&str>) -> Result<Option<String>> {
        plaintext.map(|p| self.seal(column, p)).transpose()
    }

    /// [`open`](Self::open) for an optional value.
    pub fn open_opt(&self, column: &str, sealed: Option<&str>) -> Result<Option<String>> {
        sealed.map(|s| self.open(column, s)).transpose()
    }

    /// A keyed hash of `value` (base64url HMAC-SHA256 under the index key): equal inputs give
    /// equal outputs, so a column of these can be searched without holding the value.
    pub fn blind_index(&self, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.index, value.as_bytes()).as_ref())
    }
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| crypto_err(&e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| crypto_err(&format!("{}: {e}", path.display())))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| crypto_err(&e.to_string()))
}

/// Whether `presented` is the shared secret `expected` (an internal API's bearer token),
/// compared without an early exit so timing says nothing about it. An empty `expected`
/// admits nobody.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    !expected.is_empty()
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            expected.as_bytes(),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret", "s3creT"));
        assert!(!same_secret("s3cret", "s3cre"));
        assert!(!same_secret("", ""), "an empty secret admits nobody");
    }

    #[test]
    fn sealed_values_open_only_for_their_column() {
        let ring = KeyRing::generate().unwrap();
        let sealed = ring.seal("consent.cpf", "76109277673").unwrap();
        assert!(!sealed.contains("76109277673"));
        assert_eq!(ring.open("consent.cpf", &sealed).unwrap(), "76109277673");
        assert!(ring.open("consent.cnpj", &sealed).is_err());
    }

    #[test]
    fn two_seals_differ_but_blind_indexes_match() {
        let ring = KeyRing::generate().unwrap();
        assert_ne!(ring.seal("c", "x").unwrap(), ring.seal("c", "x").unwrap());
        assert_eq!(ring.blind_index("x"), ring.blind_index("x"));
        assert_ne!(ring.blind_index("x"), ring.blind_index("y"));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let mut ring = KeyRing::generate().unwrap();
        let old = ring.seal("c", "before").unwrap();
        let index = ring.blind_index("v");
        assert_eq!(ring.rotate().unwrap(), "k2");
        let new = ring.seal("c", "after").unwrap();
        assert!(new.starts_with("k2:"));
        let reloaded = KeyRing::from_json(&ring.to_json()).unwrap();
        assert_eq!(reloaded.open("c", &old).unwrap(), "before");
        assert_eq!(reloaded.open("c", &new).unwrap(), "after");
        assert_eq!(reloaded.blind_index("v"), index);
    }

    #[test]
    fn tampered_or_foreign_values_are_refused() {
        let ring = KeyRing::generate().unwrap();
        let other = KeyRing::generate().unwrap();
        let sealed = ring.seal("c", "secret").unwrap();
        assert!(other.open("c", &sealed).is_err());
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(ring.open("c", &String::from_utf8(bytes).unwrap()).is_err());
        assert!(ring.open("c", "nope").is_err());
        assert!(ring.open("c", "k9:AAAA").is_err());
    }
}
