//! `aberta sandbox`: the seed config (demo bank, one TPP, test users), seeding the registry
//! from it, and the `sandbox.json` contract file that outside tools read.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EcosystemError, Result};
use crate::files;
use crate::pki::Pki;
use crate::registry::{
    ApiResourceSpec, AuthorisationServerSpec, OrganisationSpec, Registry, SoftwareSpec,
};

/// Where each service listens. The account holder's port is where it WILL listen.
#[derive(Debug, Clone)]
pub struct Ports {
    pub host: IpAddr,
    pub holder: u16,
    pub directory: u16,
    pub pcm: u16,
}

impl Ports {
    /// The base port for the account holder, the next two for the directory and the PCM.
    pub fn from_base(host: IpAddr, base: u16) -> Self {
        Self {
            host,
            holder: base,
            directory: base.saturating_add(1),
            pcm: base.saturating_add(2),
        }
    }

    pub fn url(&self, port: u16) -> String {
        match self.host {
            IpAddr::V6(ip) => format!("https://[{ip}]:{port}"),
            IpAddr::V4(ip) => format!("https://{ip}:{port}"),
        }
    }
}

/// A test user of the demo bank.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestUser {
    pub cpf: String,
    pub password: String,
    pub name: String,
    pub kind: String,
}

/// `<data>/sandbox-seed.json`: what the sandbox registers. Written with fresh ids on the first
/// start and read back afterwards, so ids (and keys) stay the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedConfig {
    pub brand: String,
    pub holder: OrganisationSpec,
    pub holder_software: SoftwareSpec,
    pub tpp: OrganisationSpec,
    pub tpp_software: SoftwareSpec,
    pub users: Vec<TestUser>,
}

impl SeedConfig {
    fn default_for(ports: &Ports) -> Self {
        let holder_url = ports.url(ports.holder);
        let api = |family: &str, version: f64, path: &str| ApiResourceSpec {
            family: family.into(),
            version,
            endpoints: vec![format!("{holder_url}{path}")],
        };
        Self {
            brand: "aberta-demo".into(),
            holder: OrganisationSpec {
                org_id: Some(uuid::Uuid::new_v4().to_string()),
                name: "Banco Aberta Demo S.A.".into(),
                cnpj: "11222333000181".into(),
                roles: vec!["DADOS".into(), "PAGTO".into(), "CONTA".into()],
                authorisation_servers: vec![AuthorisationServerSpec {
                    server_id: Some(uuid::Uuid::new_v4().to_string()),
                    name: "Banco Aberta Demo".into(),
                    discovery_url: format!("{holder_url}/.well-known/openid-configuration"),
                    api_resources: vec![
                        api("consents", 3.0, "/open-banking/consents/v3/consents"),
                        api("resources", 3.0, "/open-banking/resources/v3/resources"),
                        api("accounts", 2.0, "/open-banking/accounts/v2/accounts"),
                        api(
                            "payments-consents",
                            4.0,
                            "/open-banking/payments/v4/consents",
                        ),
                        api(
                            "payments-pix",
                            4.0,
                            "/open-banking/payments/v4/pix/payments",
                        ),
                    ],
                }],
            },
            holder_software: SoftwareSpec {
                software_id: Some(uuid::Uuid::new_v4().to_string()),
                client_name: "Banco Aberta Demo AS".into(),
                description: Some("The demo bank's account-holder platform".into()),
                roles: vec!["CONTA".into()],
                redirect_uris: vec![format!("{holder_url}/callback")],
                webhook_uris: vec![],
                origin_uris: vec![],
            },
            tpp: tpp_org("Fintech Sandbox Ltda.", "22333444000105"),
            tpp_software: tpp_software("Fintech Sandbox App"),
            users: vec![
                TestUser {
                    cpf: "76109277673".into(),
                    password: "aberta-demo-1".into(),
                    name: "Maria Souza".into(),
                    kind: "PF".into(),
                },
                TestUser {
                    cpf: "52960092087".into(),
                    password: "aberta-demo-2".into(),
                    name: "João Pereira".into(),
                    kind: "PF".into(),
                },
                TestUser {
                    cpf: "31845706226".into(),
                    password: "aberta-demo-3".into(),
                    name: "Ana Oliveira".into(),
                    kind: "PF".into(),
                },
                // Represents Lima Comércio de Alimentos Ltda (CNPJ 45678901000175) at the demo bank.
                TestUser {
                    cpf: "64319057848".into(),
                    password: "aberta-demo-4".into(),
                    name: "Carlos Lima".into(),
                    kind: "PJ".into(),
                },
            ],
        }
    }
}

