//! The command line: `sandbox` (and `sandbox add-tpp`), `directory`, `pcm-sim`, `keys`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aberta_ecosystem::pki::Pki;
use aberta_ecosystem::registry::Registry;
use aberta_ecosystem::sandbox::{self, Ports, SandboxJson};
use aberta_ecosystem::tls::ConnectionLimits;
use aberta_ecosystem::{directory, pcm_sim};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(name = "aberta", version, about = "Open Finance Brasil platform")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything on one machine: directory, PCM simulator and test PKI on loopback over TLS.
    Sandbox(SandboxArgs),
    /// The directory simulator alone.
    Directory(ServiceArgs),
    /// The PCM simulator alone.
    PcmSim(ServiceArgs),
    /// Issues new certificates and keys for a software statement (or a new organisation
    /// signing key); the old ones move to the inactive key sets.
    Keys(KeysArgs),
}

#[derive(Debug, Args)]
struct SandboxArgs {
    #[command(subcommand)]
    action: Option<SandboxAction>,
    /// Where keys, certificates, registry and reports are kept.
    #[arg(long, default_value = "./aberta-data", global = true)]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Base port: the account holder's; the directory and the PCM take the next two.
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// Overrides the directory's port (default: port + 1).
    #[arg(long)]
    directory_port: Option<u16>,
    /// Overrides the PCM simulator's port (default: port + 2).
    #[arg(long)]
    pcm_port: Option<u16>,
    /// The internal listener (consent management for the bank's channels), plain HTTP on
    /// loopback (default: port + 3).
    #[arg(long)]
    internal_port: Option<u16>,
    /// The account holder's database: `postgres://…` or `sqlite://…` (default: the SQLite
    /// file `aberta.db` in the data directory).
    #[arg(long, env = "ABERTA_DATABASE_URL")]
    database_url: Option<String>,
    #[command(flatten)]
    connections: ConnectionArgs,
}

/// Timeouts and caps of the account holder's public listener.
#[derive(Debug, Args)]
struct ConnectionArgs {
    /// Seconds a client has to send a request's head after the TLS handshake (and between
    /// HTTP/1 requests).
    #[arg(long, env = "ABERTA_HEADER_READ_TIMEOUT", default_value_t = ConnectionLimits::default().header_read_timeout.as_secs())]
    header_read_timeout: u64,
    /// Seconds a connection may stay open with no request in flight.
    #[arg(long, env = "ABERTA_IDLE_TIMEOUT", default_value_t = ConnectionLimits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// Seconds a client has to finish the TLS handshake.
    #[arg(long, env = "ABERTA_HANDSHAKE_TIMEOUT", default_value_t = ConnectionLimits::default().handshake_timeout.as_secs())]
    handshake_timeout: u64,
    /// Seconds a client has to send a whole request body.
    #[arg(long, env = "ABERTA_BODY_READ_TIMEOUT", default_value_t = ConnectionLimits::default().body_read_timeout.as_secs())]
    body_read_timeout: u64,
    /// Connections open at once from one client address.
    #[arg(long, env = "ABERTA_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = ConnectionLimits::default().max_connections_per_address)]
    max_connections_per_address: usize,
    /// Connections open at once on the listener.
    #[arg(long, env = "ABERTA_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
}

impl ConnectionArgs {
    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            body_read_timeout: Duration::from_secs(self.body_read_timeout),
            max_connections_per_address: self.max_connections_per_address,
            max_connections: self.max_connections,
            ..ConnectionLimits::default()
        }
    }
}

#[derive(Debug, Subcommand)]
enum SandboxAction {
    /// Registers one more TPP organisation with a DADOS + PAGTO software statement and prints
    /// its ids and key files as JSON.
    AddTpp {
        #[arg(long, default_value = "Outra Fintech Ltda.")]
        name: String,
        /// 14 digits; a fresh valid one when absent.
        #[arg(long)]
        cnpj: Option<String>,
    },
}

#[derive(Debug, Args)]
struct ServiceArgs {
    #[arg(long, default_value = "./aberta-data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Default: 8444 for the directory, 8445 for the PCM simulator.
    #[arg(long)]
    port: Option<u16>,
}

#[derive(Debug, Args)]
struct KeysArgs {
    #[arg(long, default_value = "./aberta-data")]
    data_dir: PathBuf,
    /// Organisation id.
    #[arg(long)]
    org: String,
    /// Software statement id; without it the organisation signing key is replaced.
    #[arg(long)]
    software: Option<String>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sandbox(args) => match args.action {
            Some(SandboxAction::AddTpp { name, cnpj }) => add_tpp(&args.data_dir, &name, cnpj),
            None => run_sandbox(args).await,
        },
        Command::Directory(args) => run_alone(args, Service::Directory).await,
        Command::PcmSim(args) => run_alone(args, Service::Pcm).await,
        Command::Keys(args) => keys(args),
    }
}

