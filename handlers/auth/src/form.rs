//! `application/x-www-form-urlencoded` bodies with the OAuth rule that no parameter repeats.

use std::collections::HashMap;

use crate::error::OAuthError;

/// Parses a form body; a repeated parameter is `invalid_request` (RFC 6749 §3.1).
pub fn parse(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the body is not a valid form"))?;
    let mut map = HashMap::with_capacity(pairs.len());
    for (key, value) in pairs {
        if map.insert(key.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter '{key}' is repeated"
            )));
        }
    }
    Ok(map)
}

/// A required, non-empty parameter.
pub fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    match form.get(name).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(OAuthError::invalid_request(format!("'{name}' is required"))),
    }
}