fn tpp_org(name: &str, cnpj: &str) -> OrganisationSpec {
    OrganisationSpec {
        org_id: Some(uuid::Uuid::new_v4().to_string()),
        name: name.into(),
        cnpj: cnpj.into(),
        roles: vec!["DADOS".into(), "PAGTO".into()],
        authorisation_servers: vec![],
    }
}

fn tpp_software(name: &str) -> SoftwareSpec {
    let software_id = uuid::Uuid::new_v4().to_string();
    SoftwareSpec {
        software_id: Some(software_id.clone()),
        client_name: name.into(),
        description: Some(format!("{name}, a TPP of the sandbox")),
        roles: vec!["DADOS".into(), "PAGTO".into()],
        redirect_uris: vec![format!(
            "https://tpp-{}.localhost/callback",
            &software_id[..8]
        )],
        webhook_uris: vec![format!(
            "https://tpp-{}.localhost/webhook",
            &software_id[..8]
        )],
        origin_uris: vec![],
    }
}

pub fn seed_path(data_dir: &Path) -> PathBuf {
    data_dir.join("sandbox-seed.json")
}

pub fn sandbox_json_path(data_dir: &Path) -> PathBuf {
    data_dir.join("sandbox.json")
}

/// Reads the seed config, writing the default one on first start.
pub fn load_or_create_seed(data_dir: &Path, ports: &Ports) -> Result<SeedConfig> {
    let path = seed_path(data_dir);
    if let Some(seed) = files::read_json_opt(&path)? {
        return Ok(seed);
    }
    let seed = SeedConfig::default_for(ports);
    files::write_json(&path, &seed)?;
    Ok(seed)
}

