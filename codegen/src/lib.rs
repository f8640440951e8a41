//! The spec pipeline: `specs/manifest.toml` -> official documents -> overlays -> IR -> the crates
//! under `generated/`.
//!
//! The generator works in memory and writes only when every document lowered and rendered, so a
//! failure never leaves half a `generated/`.

pub mod config;
mod emit;
pub mod ir;
pub mod load;
pub mod lower;
pub mod manifest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use emit::PREAMBLE;
use manifest::{Manifest, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", file.display())]
    Manifest { file: PathBuf, reason: String },
    #[error("{}#{pointer}: {reason}", file.display())]
    Spec {
        file: PathBuf,
        pointer: String,
        reason: String,
    },
    #[error("{file}: {reason}")]
    Render { file: String, reason: String },
    #[error("no specs folder found (tried {}); set ABERTA_SPECS_DIR or run `cargo xtask specs fetch`", tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoSpecsDir { tried: Vec<PathBuf> },
    #[error("{}: {api} {version} is missing", file.display())]
    Missing {
        file: PathBuf,
        api: String,
        version: String,
    },
    #[error("{}: sha256 {actual} differs from {expected} in specs/manifest.toml", file.display())]
    HashMismatch {
        file: PathBuf,
        expected: String,
        actual: String,
    },
}

impl Error {
    pub fn io(file: &Path, source: std::io::Error) -> Self {
        Self::Io {
            file: file.to_path_buf(),
            source,
        }
    }

    pub fn spec(file: &Path, pointer: &str, reason: impl Into<String>) -> Self {
        Self::Spec {
            file: file.to_path_buf(),
            pointer: pointer.to_string(),
            reason: reason.into(),
        }
    }
}

/// The paths of one checkout.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// Where the official documents are, when not found the usual way (tests).
    pub specs_override: Option<PathBuf>,
}

impl Workspace {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            specs_override: None,
        }
    }

    pub fn manifest(&self) -> PathBuf {
        self.root.join("specs/manifest.toml")
    }

    pub fn overlays(&self) -> PathBuf {
        self.root.join("specs/overlays")
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("codegen/config.yml")
    }

    pub fn generated(&self) -> PathBuf {
        self.root.join("generated")
    }

    pub fn specs_dir(&self) -> Result<PathBuf, Error> {
        match &self.specs_override {
            Some(dir) => Ok(dir.clone()),
            None => manifest::specs_dir(&self.root),
        }
    }
}

/// A generated tree in memory: path relative to `generated/` -> content.
pub type Tree = BTreeMap<PathBuf, String>;

/// Generates every crate the manifest asks for, after checking every document's hash.
pub fn generate(ws: &Workspace) -> Result<Tree, Error> {
    let manifest = Manifest::load(&ws.manifest())?;
    let specs_dir = ws.specs_dir()?;
    let config = config::Config::load(&ws.config())?;
    let mut tree = Tree::new();
    let mut apis = Vec::new();
    for entry in manifest.generation_targets() {
        let file = specs_dir.join(entry.relative_path());
        match manifest::verify(entry, &specs_dir) {
            Verdict::Ok => {}
            Verdict::Missing => {
                return Err(Error::Missing {
                    file,
                    api: entry.api.clone(),
                    version: entry.version.clone(),
                });
            }
            Verdict::Differs { actual } => {
                return Err(Error::HashMismatch {
                    file,
                    expected: entry.sha256.clone(),
                    actual,
                });
            }
        }
        let overlay = ws.overlays().join(entry.relative_path());
        let overlay = overlay.is_file().then_some(overlay);
        let (api, files) = generate_one(&file, overlay.as_deref(), entry, &config)?;
        let folder = format!("{}-v{}", entry.api, entry.major());
        for (path, content) in files {
            tree.insert(Path::new(&folder).join(path), content);
        }
        apis.push((folder, api));
    }
    for (path, content) in emit::index_crate(&apis) {
        tree.insert(Path::new(emit::INDEX_FOLDER).join(path), content);
    }
    Ok(tree)
}

/// Generates the crate files for one document.
pub fn generate_one(
    file: &Path,
    overlay: Option<&Path>,
    entry: &manifest::SpecEntry,
    config: &config::Config,
) -> Result<(ir::Api, BTreeMap<String, String>), Error> {
    let doc = load::load(file, overlay)?;
    let api = lower::lower(&doc, entry, config)?;
    let files = emit::crate_files(&api, &doc)?;
    Ok((api, files))
}

/// Paths under `out` that differ from `tree` (changed, missing or extra).
pub fn stale(tree: &Tree, out: &Path) -> Vec<PathBuf> {
    let mut differs = Vec::new();
    for (path, content) in tree {
        match std::fs::read_to_string(out.join(path)) {
            Ok(existing) if &existing == content => {}
            _ => differs.push(path.clone()),
        }
    }
    for existing in list_files(out) {
        if !tree.contains_key(&existing) {
            differs.push(existing);
        }
    }
    differs
}

/// Replaces `out` with `tree`: written beside it first, then swapped in.
pub fn write(tree: &Tree, out: &Path) -> Result<(), Error> {
    let staging = out.with_extension("new");
    let old = out.with_extension("old");
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_dir_all(&old);
    for (path, content) in tree {
        let target = staging.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&target, content).map_err(|e| Error::io(&target, e))?;
    }
    if out.exists() {
        std::fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
    }
    std::fs::rename(&staging, out).map_err(|e| Error::io(&staging, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

fn list_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}
