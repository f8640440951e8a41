//! Small file helpers: every piece of state is a file under the data directory, written
//! atomically (temporary file, then rename) so another process never reads half a file.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{EcosystemError, Result};

pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| EcosystemError::io(dir, e))
}

/// Writes `bytes` to `path` through a sibling temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        ensure_dir(parent)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, bytes).map_err(|e| EcosystemError::io(&tmp, e))?;
    restrict(&tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| EcosystemError::io(path, e))
}

/// Private keys and tokens are readable by the owner only.
#[cfg(unix)]
fn restrict(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let name = path.to_string_lossy();
    if name.contains(".key") || name.contains(".jwk") || name.contains("admin-token") {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| EcosystemError::io(path, e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> Result<()> {
    Ok(())
}

pub(crate) fn read_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| EcosystemError::io(path, e))
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| EcosystemError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &bytes)
}

/// As [`write_json`], on one line: for the many small files nobody reads by eye.
pub(crate) fn write_json_compact<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|source| EcosystemError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &bytes)
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| EcosystemError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| EcosystemError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// `Ok(None)` when the file does not exist.
pub(crate) fn read_json_opt<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    read_json(path).map(Some)
}

/// The names of the sub-directories of `dir` (empty when `dir` does not exist).
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<String>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| EcosystemError::io(dir, e))? {
        let entry = entry.map_err(|e| EcosystemError::io(dir, e))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}