/// Registers what the seed names and is not registered yet (so a second start changes
/// nothing).
pub fn apply_seed(pki: &Pki, registry: &Registry, seed: &SeedConfig) -> Result<()> {
    for (org, software) in [
        (&seed.holder, &seed.holder_software),
        (&seed.tpp, &seed.tpp_software),
    ] {
        let org_id = org
            .org_id
            .clone()
            .ok_or_else(|| EcosystemError::Invalid("seed organisations need an org_id".into()))?;
        match registry.organisation(&org_id) {
            Ok(_) => {}
            Err(EcosystemError::UnknownOrganisation(_)) => {
                registry.create_organisation(org)?;
            }
            Err(err) => return Err(err),
        }
        let software_id = software
            .software_id
            .clone()
            .ok_or_else(|| EcosystemError::Invalid("seed software needs a software_id".into()))?;
        match registry.software(&org_id, &software_id) {
            Ok(_) => {}
            Err(EcosystemError::UnknownSoftware { .. }) => {
                registry.create_software(pki, &org_id, software)?;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// A TPP registered on demand (`aberta sandbox add-tpp`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TppInfo {
    pub org_id: String,
    pub software_id: String,
    pub transport_cert: PathBuf,
    pub transport_key: PathBuf,
    pub signing_jwk: PathBuf,
    pub encryption_jwk: PathBuf,
    pub redirect_uris: Vec<String>,
    pub webhook_uris: Vec<String>,
}

/// Registers one more TPP organisation with a DADOS + PAGTO software statement.
pub fn add_tpp(data_dir: &Path, name: &str, cnpj: &str) -> Result<TppInfo> {
    let data_dir = absolute(data_dir)?;
    let pki = Pki::open_or_create(&data_dir)?;
    let registry = Registry::new(&data_dir);
    let org = registry.create_organisation(&tpp_org(name, cnpj))?;
    let software =
        registry.create_software(&pki, &org.org_id, &tpp_software(&format!("{name} App")))?;
    tpp_info(&registry, &org.org_id, &software.software_id)
}

fn tpp_info(registry: &Registry, org_id: &str, software_id: &str) -> Result<TppInfo> {
    let software = registry.software(org_id, software_id)?;
    let keys = registry.key_files(org_id, software_id)?;
    Ok(TppInfo {
        org_id: org_id.to_string(),
        software_id: software_id.to_string(),
        transport_cert: keys.transport_cert,
        transport_key: keys.transport_key,
        signing_jwk: keys.signing_jwk,
        encryption_jwk: keys.encryption_jwk,
        redirect_uris: software.redirect_uris,
        webhook_uris: software.webhook_uris,
    })
}

/// The `sandbox.json` contract. Field names are stable; paths are absolute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxJson {
    pub issuer: String,
    pub discovery_url: String,
    pub api_base_url: String,
    pub ca_bundle: PathBuf,
    pub directory: DirectoryInfo,
    pub pcm: PcmInfo,
    pub tpp: TppInfo,
    pub holder: HolderInfo,
    pub users: Vec<TestUser>,
    /// Bearer token of the `/admin` calls of the directory and the PCM.
    pub admin_token_file: PathBuf,
    /// Every brand the account holder serves; the first is the one at the top level.
    #[serde(default)]
    pub brands: Vec<BrandInfo>,
}

/// One brand of the account holder: its own issuer host on the holder's port.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrandInfo {
    pub brand: String,
    pub issuer: String,
    pub discovery_url: String,
}

/// The sandbox's brands: the seed's brand at the configured host and, on IPv4 loopback, a
/// second brand (`aberta-digital`) at `localhost`, which the server certificate also names.
pub fn brands(ports: &Ports, seed_brand: &str) -> Vec<BrandInfo> {
    let info = |brand: &str, issuer: String| BrandInfo {
        brand: brand.to_string(),
        discovery_url: format!("{issuer}/.well-known/openid-configuration"),
        issuer,
    };
    let mut out = vec![info(seed_brand, ports.url(ports.holder))];
    if ports.host == IpAddr::V4(std::net::Ipv4Addr::LOCALHOST) {
        out.push(info(
            "aberta-digital",
            format!("https://localhost:{}", ports.holder),
        ));
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryInfo {
    pub participants_url: String,
    pub token_url: String,
    pub ssa_url_template: String,
    pub directory_jwks_url: String,
    pub keystore_url: String,
    pub base_url: String,
    pub admin_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PcmInfo {
    pub base_url: String,
    pub token_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HolderInfo {
    pub org_id: String,
    pub brand: String,
    pub software_id: String,
    pub transport_cert: PathBuf,
    pub transport_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Builds the contract for a seeded data directory.
pub fn sandbox_json(
    data_dir: &Path,
    ports: &Ports,
    pki: &Pki,
    seed: &SeedConfig,
) -> Result<SandboxJson> {
    let registry = Registry::new(data_dir);
    let holder_url = ports.url(ports.holder);
    let directory_url = ports.url(ports.directory);
    let pcm_url = ports.url(ports.pcm);
    let keystore_url = format!("{directory_url}/keystore");
    let holder_org = id(&seed.holder.org_id)?;
    let holder_sw = id(&seed.holder_software.software_id)?;
    let holder_keys = registry.key_files(&holder_org, &holder_sw)?;
    let server = pki.server_cert()?;
    Ok(SandboxJson {
        issuer: holder_url.clone(),
        discovery_url: format!("{holder_url}/.well-known/openid-configuration"),
        api_base_url: holder_url,
        ca_bundle: pki.ca_bundle_path(),
        directory: DirectoryInfo {
            participants_url: format!("{directory_url}/participants"),
            token_url: format!("{directory_url}/token"),
            ssa_url_template: format!(
                "{directory_url}/organisations/{{org_id}}/softwarestatements/{{software_id}}/assertion"
            ),
            directory_jwks_url: format!("{keystore_url}/openbanking.jwks"),
            keystore_url,
            admin_url: format!("{directory_url}/admin"),
            base_url: directory_url,
        },
        pcm: PcmInfo {
            token_url: format!("{pcm_url}/token"),
            base_url: pcm_url,
        },
        tpp: tpp_info(
            &registry,
            &id(&seed.tpp.org_id)?,
            &id(&seed.tpp_software.software_id)?,
        )?,
        holder: HolderInfo {
            org_id: holder_org,
            brand: seed.brand.clone(),
            software_id: holder_sw,
            transport_cert: holder_keys.transport_cert,
            transport_key: holder_keys.transport_key,
            server_cert: server.cert_path,
            server_key: server.key_path,
        },
        users: seed.users.clone(),
        admin_token_file: crate::admin::admin_token_path(data_dir),
        brands: brands(ports, &seed.brand),
    })
}

fn id(value: &Option<String>) -> Result<String> {
    value
        .clone()
        .ok_or_else(|| EcosystemError::Invalid("the seed config lacks an id".into()))
}

/// Makes `path` absolute (creating it), so every path written to `sandbox.json` is absolute.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    files::ensure_dir(path)?;
    std::fs::canonicalize(path).map_err(|e| EcosystemError::io(path, e))
}

/// Seeds the data directory and writes `sandbox.json`; returns the contract.
pub fn prepare(data_dir: &Path, ports: &Ports) -> Result<SandboxJson> {
    let data_dir = absolute(data_dir)?;
    let pki = Pki::open_or_create(&data_dir)?;
    let registry = Registry::new(&data_dir);
    let seed = load_or_create_seed(&data_dir, ports)?;
    apply_seed(&pki, &registry, &seed)?;
    crate::admin::load_or_create_admin_token(&data_dir)?;
    let contract = sandbox_json(&data_dir, ports, &pki, &seed)?;
    files::write_json(&sandbox_json_path(&data_dir), &contract)?;
    Ok(contract)
}
