//! The directory's registry of organisations and software statements, with each software's
//! keys and certificates. One folder per organisation under `<data>/directory/orgs`, so every
//! process working on the same data directory sees the same registry.

use std::path::{Path, PathBuf};

use josekit::jwk::{Jwk, JwkSet};
use serde::{Deserialize, Serialize};

use crate::error::{EcosystemError, Result};
use crate::files;
use crate::keys::{self, KeyPurpose};
use crate::pki::{self, Pki, TransportSubject};

/// An organisation as an admin call or the seed config describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrganisationSpec {
    /// Generated when absent.
    #[serde(default)]
    pub org_id: Option<String>,
    pub name: String,
    /// 14 digits.
    pub cnpj: String,
    /// Regulatory roles: DADOS, PAGTO, CONTA, CCORR.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub authorisation_servers: Vec<AuthorisationServerSpec>,
}

/// An authorisation server the organisation registers, with the APIs it offers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorisationServerSpec {
    #[serde(default)]
    pub server_id: Option<String>,
    pub name: String,
    /// The OpenID discovery document URL.
    pub discovery_url: String,
    #[serde(default)]
    pub api_resources: Vec<ApiResourceSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiResourceSpec {
    /// e.g. `consents`, `payments-pix`.
    pub family: String,
    /// e.g. `3.0`.
    pub version: f64,
    pub endpoints: Vec<String>,
}

/// A stored organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organisation {
    pub org_id: String,
    pub name: String,
    pub cnpj: String,
    pub roles: Vec<String>,
    pub status: String,
    pub created_on: String,
    pub authorisation_servers: Vec<AuthorisationServerSpec>,
}

/// A software statement as an admin call or the seed config describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoftwareSpec {
    /// Generated when absent.
    #[serde(default)]
    pub software_id: Option<String>,
    pub client_name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A subset of the organisation's roles.
    pub roles: Vec<String>,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub webhook_uris: Vec<String>,
    #[serde(default)]
    pub origin_uris: Vec<String>,
}

/// A stored software statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Software {
    pub software_id: String,
    pub org_id: String,
    pub client_name: String,
    pub description: String,
    pub roles: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub webhook_uris: Vec<String>,
    pub origin_uris: Vec<String>,
    pub status: String,
    pub mode: String,
    pub version: String,
    pub created_on: String,
}

/// Where a software's active keys live.
#[derive(Debug, Clone, Serialize)]
pub struct SoftwareKeyFiles {
    pub transport_cert: PathBuf,
    pub transport_key: PathBuf,
    pub signing_cert: PathBuf,
    pub signing_jwk: PathBuf,
    pub encryption_jwk: PathBuf,
}

impl SoftwareKeyFiles {
    fn in_dir(dir: &Path) -> Self {
        Self {
            transport_cert: dir.join("transport.pem"),
            transport_key: dir.join("transport.key.pem"),
            signing_cert: dir.join("signing.pem"),
            signing_jwk: dir.join("sig.jwk.json"),
            encryption_jwk: dir.join("enc.jwk.json"),
        }
    }
}

/// Ids become folder names: letters, digits and `-` only, 1 to 40 characters.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

const KNOWN_ROLES: &[&str] = &["DADOS", "PAGTO", "CONTA", "CCORR"];

#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

