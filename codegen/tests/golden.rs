//! The generator on small fixture documents written for the purpose.
//!
//! - Golden output: `tests/fixtures/<api>/1.0.0.yml` generates exactly `tests/golden/<api>/`.
//!   Those folders are workspace members, so building the workspace proves the output
//!   compiles. After an intended change: `UPDATE_GOLDEN=1 cargo test -p aberta-codegen --test golden`.
//! - Bad documents: each file under `tests/fixtures/bad/` stops the generator with a message
//!   naming the file and the JSON pointer of the construct.

use std::path::{Path, PathBuf};

use aberta_codegen::config::{ApiConfig, Config};
use aberta_codegen::manifest::SpecEntry;

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn entry(api: &str) -> SpecEntry {
    SpecEntry {
        api: api.into(),
        version: "1.0.0".into(),
        url: String::new(),
        sha256: String::new(),
    }
}

/// The project's config, with the fixture's read operations served by a connector.
fn config() -> Config {
    let mut config = Config::load(&here().join("config.yml")).expect("codegen/config.yml");
    config.apis.insert(
        "widgets".into(),
        ApiConfig {
            base_path: None,
            connector: vec!["reads".into()],
        },
    );
    config
}

#[test]
fn fixtures_generate_their_golden_output() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for api in ["widgets", "signed"] {
        let spec = here().join(format!("tests/fixtures/{api}/1.0.0.yml"));
        let overlay = here().join(format!("tests/overlays/{api}/1.0.0.yml"));
        let overlay = overlay.is_file().then_some(overlay);
        let (_, files) =
            aberta_codegen::generate_one(&spec, overlay.as_deref(), &entry(api), &config())
                .unwrap_or_else(|e| panic!("{e}"));
        let golden = here().join(format!("tests/golden/{api}"));
        for (path, content) in files {
            // Paths and sources in the output are relative, so goldens do not depend on
            // where the checkout is.
            let content = content.replace(&here().display().to_string(), "codegen");
            let target = golden.join(&path);
            if update {
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(&target, &content).unwrap();
            } else if std::fs::read_to_string(&target).ok().as_deref() != Some(content.as_str()) {
                stale.push(target.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "golden output differs: {stale:?}\nreview the change, then run `UPDATE_GOLDEN=1 cargo test -p aberta-codegen --test golden`"
    );
}

#[test]
fn bad_documents_are_refused_with_file_and_pointer() {
    let cases = [
        (
            "dangling-ref",
            "#/components/schemas/A/properties/b: dangling reference",
        ),
        (
            "bad-pattern",
            "#/components/schemas/A/properties/b/pattern: pattern does not compile",
        ),
        (
            "jwt-unmarked",
            "#/paths/~1x/post/requestBody: application/jwt body",
        ),
        (
            "unknown-type",
            "#/components/schemas/A/properties/b: unsupported type file",
        ),
        ("swagger-2", "#/openapi: not an OpenAPI 3.0 document"),
        ("not-yaml", "#: not YAML"),
        (
            "required-undefined",
            "#/components/schemas/A: `ghost` is required but is not among the properties",
        ),
        (
            "cookie-parameter",
            "#/paths/~1x/get/parameters/0: unsupported parameter location",
        ),
        (
            "two-media-types",
            "#/paths/~1x/get/responses/200/content: more than one media type",
        ),
    ];
    for (name, expected) in cases {
        let file = here().join(format!("tests/fixtures/bad/{name}.yml"));
        let err = match aberta_codegen::generate_one(&file, None, &entry("bad"), &config()) {
            Ok(_) => panic!("{name}: generated without complaint"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(&file.display().to_string()),
            "{name}: the message does not name the file: {err}"
        );
        assert!(
            err.contains(expected),
            "{name}: expected `{expected}` in: {err}"
        );
    }
}

#[test]
fn an_overlay_that_misses_its_target_is_refused() {
    let dir = tempdir();
    let overlay = dir.join("overlay.yml");
    std::fs::write(&overlay, "actions:\n  - target: /paths/~1nowhere/get\n    why: test\n    merge: { x-aberta-jws: true }\n").unwrap();
    let spec = here().join("tests/fixtures/signed/1.0.0.yml");
    let err = aberta_codegen::generate_one(&spec, Some(&overlay), &entry("signed"), &config())
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("#/actions/0: target /paths/~1nowhere/get does not exist"),
        "{err}"
    );
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aberta-codegen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
