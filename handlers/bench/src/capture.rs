//! What call capture and PCM reporting cost: the accounts read on fresh holders of one
//! database, capture on (reporting to the PCM simulator) and off, for `capture_rounds` rounds,
//! the order swapped every round so that a drift of the machine falls on both alike.
//!
//! Each window is measured twice over: its throughput, and the CPU time the machine spent per
//! request. The load generator runs on a runtime of its own, so its threads' time is left out
//! of the server's, and every window waits after its load until the holder has reported every
//! call it recorded, so that reporting is in the figure. With `capture_rate` the load is an open
//! loop at that rate, well under saturation, where CPU per request is far steadier than a
//! closed loop's throughput.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail, ensure};

use crate::cpu::{LOAD_THREADS, Ticks};
use crate::report::{ScenarioResult, percentile};
use crate::{CAPTURE_OFF, CAPTURE_ON, DataRead, Options, Run, Sandbox, Scenario};
use crate::{client_token, cores, data_access, drive, progress};

/// How long a window goes on measuring after its load ends, for the reporter (every 5 s) to send
/// what the load recorded. Both arms wait alike, so the idle holder's own work falls on both.
const REPORT_TAIL: Duration = Duration::from_secs(7);
/// The longest a holder may take to report its backlog before the run is given up.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// The accounts read needs no pre-built jobs: a pool no window can use up.
const JOBS: usize = 10_000_000;

/// Runs the comparison; returns every window and the HTTP version the connections spoke.
pub(crate) async fn capture_cost(
    opts: &Options,
    quiet: bool,
) -> Result<(Vec<ScenarioResult>, String)> {
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .thread_name(LOAD_THREADS)
        .enable_all()
        .build()?;
    let result = rounds(opts, quiet, load.handle()).await;
    load.shutdown_background();
    result
}

async fn rounds(
    opts: &Options,
    quiet: bool,
    load: &tokio::runtime::Handle,
) -> Result<(Vec<ScenarioResult>, String)> {
    let mut results = Vec::new();
    let mut protocol = String::new();
    for round in 1..=opts.capture_rounds {
        let order = if round % 2 == 1 {
            [true, false]
        } else {
            [false, true]
        };
        for capture in order {
            let (name, state) = if capture {
                (CAPTURE_ON, "on")
            } else {
                (CAPTURE_OFF, "off")
            };
            progress(
                quiet,
                &format!("capture comparison, round {round}: a fresh holder with capture {state}"),
            );
            let sandbox = Sandbox::start_with(opts.database_url.as_deref(), capture).await?;
            let tpp = Arc::new(sandbox.register_tpp().await?);
            // Set-up goes over a client of its own, so that every connection of the window
            // lives on the load generator's runtime.
            let setup = tpp.client()?;
            let (token, _) = data_access(&tpp, &setup).await?;
            if protocol.is_empty() {
                protocol = client_token(&tpp, &setup, "consents").await?.1;
            }
            let read = Arc::new(DataRead {
                name,
                url: tpp.url("/open-banking/accounts/v2/accounts"),
                token,
            });
            let clients = (0..opts.connections)
                .map(|_| tpp.client())
                .collect::<Result<Vec<_>>>()?;
            let result = window(&sandbox, read, &clients, load, opts, quiet).await;
            drop(clients);
            sandbox.shutdown().await;
            results.push(result?);
        }
    }
    Ok((results, protocol))
}

/// One window: a closed-loop warm-up, its reports sent, then the timed load and the tail in
/// which its reports are sent, with the CPU time spent from the load's start to the tail's end.
async fn window(
    sandbox: &Sandbox,
    read: Arc<DataRead>,
    clients: &[reqwest::Client],
    load: &tokio::runtime::Handle,
    opts: &Options,
    quiet: bool,
) -> Result<ScenarioResult> {
    let name = read.name;
    progress(quiet, &format!("{name}: warming up"));
    let warm = on_load(load, clients, read.clone(), opts.warmup, None).await?;
    if warm.failures > 0 {
        bail!(
            "{name}: {} of the warm-up requests failed; first error: {}",
            warm.failures,
            warm.first_error.unwrap_or_default()
        );
    }
    settle(sandbox).await?;
    let pace = opts.capture_rate;
    progress(
        quiet,
        &match pace {
            Some(rate) => format!("{name}: timed run at {rate:.0} req/s offered"),
            None => format!("{name}: timed run"),
        },
    );
    let before = Ticks::now();
    let run = on_load(load, clients, read, opts.duration, pace).await?;
    tokio::time::sleep(REPORT_TAIL).await;
    settle(sandbox).await?;
    let after = Ticks::now();
    let mut latencies = run.latencies;
    latencies.sort_unstable();
    Ok(ScenarioResult {
        name,
        connections: clients.len(),
        http_requests: DataRead::HTTP_REQUESTS,
        server_signs: DataRead::SERVER_SIGNS,
        server_verifies: DataRead::SERVER_VERIFIES,
        ok: latencies.len(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        failures: run.failures,
        first_error: run.first_error,
        elapsed: run.elapsed,
        exhausted: run.exhausted,
        presigned: 0,
        presign_time: Duration::ZERO,
        offered: pace,
        cpu: before.zip(after).map(|(b, a)| a.since(&b)),
    })
}

/// Drives the accounts read from the load generator's runtime.
async fn on_load(
    load: &tokio::runtime::Handle,
    clients: &[reqwest::Client],
    read: Arc<DataRead>,
    duration: Duration,
    pace: Option<f64>,
) -> Result<Run> {
    let clients = clients.to_vec();
    let jobs = vec![(); JOBS];
    Ok(load
        .spawn(async move {
            drive(&clients, jobs, duration, pace, move |client, jobs, i| {
                DataRead::run(read.clone(), client, jobs, i)
            })
            .await
        })
        .await?)
}

/// Waits until the holder has reported every call it recorded (at once with capture off). Calls
/// refused for good are not waited for: the set-up's consents v3 calls are, as pcm 1.0.2 does not
/// list that version.
async fn settle(sandbox: &Sandbox) -> Result<()> {
    let db = sandbox.holder.store.connection();
    // The writer's last batch.
    let flush_every = aberta_pcm::WriterConfig::default().flush_every;
    tokio::time::sleep(flush_every + Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    while aberta_pcm::backlog(db).await? > 0 {
        ensure!(
            started.elapsed() < SETTLE_LIMIT,
            "the holder did not report its recorded calls within {} s",
            SETTLE_LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// The PCM simulator writes a file per accepted call; on a machine with `/dev/shm` they go
/// there, so the simulator (which shares the machine with the holder) takes little from the
/// figures.
pub(crate) fn reports_on_tmpfs(data_dir: &std::path::Path) -> Result<Option<tempfile::TempDir>> {
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        return Ok(None);
    }
    let reports = tempfile::tempdir_in(shm)?;
    let pcm = data_dir.join("pcm");
    std::fs::create_dir_all(&pcm)?;
    #[cfg(unix)]
    std::os::unix::fs::symlink(reports.path(), pcm.join("reports"))?;
    Ok(Some(reports))
}
