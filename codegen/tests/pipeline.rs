//! The pipeline over the real manifest: `generated/` is fresh, a spec version bump
//! regenerates cleanly, a wrong hash or a missing file stops it before anything is written.

use std::path::{Path, PathBuf};

use aberta_codegen::manifest::{Manifest, SpecEntry};
use aberta_codegen::{Error, Workspace};

fn workspace() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Workspace::new(root.canonicalize().unwrap())
}

#[test]
fn generated_is_fresh() {
    let ws = workspace();
    let tree = aberta_codegen::generate(&ws).unwrap_or_else(|e| panic!("{e}"));
    let stale = aberta_codegen::stale(&tree, &ws.generated());
    assert!(
        stale.is_empty(),
        "generated/ is stale ({} files, first {:?}): run `cargo xtask codegen` and commit the result",
        stale.len(),
        stale.first()
    );
}

/// A scratch checkout holding a manifest of the given entries and the project's config.
fn scratch(name: &str, entries: &[SpecEntry]) -> Workspace {
    let real = workspace();
    let root = std::env::temp_dir().join(format!("aberta-pipeline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("specs")).unwrap();
    std::fs::create_dir_all(root.join("codegen")).unwrap();
    std::fs::copy(real.config(), root.join("codegen/config.yml")).unwrap();
    let mut manifest = String::new();
    for e in entries {
        manifest.push_str(&format!(
            "[[spec]]\napi = \"{}\"\nversion = \"{}\"\nurl = \"{}\"\nsha256 = \"{}\"\n\n",
            e.api, e.version, e.url, e.sha256
        ));
    }
    std::fs::write(root.join("specs/manifest.toml"), manifest).unwrap();
    let mut ws = Workspace::new(root);
    ws.specs_override = Some(real.specs_dir().unwrap());
    ws
}

fn consents(version: &str) -> SpecEntry {
    let real = workspace();
    let file = real
        .specs_dir()
        .unwrap()
        .join(format!("consents/{version}.yml"));
    SpecEntry {
        api: "consents".into(),
        version: version.into(),
        url: format!("https://example.invalid/consents/{version}.yml"),
        sha256: aberta_codegen::manifest::sha256_hex(&std::fs::read(&file).unwrap()),
    }
}

#[test]
fn consents_3_2_0_instead_of_3_3_1_regenerates() {
    let ws = scratch("instead", &[consents("3.2.0")]);
    let tree = aberta_codegen::generate(&ws).unwrap_or_else(|e| panic!("{e}"));
    let lib = &tree[&PathBuf::from("consents-v3/src/lib.rs")];
    assert!(lib.contains("`consents` 3.2.0"), "{lib}");
    assert!(tree.contains_key(&PathBuf::from("consents-v3/src/server.rs")));
    assert!(tree[&PathBuf::from("all/src/lib.rs")].contains("\"3.2.0\""));
}

#[test]
fn consents_3_2_0_beside_3_3_1_generates_the_newer() {
    let ws = scratch("beside", &[consents("3.2.0"), consents("3.3.1")]);
    let manifest = Manifest::load(&ws.manifest()).unwrap();
    assert_eq!(manifest.generation_targets().len(), 1);
    let tree = aberta_codegen::generate(&ws).unwrap_or_else(|e| panic!("{e}"));
    assert!(tree[&PathBuf::from("consents-v3/src/lib.rs")].contains("`consents` 3.3.1"));
}

#[test]
fn a_hash_mismatch_stops_generation_before_writing() {
    let mut wrong = consents("3.3.1");
    wrong.sha256 = "0".repeat(64);
    let ws = scratch("hash", &[wrong]);
    match aberta_codegen::generate(&ws) {
        Err(Error::HashMismatch { file, .. }) => assert!(file.ends_with("consents/3.3.1.yml")),
        other => panic!("expected a hash mismatch, got {:?}", other.map(|t| t.len())),
    }
    assert!(!ws.generated().exists(), "nothing may be written");
}

#[test]
fn a_missing_document_stops_generation() {
    let mut missing = consents("3.3.1");
    missing.version = "9.9.9".into();
    let ws = scratch("missing", &[missing]);
    let err = aberta_codegen::generate(&ws).expect_err("refused");
    assert!(
        err.to_string().contains("consents/9.9.9.yml") && err.to_string().contains("missing"),
        "{err}"
    );
}

#[test]
fn write_swaps_the_whole_tree() {
    let ws = scratch("write", &[consents("3.3.1")]);
    let out = ws.generated();
    std::fs::create_dir_all(out.join("old-crate")).unwrap();
    std::fs::write(out.join("old-crate/lib.rs"), "stale").unwrap();
    let tree = aberta_codegen::generate(&ws).unwrap();
    aberta_codegen::write(&tree, &out).unwrap();
    assert!(aberta_codegen::stale(&tree, &out).is_empty());
    assert!(
        !out.join("old-crate").exists(),
        "files no longer generated are removed"
    );
}
