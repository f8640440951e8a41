//! `aberta`: the composition root. It runs the simulated ecosystem (directory, PCM, test PKI)
//! alone or as `aberta sandbox`, which also serves the account holder's authorization server.

mod cli;
mod cnpj;

use aberta_holder::logs::{self, LogFormat};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    aberta_ecosystem::tls::install_crypto_provider();
    // JSON lines on standard error unless ABERTA_LOG_FORMAT=text; RUST_LOG filters.
    let format = match std::env::var("ABERTA_LOG_FORMAT") {
        Ok(name) => LogFormat::parse(&name)
            .ok_or_else(|| anyhow::anyhow!("ABERTA_LOG_FORMAT must be json or text"))?,
        Err(_) => LogFormat::default(),
    };
    logs::init(
        format,
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        std::io::stderr,
    );
    let args = cli::Cli::parse();
    tokio::runtime::Runtime::new()?.block_on(cli::run(args))
}
