//! The admin credential of the simulators: a random bearer token kept in `<data>/admin-token`
//! (owner-readable only), required by every `/admin` call.

use std::path::{Path, PathBuf};

use poem::Response;
use poem::http::{HeaderMap, StatusCode};

use crate::error::Result;
use crate::{files, http_error};

pub fn admin_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}

/// Reads the admin token, creating it on first use.
pub fn load_or_create_admin_token(data_dir: &Path) -> Result<String> {
    let path = admin_token_path(data_dir);
    if path.exists() {
        return Ok(files::read_string(&path)?.trim().to_string());
    }
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    files::write_atomic(&path, token.as_bytes())?;
    Ok(token)
}

/// `Err` is the 401 to send back.
pub(crate) fn check_admin(
    headers: &HeaderMap,
    expected: &str,
) -> std::result::Result<(), Response> {
    let presented = headers
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq(presented.trim().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(http_error::ofb(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the admin token is missing or wrong",
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
