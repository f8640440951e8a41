//! Project tasks, run as `cargo xtask <task>`.
//!
//! - `specs verify`: checks every document in `specs/manifest.toml` against its sha256.
//! - `specs fetch`: downloads the documents from upstream into `specs/fetched/` (git-ignored).
//! - `codegen [--check]`: regenerates `generated/`, or fails when it is stale.
//! - `bench [args]`: load runs over mTLS against a live server (the `aberta-bench` binary, built
//!   in release); figures go to `docs/perf.md`.
//! - `test [cargo test args]`: the project's test command (see README.md): fetches the official
//!   documents when none are found, provides a fresh PostgreSQL database when
//!   `ABERTA_TEST_DATABASE_URL` is unset, and runs `cargo test --workspace`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use aberta_codegen::Workspace;
use aberta_codegen::manifest::{self, Manifest, Verdict};
use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask specs verify | specs fetch | codegen [--check] | bench [args] | test [cargo test args]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ws = Workspace::new(workspace_root());
    let result = match args.as_slice() {
        ["specs", "verify"] => specs_verify(&ws),
        ["specs", "fetch"] => specs_fetch(&ws),
        ["codegen"] => codegen(&ws, false),
        ["codegen", "--check"] => codegen(&ws, true),
        ["test", rest @ ..] => test(&ws, rest),
        ["bench", rest @ ..] => bench(&ws, rest),
        _ => Err(anyhow::anyhow!(USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn specs_verify(ws: &Workspace) -> Result<()> {
    let manifest = Manifest::load(&ws.manifest())?;
    let dir = ws.specs_dir()?;
    let mut bad = 0;
    for entry in &manifest.specs {
        match manifest::verify(entry, &dir) {
            Verdict::Ok => println!("ok       {} {}", entry.api, entry.version),
            Verdict::Missing => {
                bad += 1;
                println!(
                    "MISSING  {} {} ({})",
                    entry.api,
                    entry.version,
                    dir.join(entry.relative_path()).display()
                );
            }
            Verdict::Differs { actual } => {
                bad += 1;
                println!(
                    "DIFFERS  {} {}: sha256 {actual}, manifest says {}",
                    entry.api, entry.version, entry.sha256
                );
            }
        }
    }
    if bad > 0 {
        bail!(
            "{bad} of {} documents in {} do not match specs/manifest.toml",
            manifest.specs.len(),
            dir.display()
        );
    }
    println!(
        "{} documents in {} match specs/manifest.toml",
        manifest.specs.len(),
        dir.display()
    );
    Ok(())
}

fn specs_fetch(ws: &Workspace) -> Result<()> {
    let manifest = Manifest::load(&ws.manifest())?;
    let dir = manifest::fetched_dir(&ws.root);
    for entry in &manifest.specs {
        let target = dir.join(entry.relative_path());
        if manifest::verify(entry, &dir) == Verdict::Ok {
            println!("have     {} {}", entry.api, entry.version);
            continue;
        }
        std::fs::create_dir_all(target.parent().context("target has a parent")?)?;
        let partial = target.with_extension("part");
        let status = Command::new("curl")
            .args([
                "--fail",
                "--silent",
                "--show-error",
                "--location",
                "--output",
            ])
            .arg(&partial)
            .arg(&entry.url)
            .status()
            .context("running curl (is it installed?)")?;
        if !status.success() {
            bail!(
                "downloading {} {} from {} failed",
                entry.api,
                entry.version,
                entry.url
            );
        }
        let actual = manifest::sha256_hex(&std::fs::read(&partial)?);
        if actual != entry.sha256 {
            let _ = std::fs::remove_file(&partial);
            bail!(
                "{} {} from {}: sha256 {actual} differs from the manifest's {}",
                entry.api,
                entry.version,
                entry.url,
                entry.sha256
            );
        }
        std::fs::rename(&partial, &target)?;
        println!("fetched  {} {}", entry.api, entry.version);
    }
    println!("documents are in {}", dir.display());
    Ok(())
}

fn codegen(ws: &Workspace, check: bool) -> Result<()> {
    let started = Instant::now();
    let tree = aberta_codegen::generate(ws)?;
    let out = ws.generated();
    let stale = aberta_codegen::stale(&tree, &out);
    if check {
        if !stale.is_empty() {
            for path in &stale {
                println!("stale    generated/{}", path.display());
            }
            bail!("generated/ is stale: run `cargo xtask codegen` and commit the result");
        }
        println!("generated/ is up to date ({} files)", tree.len());
        return Ok(());
    }
    aberta_codegen::write(&tree, &out)?;
    let lines: usize = tree.values().map(|c| c.lines().count()).sum();
    println!(
        "generated {} files, {lines} lines, in {:.2} s ({} changed)",
        tree.len(),
        started.elapsed().as_secs_f64(),
        stale.len()
    );
    Ok(())
}

/// Load runs live in their own release binary, so xtask stays light to build.
fn bench(ws: &Workspace, args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&ws.root)
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "aberta-bench",
            "--",
        ])
        .args(args)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("the bench failed");
    }
    Ok(())
}

/// The README's test command.
fn test(ws: &Workspace, args: &[&str]) -> Result<()> {
    if ws.specs_dir().is_err() {
        println!("no official documents found: fetching them (cargo xtask specs fetch)");
        specs_fetch(ws)?;
    }
    let scratch_db = match std::env::var("ABERTA_TEST_DATABASE_URL") {
        Ok(_) => None,
        Err(_) => Some(ScratchDatabase::create()?),
    };
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&ws.root)
        .args(["test", "--workspace"])
        .args(args);
    if let Some(db) = &scratch_db {
        cargo.env("ABERTA_TEST_DATABASE_URL", &db.url);
    }
    let status = cargo.status().context("running cargo test")?;
    drop(scratch_db);
    if !status.success() {
        bail!("cargo test failed");
    }
    Ok(())
}

/// A PostgreSQL database made for one test run on the local server (loopback, trusted), and
/// dropped after it.
struct ScratchDatabase {
    name: String,
    url: String,
}

const PG_HOST: &str = "127.0.0.1";

impl ScratchDatabase {
    fn create() -> Result<Self> {
        let name = format!("aberta_test_{}", std::process::id());
        let status = Command::new("createdb")
            .args(["-h", PG_HOST, "-U", "postgres", &name])
            .status()
            .context("running createdb: install PostgreSQL or set ABERTA_TEST_DATABASE_URL")?;
        if !status.success() {
            bail!(
                "createdb {name} failed: is PostgreSQL running on {PG_HOST}:5432 and trusting loopback? Or set ABERTA_TEST_DATABASE_URL"
            );
        }
        println!("using the scratch database {name} (dropped after the run)");
        Ok(Self {
            url: format!("postgres://postgres@{PG_HOST}:5432/{name}"),
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = Command::new("dropdb")
            .args([
                "-h",
                PG_HOST,
                "-U",
                "postgres",
                "--if-exists",
                "--force",
                &self.name,
            ])
            .status();
    }
}
