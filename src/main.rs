//! `aberta`: the composition root. Today it runs the simulated ecosystem (directory, PCM, test
//! PKI) alone or as `aberta sandbox`; account-holder modules plug in as they land.

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