impl Registry {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("directory").join("orgs"),
        }
    }

    fn org_dir(&self, org_id: &str) -> Result<PathBuf> {
        if !valid_id(org_id) {
            return Err(EcosystemError::UnknownOrganisation(org_id.to_string()));
        }
        Ok(self.root.join(org_id))
    }

    fn software_dir(&self, org_id: &str, software_id: &str) -> Result<PathBuf> {
        if !valid_id(software_id) {
            return Err(unknown_software(org_id, software_id));
        }
        Ok(self.org_dir(org_id)?.join("software").join(software_id))
    }

    pub fn organisations(&self) -> Result<Vec<Organisation>> {
        files::subdirs(&self.root)?
            .iter()
            .filter(|id| valid_id(id))
            .map(|id| self.organisation(id))
            .collect()
    }

    pub fn organisation(&self, org_id: &str) -> Result<Organisation> {
        let path = self.org_dir(org_id)?.join("organisation.json");
        files::read_json_opt(&path)?
            .ok_or_else(|| EcosystemError::UnknownOrganisation(org_id.to_string()))
    }

    pub fn software_list(&self, org_id: &str) -> Result<Vec<Software>> {
        let dir = self.org_dir(org_id)?.join("software");
        files::subdirs(&dir)?
            .iter()
            .filter(|id| valid_id(id))
            .map(|id| self.software(org_id, id))
            .collect()
    }

    pub fn software(&self, org_id: &str, software_id: &str) -> Result<Software> {
        self.organisation(org_id)?;
        let path = self
            .software_dir(org_id, software_id)?
            .join("software.json");
        files::read_json_opt(&path)?.ok_or_else(|| unknown_software(org_id, software_id))
    }

    /// The files of the software's active keys.
    pub fn key_files(&self, org_id: &str, software_id: &str) -> Result<SoftwareKeyFiles> {
        self.software(org_id, software_id)?;
        Ok(SoftwareKeyFiles::in_dir(
            &self.software_dir(org_id, software_id)?,
        ))
    }

    /// Stores a new organisation and creates its organisation signing key.
    pub fn create_organisation(&self, spec: &OrganisationSpec) -> Result<Organisation> {
        let org_id = spec
            .org_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let dir = self.org_dir(&org_id)?;
        if dir.join("organisation.json").exists() {
            return Err(EcosystemError::AlreadyExists(format!(
                "organisation {org_id}"
            )));
        }
        check_cnpj(&spec.cnpj)?;
        check_roles(&spec.roles)?;
        if spec.name.trim().is_empty() {
            return Err(EcosystemError::Invalid("name is empty".into()));
        }
        let mut servers = spec.authorisation_servers.clone();
        for server in &mut servers {
            if server.server_id.is_none() {
                server.server_id = Some(uuid::Uuid::new_v4().to_string());
            }
        }
        let org = Organisation {
            org_id,
            name: spec.name.clone(),
            cnpj: spec.cnpj.clone(),
            roles: spec.roles.clone(),
            status: "Active".into(),
            created_on: now(),
            authorisation_servers: servers,
        };
        keys::load_or_create(&dir.join("org-sig.jwk.json"), KeyPurpose::Signing)?;
        files::write_json(&dir.join("organisation.json"), &org)?;
        tracing::info!(org_id = %org.org_id, "organisation registered");
        Ok(org)
    }

    /// Stores a new software statement and issues its transport certificate, signing key (with
    /// certificate) and encryption key.
    pub fn create_software(
        &self,
        pki: &Pki,
        org_id: &str,
        spec: &SoftwareSpec,
    ) -> Result<Software> {
        let org = self.organisation(org_id)?;
        let software_id = spec
            .software_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let dir = self.software_dir(org_id, &software_id)?;
        if dir.join("software.json").exists() {
            return Err(EcosystemError::AlreadyExists(format!(
                "software statement {software_id}"
            )));
        }
        check_roles(&spec.roles)?;
        if let Some(role) = spec.roles.iter().find(|r| !org.roles.contains(r)) {
            return Err(EcosystemError::Invalid(format!(
                "role {role} is not held by the organisation"
            )));
        }
        check_uris(&spec.redirect_uris, "redirect_uris")?;
        check_uris(&spec.webhook_uris, "webhook_uris")?;
        let software = Software {
            software_id,
            org_id: org.org_id.clone(),
            client_name: spec.client_name.clone(),
            description: spec
                .description
                .clone()
                .unwrap_or_else(|| spec.client_name.clone()),
            roles: spec.roles.clone(),
            redirect_uris: spec.redirect_uris.clone(),
            webhook_uris: spec.webhook_uris.clone(),
            origin_uris: spec.origin_uris.clone(),
            status: "Active".into(),
            mode: "Live".into(),
            version: "1.0".into(),
            created_on: now(),
        };
        issue_keys(pki, &org, &software, &dir)?;
        files::write_json(&dir.join("software.json"), &software)?;
        tracing::info!(org_id = %org.org_id, software_id = %software.software_id, "software statement registered");
        Ok(software)
    }

    /// Issues new keys for a software; the current ones move to `inactive/<n>` and stay in the
    /// inactive key sets.
    pub fn rotate_software_keys(
        &self,
        pki: &Pki,
        org_id: &str,
        software_id: &str,
    ) -> Result<SoftwareKeyFiles> {
        let org = self.organisation(org_id)?;
        let software = self.software(org_id, software_id)?;
        let dir = self.software_dir(org_id, software_id)?;
        let inactive = dir.join("inactive");
        let generation = files::subdirs(&inactive)?.len() + 1;
        let target = inactive.join(generation.to_string());
        files::ensure_dir(&target)?;
        let current = SoftwareKeyFiles::in_dir(&dir);
        let moved = SoftwareKeyFiles::in_dir(&target);
        for (from, to) in [
            (&current.transport_cert, &moved.transport_cert),
            (&current.transport_key, &moved.transport_key),
            (&current.signing_cert, &moved.signing_cert),
            (&current.signing_jwk, &moved.signing_jwk),
            (&current.encryption_jwk, &moved.encryption_jwk),
        ] {
            if from.exists() {
                std::fs::rename(from, to).map_err(|e| EcosystemError::io(from, e))?;
            }
        }
        issue_keys(pki, &org, &software, &dir)?;
        tracing::info!(%org_id, %software_id, generation, "software keys rotated");
        Ok(current)
    }

    /// Replaces the organisation signing key; the old one is kept as inactive.
    pub fn rotate_organisation_key(&self, org_id: &str) -> Result<()> {
        self.organisation(org_id)?;
        let dir = self.org_dir(org_id)?;
        let inactive = dir.join("inactive");
        let generation = files::subdirs(&inactive)?.len() + 1;
        let target = inactive.join(generation.to_string());
        files::ensure_dir(&target)?;
        let current = dir.join("org-sig.jwk.json");
        if current.exists() {
            let to = target.join("org-sig.jwk.json");
            std::fs::rename(&current, &to).map_err(|e| EcosystemError::io(&current, e))?;
        }
        keys::load_or_create(&current, KeyPurpose::Signing)?;
        Ok(())
    }

    /// `application.jwks` of a software: its signing key (with certificate chain) and its
    /// encryption key; `inactive` lists the keys of every earlier generation.
    pub fn application_jwks(
        &self,
        org_id: &str,
        software_id: &str,
        inactive: bool,
    ) -> Result<JwkSet> {
        let mut out = Vec::new();
        for dir in self.generations(org_id, software_id, inactive)? {
            let files = SoftwareKeyFiles::in_dir(&dir);
            if files.signing_jwk.exists() {
                let mut jwk = keys::public(&keys::load(&files.signing_jwk)?)?;
                if files.signing_cert.exists() {
                    attach_chain(&mut jwk, &files.signing_cert)?;
                }
                out.push(jwk);
            }
            if files.encryption_jwk.exists() {
                out.push(keys::public(&keys::load(&files.encryption_jwk)?)?);
            }
        }
        Ok(keys::jwk_set(out))
    }

    /// `transport.jwks` of a software: the public key of each transport certificate, with its
    /// chain, `use: tls`.
    pub fn transport_jwks(
        &self,
        org_id: &str,
        software_id: &str,
        inactive: bool,
    ) -> Result<JwkSet> {
        let mut out = Vec::new();
        for dir in self.generations(org_id, software_id, inactive)? {
            let files = SoftwareKeyFiles::in_dir(&dir);
            if !files.transport_key.exists() || !files.transport_cert.exists() {
                continue;
            }
            let pem = files::read_string(&files.transport_key)?;
            let pair = josekit::jwk::alg::rsa::RsaKeyPair::from_pem(pem.as_bytes())?;
            let mut jwk = josekit::jwk::KeyPair::to_jwk_public_key(&pair);
            jwk.set_key_use("tls");
            jwk.set_algorithm("PS256");
            let kid = keys::rfc7638_thumbprint(&jwk)?;
            jwk.set_key_id(kid);
            attach_chain(&mut jwk, &files.transport_cert)?;
            out.push(jwk);
        }
        Ok(keys::jwk_set(out))
    }

    /// The organisation's active private signing key (its BRSEAL in the sandbox): what the
    /// account holder signs its payment messages with.
    pub fn organisation_signing_key(&self, org_id: &str) -> Result<josekit::jwk::Jwk> {
        self.organisation(org_id)?;
        keys::load(&self.org_dir(org_id)?.join("org-sig.jwk.json"))
    }

    /// `application.jwks` of an organisation: its signing key(s).
    pub fn organisation_jwks(&self, org_id: &str, inactive: bool) -> Result<JwkSet> {
        self.organisation(org_id)?;
        let dir = self.org_dir(org_id)?;
        let dirs = if inactive {
            generation_dirs(&dir.join("inactive"))?
        } else {
            vec![dir]
        };
        let mut out = Vec::new();
        for d in dirs {
            let path = d.join("org-sig.jwk.json");
            if path.exists() {
                out.push(keys::public(&keys::load(&path)?)?);
            }
        }
        Ok(keys::jwk_set(out))
    }

    fn generations(&self, org_id: &str, software_id: &str, inactive: bool) -> Result<Vec<PathBuf>> {
        self.software(org_id, software_id)?;
        let dir = self.software_dir(org_id, software_id)?;
        if inactive {
            generation_dirs(&dir.join("inactive"))
        } else {
            Ok(vec![dir])
        }
    }
}