async fn run_sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let mut ports = Ports::from_base(args.host, args.port);
    if let Some(port) = args.directory_port {
        ports.directory = port;
    }
    if let Some(port) = args.pcm_port {
        ports.pcm = port;
    }
    let data_dir = args.data_dir.clone();
    let seed_ports = ports.clone();
    let contract = tokio::task::spawn_blocking(move || sandbox::prepare(&data_dir, &seed_ports))
        .await?
        .context("preparing the sandbox data directory")?;
    let data_dir = sandbox::absolute(&args.data_dir)?;
    let directory = directory::serve(
        &data_dir,
        bind(args.host, ports.directory).await?,
        &contract.directory.base_url,
    )?;
    let pcm = pcm_sim::serve(
        &data_dir,
        bind(args.host, ports.pcm).await?,
        &contract.pcm.base_url,
    )?;
    let internal_port = args.internal_port.unwrap_or(ports.holder.saturating_add(3));
    let options = aberta_holder::sandbox::HolderOptions {
        nats: aberta_holder::operations::nats_from_env(),
        connections: args.connections.limits(),
        ..Default::default()
    };
    let holder = aberta_holder::sandbox::start_with(
        &data_dir,
        &contract,
        bind(args.host, ports.holder).await?,
        bind(IpAddr::from([127, 0, 0, 1]), internal_port).await?,
        args.database_url.as_deref(),
        options,
    )
    .await
    .context("starting the account holder")?;
    print_banner(&data_dir, &contract);
    println!(
        "  internal       http://{}{}  (consent management; bearer token in {})",
        holder.internal_addr(),
        aberta_holder::internal::CONSENTS_PATH,
        data_dir.join("internal-token").display()
    );
    println!("Ready. Press Ctrl-C to stop.");
    wait_for_ctrl_c().await;
    holder.shutdown().await;
    directory.shutdown().await;
    pcm.shutdown().await;
    Ok(())
}

fn print_banner(data_dir: &Path, c: &SandboxJson) {
    println!("Aberta sandbox (data directory {})", data_dir.display());
    println!(
        "  directory      {}  (participants, token, SSAs, keystore)",
        c.directory.base_url
    );
    println!("  PCM simulator  {}", c.pcm.base_url);
    println!("  CA bundle      {}", c.ca_bundle.display());
    println!(
        "  TPP            org {}  software {}",
        c.tpp.org_id, c.tpp.software_id
    );
    println!(
        "  demo bank      org {}  ({} test users)",
        c.holder.org_id,
        c.users.len()
    );
    println!(
        "  contract       {}",
        sandbox::sandbox_json_path(data_dir).display()
    );
    for brand in &c.brands {
        println!(
            "  account holder {}  brand {} (discovery {})",
            brand.issuer, brand.brand, brand.discovery_url
        );
    }
    println!("Next step, list the participants as the TPP:");
    println!(
        "  curl --cacert {} --cert {} --key {} {}",
        c.ca_bundle.display(),
        c.tpp.transport_cert.display(),
        c.tpp.transport_key.display(),
        c.directory.participants_url
    );
}

enum Service {
    Directory,
    Pcm,
}

async fn run_alone(args: ServiceArgs, service: Service) -> anyhow::Result<()> {
    let data_dir = sandbox::absolute(&args.data_dir)?;
    let (name, default_port) = match service {
        Service::Directory => ("directory", 8444),
        Service::Pcm => ("PCM simulator", 8445),
    };
    let port = args.port.unwrap_or(default_port);
    let base_url = Ports::from_base(args.host, port).url(port);
    let listener = bind(args.host, port).await?;
    let server = match service {
        Service::Directory => directory::serve(&data_dir, listener, &base_url)?,
        Service::Pcm => pcm_sim::serve(&data_dir, listener, &base_url)?,
    };
    let pki = Pki::open_or_create(&data_dir)?;
    println!(
        "Aberta {name} on {base_url} (data directory {})",
        data_dir.display()
    );
    println!("  CA bundle      {}", pki.ca_bundle_path().display());
    println!(
        "  admin token    {}",
        aberta_ecosystem::admin::admin_token_path(&data_dir).display()
    );
    println!("Ready. Press Ctrl-C to stop.");
    wait_for_ctrl_c().await;
    server.shutdown().await;
    Ok(())
}

fn add_tpp(data_dir: &Path, name: &str, cnpj: Option<String>) -> anyhow::Result<()> {
    let cnpj = cnpj.unwrap_or_else(crate::cnpj::random);
    let tpp = sandbox::add_tpp(data_dir, name, &cnpj).context("registering the TPP")?;
    println!("{}", serde_json::to_string_pretty(&tpp)?);
    Ok(())
}

fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let data_dir = sandbox::absolute(&args.data_dir)?;
    let registry = Registry::new(&data_dir);
    match args.software {
        Some(software) => {
            let pki = Pki::open_or_create(&data_dir)?;
            let files = registry
                .rotate_software_keys(&pki, &args.org, &software)
                .context("issuing new keys")?;
            println!("{}", serde_json::to_string_pretty(&files)?);
        }
        None => {
            registry
                .rotate_organisation_key(&args.org)
                .context("issuing a new organisation key")?;
            println!("new organisation signing key for {}", args.org);
        }
    }
    Ok(())
}

async fn bind(host: IpAddr, port: u16) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

async fn wait_for_ctrl_c() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        tracing::error!(%err, "cannot listen for Ctrl-C; stopping");
    }
}
