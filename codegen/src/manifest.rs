//! `specs/manifest.toml`: which official documents the project implements, and where to read
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;

/// One pinned official document.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpecEntry {
    pub api: String,
    pub version: String,
    pub url: String,
    pub sha256: String,
}

impl SpecEntry {
    /// The file's path below a specs directory: `<api>/<version>.yml`.
    pub fn relative_path(&self) -> PathBuf {
        Path::new(&self.api).join(format!("{}.yml", self.version))
    }

    pub fn major(&self) -> u64 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    fn version_key(&self) -> Vec<u64> {
        self.version
            .split(['.', '-'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "spec")]
    pub specs: Vec<SpecEntry>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| Error::Manifest {
            file: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for spec in &manifest.specs {
            if !seen.insert((spec.api.clone(), spec.version.clone())) {
                return Err(Error::Manifest {
                    file: path.to_path_buf(),
                    reason: format!("{} {} is listed twice", spec.api, spec.version),
                });
            }
        }
        Ok(manifest)
    }

    /// The document each generated crate comes from: per API and major version, the highest
    /// version listed. Ordered by crate name, so output is deterministic.
    pub fn generation_targets(&self) -> Vec<&SpecEntry> {
        let mut best: BTreeMap<(String, u64), &SpecEntry> = BTreeMap::new();
        for spec in &self.specs {
            let key = (spec.api.clone(), spec.major());
            match best.get(&key) {
                Some(current) if current.version_key() >= spec.version_key() => {}
                _ => {
                    best.insert(key, spec);
                }
            }
        }
        best.into_values().collect()
    }
}

/// Where the official documents are read from, in order: `$ABERTA_SPECS_DIR`, the shared
/// folder beside the checkout (`../shared/specs`), then `specs/fetched` (filled by
/// `cargo xtask specs fetch`). The first that exists wins.
pub fn specs_dir(workspace: &Path) -> Result<PathBuf, Error> {
    let candidates = specs_dir_candidates(workspace);
    candidates
        .iter()
        .find(|dir| dir.is_dir())
        .cloned()
        .ok_or(Error::NoSpecsDir { tried: candidates })
}

pub fn specs_dir_candidates(workspace: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os("ABERTA_SPECS_DIR") {
        out.push(PathBuf::from(dir));
        return out;
    }
    out.push(workspace.join("../shared/specs"));
    out.push(fetched_dir(workspace));
    out
}

/// The git-ignored folder `cargo xtask specs fetch` writes to.
pub fn fetched_dir(workspace: &Path) -> PathBuf {
    workspace.join("specs/fetched")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The outcome of checking one document against its pinned hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Missing,
    Differs { actual: String },
}

pub fn verify(entry: &SpecEntry, dir: &Path) -> Verdict {
    match std::fs::read(dir.join(entry.relative_path())) {
        Err(_) => Verdict::Missing,
        Ok(bytes) => {
            let actual = sha256_hex(&bytes);
            if actual == entry.sha256 {
                Verdict::Ok
            } else {
                Verdict::Differs { actual }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(api: &str, version: &str) -> SpecEntry {
        SpecEntry {
            api: api.into(),
            version: version.into(),
            url: String::new(),
            sha256: String::new(),
        }
    }

    #[test]
    fn highest_version_of_each_major_is_generated() {
        let manifest = Manifest {
            specs: vec![
                entry("consents", "3.2.0"),
                entry("consents", "3.10.0"),
                entry("consents", "2.9.9"),
                entry("accounts", "2.4.2"),
            ],
        };
        let targets: Vec<_> = manifest
            .generation_targets()
            .into_iter()
            .map(|e| format!("{} {}", e.api, e.version))
            .collect();
        assert_eq!(
            targets,
            ["accounts 2.4.2", "consents 2.9.9", "consents 3.10.0"]
        );
    }
}
