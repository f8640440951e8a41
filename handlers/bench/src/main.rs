//! `aberta-bench` (run it with `cargo xtask bench [args]`): load runs against the
//! authorization server over mutual TLS, reported as a Markdown table.

use std::process::ExitCode;
use std::time::Duration;

use aberta_bench::Options;
use anyhow::Result;
use clap::Parser;

/// Drives the in-process authorization server over keep-alive mTLS connections and reports
/// throughput and latency beside the machine's PS256 rates.
#[derive(Debug, Parser)]
#[command(name = "aberta-bench")]
struct Args {
    /// Concurrent keep-alive mTLS connections [default: 64, or 8 with --quick].
    #[arg(long)]
    connections: Option<usize>,
    /// Seconds of each scenario's timed window [default: 10, or 2 with --quick].
    #[arg(long)]
    seconds: Option<f64>,
    /// Run on this PostgreSQL database instead of a temporary SQLite file.
    #[arg(long, env = "ABERTA_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// A short run: 2 s per scenario on 8 connections.
    #[arg(long)]
    quick: bool,
    /// Rounds of the capture comparison (accounts with call capture on, then off) [default: 2].
    #[arg(long)]
    capture_rounds: Option<usize>,
    /// Run only the capture comparison (and the PS256 rates).
    #[arg(long)]
    only_capture: bool,
    /// Offer the capture comparison's windows this many requests per second in all (an open
    /// loop, best well under saturation) instead of a closed loop on every connection.
    #[arg(long)]
    capture_rate: Option<f64>,
}

fn options(args: &Args) -> Result<Options> {
    let mut opts = if args.quick {
        Options::quick()
    } else {
        Options::standard()
    };
    if let Some(connections) = args.connections {
        opts.connections = connections;
    }
    if let Some(seconds) = args.seconds {
        anyhow::ensure!(
            seconds.is_finite() && seconds > 0.0,
            "--seconds must be positive"
        );
        opts.duration = Duration::from_secs_f64(seconds);
    }
    opts.database_url = args.database_url.clone().filter(|url| !url.is_empty());
    if let Some(rounds) = args.capture_rounds {
        opts.capture_rounds = rounds;
    }
    opts.only_capture = args.only_capture;
    if let Some(rate) = args.capture_rate {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--capture-rate must be positive"
        );
        opts.capture_rate = Some(rate);
    }
    Ok(opts)
}

/// The command line as run (and as `cargo xtask bench` spells it), with a database password
/// hidden.
fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .map(|arg| {
            if arg.contains("://") {
                aberta_bench::redact(&arg)
            } else {
                arg
            }
        })
        .collect();
    let mut xtask = vec!["cargo xtask bench".to_string()];
    xtask.extend(args.iter().skip(1).cloned());
    format!("`{}` (as run: `{}`)", xtask.join(" "), args.join(" "))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = options(&args).and_then(|opts| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(aberta_bench::run(&opts, false))
    });
    match result {
        Ok(report) => {
            println!("{}", report.markdown(&command_line()));
            let failures = report.failures();
            if failures > 0 {
                eprintln!(
                    "aberta-bench: {failures} request(s) failed; first: {}",
                    report.first_error().unwrap_or_default()
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("aberta-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}
