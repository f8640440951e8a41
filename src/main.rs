//! `aberta`: the composition root. It runs the simulated ecosystem (directory, PCM, test PKI)
//! alone or as `aberta sandbox`, which also serves the account holder's authorization server.

mod cli;
mod cnpj;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    aberta_ecosystem::tls::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = cli::Cli::parse();
    tokio::runtime::Runtime::new()?.block_on(cli::run(args))
}
