//! Measures the outbox drain rate to the PCM simulator (reports/s): seeds a sandbox data
//! directory, serves the PCM simulator over mutual TLS on loopback, inserts N unreported calls,
//! and runs the reporter until the backlog is empty.
//!
//! ```text
//! cargo run --release -p aberta-pcm --example drain -- [N] [BATCH]
//! ABERTA_DATABASE_URL=postgres://... cargo run --release -p aberta-pcm --example drain
//! ```
//!
//! N defaults to 20,000 and BATCH to 5,000. Without `ABERTA_DATABASE_URL` the database is a
//! SQLite file in a temporary directory; a PostgreSQL database gets a scratch schema.
//!
//! On Linux it also reports the CPU time each report cost: in the reporter, in the simulator
//! (served on threads of its own, `pcm_sim::serve_on_own_thread`), and, with PostgreSQL on
//! this machine, in the server's processes.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use aberta_ecosystem::pcm_sim;
use aberta_ecosystem::sandbox::{self, Ports};
use aberta_pcm::entity::api_call;
use aberta_pcm::{PcmConfig, PcmMetrics, Reporter, backlog};
use aberta_store::KeyRing;
use anyhow::Context;
use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let batch: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5_000);

    aberta_ecosystem::tls::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ports = Ports {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        holder: 1,
        directory: 2,
        pcm: listener.local_addr()?.port(),
    };
    let contract = sandbox::prepare(dir.path(), &ports)?;
    // The simulator on threads of its own, so its CPU time can be told from the reporter's.
    let pcm = pcm_sim::serve_on_own_thread(dir.path(), listener, &contract.pcm.base_url)?;

    let (db, label, scratch) = database(dir.path()).await?;
    aberta_pcm::migrate(&db).await?;
    let now = Utc::now().timestamp_millis();
    let rows: Vec<api_call::ActiveModel> = (0..n)
        .map(|i| api_call::ActiveModel {
            id: NotSet,
            brand: Set("demo".into()),
            interaction_id: Set(uuid::Uuid::new_v4().to_string()),
            endpoint: Set("/open-banking/accounts/v2/accounts/{accountId}".into()),
            method: Set("GET".into()),
            family: Set("accounts".into()),
            status_code: Set(200),
            received_at: Set(now - i as i64),
            processing_ms: Set(12),
            client_org_id: Set(Some(contract.tpp.org_id.clone())),
            client_ssid: Set(Some(contract.tpp.software_id.clone())),
            server_org_id: Set(contract.holder.org_id.clone()),
            additional_info: Set(r#"{"consentId":"urn:aberta:c-1"}"#.into()),
            reported_at: Set(None),
            report_attempts: Set(0),
            next_attempt_at: Set(now - i as i64),
            report_error: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
        })
        .collect();
    for chunk in rows.chunks(1000) {
        api_call::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&db)
            .await?;
    }

    let mut identity = std::fs::read(&contract.holder.transport_cert)?;
    identity.extend(std::fs::read(&contract.holder.transport_key)?);
    let mut config = PcmConfig::new(
        &contract.pcm.base_url,
        &contract.pcm.token_url,
        identity,
        std::fs::read(&contract.ca_bundle)?,
        &contract.holder.org_id,
    );
    config.scope = Some(pcm_sim::PCM_SCOPE.into());
    config.batch_size = batch;
    config.request_timeout = std::time::Duration::from_secs(120);
    config.lease = std::time::Duration::from_secs(300);
    let metrics = Arc::new(PcmMetrics::default());
    let reporter = Reporter::new(
        db.clone(),
        config,
        Arc::new(KeyRing::generate()?),
        metrics.clone(),
    )?;

    let cpu_before = cpu::sample();
    let started = Instant::now();
    loop {
        let run = reporter.report_due(Utc::now()).await?;
        if run.claimed == 0 {
            break;
        }
        anyhow::ensure!(run.retrying == 0, "a batch failed: {run:?}");
    }
    let elapsed = started.elapsed();
    let cpu_after = cpu::sample();
    anyhow::ensure!(backlog(&db).await? == 0, "the backlog did not drain");
    let reported = metrics.snapshot().reported;
    println!(
        "{label}: {reported} reports in batches of {batch} drained in {:.2} s: {:.0} reports/s",
        elapsed.as_secs_f64(),
        reported as f64 / elapsed.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let per_report = |ticks: u64| ticks as f64 * 1e6 / cpu::TICKS_PER_S / reported as f64;
        let sim = after.sim.saturating_sub(before.sim);
        let reporter = after
            .process
            .saturating_sub(before.process)
            .saturating_sub(sim);
        let database = after.postgres_since(&before);
        println!(
            "CPU per report: reporter {:.1} µs, simulator {:.1} µs, PostgreSQL processes {:.1} µs",
            per_report(reporter),
            per_report(sim),
            per_report(database)
        );
    }
    pcm.shutdown().await;
    if let Some((admin, schema)) = scratch {
        db.close().await?;
        admin
            .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
            .await?;
    }
    Ok(())
}

/// CPU time from `/proc` (Linux): this process, its simulator threads, and every process named
/// `postgres` (the server's backends, when it runs on this machine).
mod cpu {
    use std::collections::HashMap;

    use aberta_ecosystem::cpu_time;
    pub use cpu_time::TICKS_PER_S;

    #[derive(Debug, Clone)]
    pub struct Sample {
        pub process: u64,
        pub sim: u64,
        postgres: HashMap<u32, u64>,
    }

    impl Sample {
        /// The PostgreSQL processes' time since `before`.
        pub fn postgres_since(&self, before: &Sample) -> u64 {
            cpu_time::grown(&self.postgres, &before.postgres)
        }
    }

    pub fn sample() -> Option<Sample> {
        Some(Sample {
            process: cpu_time::this_process()?,
            sim: cpu_time::threads(&[aberta_ecosystem::pcm_sim::OWN_THREADS])?[0],
            postgres: cpu_time::processes("postgres")?,
        })
    }
}

/// A PostgreSQL connection outside the scratch schema, and the schema's name.
type Scratch = Option<(DatabaseConnection, String)>;

/// `$ABERTA_DATABASE_URL` in a scratch schema, or a SQLite file under `dir`.
async fn database(
    dir: &std::path::Path,
) -> anyhow::Result<(DatabaseConnection, &'static str, Scratch)> {
    match std::env::var("ABERTA_DATABASE_URL") {
        Ok(base) => {
            let schema = format!("pcm_drain_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&base).await.context("PostgreSQL")?;
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await?;
            let separator = if base.contains('?') { '&' } else { '?' };
            let db = Database::connect(format!("{base}{separator}options[search_path]={schema}"))
                .await?;
            Ok((db, "PostgreSQL", Some((admin, schema))))
        }
        Err(_) => {
            let url = format!("sqlite://{}?mode=rwc", dir.join("drain.db").display());
            let db = Database::connect(url).await?;
            db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
            Ok((db, "SQLite", None))
        }
    }
}