fn generation_dirs(inactive: &Path) -> Result<Vec<PathBuf>> {
    Ok(files::subdirs(inactive)?
        .into_iter()
        .map(|name| inactive.join(name))
        .collect())
}

fn issue_keys(pki: &Pki, org: &Organisation, software: &Software, dir: &Path) -> Result<()> {
    let subject = TransportSubject {
        org_id: org.org_id.clone(),
        software_id: software.software_id.clone(),
        cnpj: org.cnpj.clone(),
        business_category: "Private Organization".into(),
        common_name: software.client_name.clone(),
    };
    files::ensure_dir(dir)?;
    pki.issue_transport(&subject, dir)?;
    let files = SoftwareKeyFiles::in_dir(dir);
    let signing = keys::generate(KeyPurpose::Signing)?;
    let chain = pki.issue_signing_cert(&subject, &keys::private_pem(&signing)?)?;
    files::write_atomic(&files.signing_cert, chain.as_bytes())?;
    keys::save(&files.signing_jwk, &signing)?;
    keys::save(
        &files.encryption_jwk,
        &keys::generate(KeyPurpose::Encryption)?,
    )?;
    Ok(())
}

/// Adds `x5c` (standard base64 DER, leaf first) and `x5t#S256` from a PEM chain.
fn attach_chain(jwk: &mut Jwk, chain_pem: &Path) -> Result<()> {
    let chain = pki::certs_from_pem_file(chain_pem)?;
    let ders: Vec<Vec<u8>> = chain.iter().map(|c| c.as_ref().to_vec()).collect();
    jwk.set_x509_certificate_chain(&ders);
    if let Some(leaf) = chain.first() {
        use sha2::Digest;
        jwk.set_x509_certificate_sha256_thumbprint(sha2::Sha256::digest(leaf.as_ref()));
    }
    Ok(())
}

fn unknown_software(org_id: &str, software_id: &str) -> EcosystemError {
    EcosystemError::UnknownSoftware {
        org_id: org_id.to_string(),
        software_id: software_id.to_string(),
    }
}

fn check_cnpj(cnpj: &str) -> Result<()> {
    if cnpj.len() == 14 && cnpj.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(EcosystemError::Invalid("cnpj must be 14 digits".into()))
    }
}

fn check_roles(roles: &[String]) -> Result<()> {
    match roles.iter().find(|r| !KNOWN_ROLES.contains(&r.as_str())) {
        Some(role) => Err(EcosystemError::Invalid(format!("unknown role {role}"))),
        None => Ok(()),
    }
}

fn check_uris(uris: &[String], field: &str) -> Result<()> {
    match uris
        .iter()
        .find(|u| !u.starts_with("https://") || u.len() > 255)
    {
        Some(_) => Err(EcosystemError::Invalid(format!(
            "every entry of {field} must be an https URL of at most 255 characters"
        ))),
        None => Ok(()),
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
