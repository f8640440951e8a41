//! The test PKI: a root CA, an issuing CA, transport certificates with the OFB subject
//! attributes, server certificates for loopback and signing certificates, all persisted as PEM
//! under `<data>/pki` and reused on the next start.

use std::path::{Path, PathBuf};

use chrono::Datelike;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256, RsaKeySize,
    SerialNumber, string::PrintableString,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{EcosystemError, Result};
use crate::files;

/// OID of `UID` (userId): the software statement id.
pub const OID_UID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];
/// OID of `organizationIdentifier`: `OFBBR-<org id>`.
pub const OID_ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];
/// OID of `serialNumber` (the subject attribute, not the certificate serial): the CNPJ.
pub const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
/// OID of `businessCategory`.
pub const OID_BUSINESS_CATEGORY: &[u64] = &[2, 5, 4, 15];
/// OID of `jurisdictionCountryName`.
pub const OID_JURISDICTION_COUNTRY: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3];

/// Who a transport certificate belongs to.
#[derive(Debug, Clone)]
pub struct TransportSubject {
    pub org_id: String,
    pub software_id: String,
    /// 14 digits.
    pub cnpj: String,
    /// e.g. `Private Organization`.
    pub business_category: String,
    pub common_name: String,
}

/// A certificate (leaf first, then the issuing CA) and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// The CA pair of the test PKI, loaded from (or first created under) `<data>/pki`.
pub struct Pki {
    dir: PathBuf,
    issuing_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Loads the CAs under `<data_dir>/pki`, creating them when absent.
    pub fn open_or_create(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("pki");
        files::ensure_dir(&dir)?;
        let issuing_cert = dir.join("issuing-ca.pem");
        let issuing_key = dir.join("issuing-ca.key.pem");
        if !issuing_cert.exists() || !issuing_key.exists() {
            create_cas(&dir)?;
        }
        let issuing_pem = files::read_string(&issuing_cert)?;
        let key = KeyPair::from_pem(&files::read_string(&issuing_key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&issuing_pem, key)?;
        Ok(Self {
            dir,
            issuing_pem,
            issuer,
        })
    }

    /// The trust bundle (issuing CA and root CA) clients and servers verify peers against.
    pub fn ca_bundle_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The trust anchors of the bundle, as DER.
    pub fn ca_certs(&self) -> Result<Vec<CertificateDer<'static>>> {
        certs_from_pem_file(&self.ca_bundle_path())
    }

    /// The server certificate for `127.0.0.1` and `localhost`, issued once and reused.
    pub fn server_cert(&self) -> Result<IssuedCert> {
        let issued = IssuedCert {
            cert_path: self.dir.join("server.pem"),
            key_path: self.dir.join("server.key.pem"),
        };
        if issued.cert_path.exists() && issued.key_path.exists() {
            return Ok(issued);
        }
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        params.distinguished_name = name(&[
            (DnType::CommonName, "localhost".into()),
            (DnType::OrganizationName, "Aberta sandbox".into()),
        ]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        self.issue(params, &issued)?;
        Ok(issued)
    }

    /// Issues a transport certificate (client and server authentication) carrying the OFB
    /// subject attributes, writing `transport.pem` and `transport.key.pem` into `dir`.
    pub fn issue_transport(&self, subject: &TransportSubject, dir: &Path) -> Result<IssuedCert> {
        if subject.cnpj.len() != 14 || !subject.cnpj.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EcosystemError::Invalid("CNPJ must be 14 digits".into()));
        }
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(&[
            (DnType::CountryName, printable("BR")?),
            (DnType::OrganizationName, subject.common_name.clone().into()),
            (DnType::CommonName, subject.common_name.clone().into()),
            (
                DnType::CustomDnType(OID_UID.to_vec()),
                subject.software_id.clone().into(),
            ),
            (
                DnType::CustomDnType(OID_ORGANIZATION_IDENTIFIER.to_vec()),
                format!("OFBBR-{}", subject.org_id).into(),
            ),
            (
                DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
                printable(&subject.cnpj)?,
            ),
            (
                DnType::CustomDnType(OID_BUSINESS_CATEGORY.to_vec()),
                subject.business_category.clone().into(),
            ),
            (
                DnType::CustomDnType(OID_JURISDICTION_COUNTRY.to_vec()),
                printable("BR")?,
            ),
        ]);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let issued = IssuedCert {
            cert_path: dir.join("transport.pem"),
            key_path: dir.join("transport.key.pem"),
        };
        self.issue(params, &issued)?;
        Ok(issued)
    }

    /// Issues a signing certificate (BRSEAL-like: digital signature, non-repudiation) for an
    /// existing key given as PKCS#8 PEM; returns the certificate chain as PEM.
    pub fn issue_signing_cert(&self, subject: &TransportSubject, key_pem: &str) -> Result<String> {
        let key = KeyPair::from_pem(key_pem)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(&[
            (DnType::CountryName, printable("BR")?),
            (DnType::CommonName, subject.common_name.clone().into()),
            (
                DnType::CustomDnType(OID_UID.to_vec()),
                subject.software_id.clone().into(),
            ),
            (
                DnType::CustomDnType(OID_ORGANIZATION_IDENTIFIER.to_vec()),
                format!("OFBBR-{}", subject.org_id).into(),
            ),
            (
                DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
                printable(&subject.cnpj)?,
            ),
        ]);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        leaf_validity(&mut params);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(format!("{}{}", cert.pem(), self.issuing_pem))
    }

    fn issue(&self, mut params: CertificateParams, out: &IssuedCert) -> Result<()> {
        leaf_validity(&mut params);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        files::write_atomic(&out.key_path, key.serialize_pem().as_bytes())?;
        files::write_atomic(
            &out.cert_path,
            format!("{}{}", cert.pem(), self.issuing_pem).as_bytes(),
        )
    }
}

fn create_cas(dir: &Path) -> Result<()> {
    tracing::info!(dir = %dir.display(), "creating the test PKI");
    let root_key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?;
    let mut root = CertificateParams::new(Vec::<String>::new())?;
    root.distinguished_name = name(&[
        (DnType::CountryName, printable("BR")?),
        (DnType::OrganizationName, "Aberta sandbox".into()),
        (DnType::CommonName, "Aberta sandbox root CA".into()),
    ]);
    ca_params(&mut root, None);
    let root_cert = root.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root, root_key);

    let issuing_key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?;
    let mut issuing = CertificateParams::new(Vec::<String>::new())?;
    issuing.distinguished_name = name(&[
        (DnType::CountryName, printable("BR")?),
        (DnType::OrganizationName, "Aberta sandbox".into()),
        (DnType::CommonName, "Aberta sandbox issuing CA".into()),
    ]);
    ca_params(&mut issuing, Some(0));
    issuing.use_authority_key_identifier_extension = true;
    let issuing_cert = issuing.signed_by(&issuing_key, &root_issuer)?;

    files::write_atomic(&dir.join("root-ca.pem"), root_cert.pem().as_bytes())?;
    files::write_atomic(&dir.join("issuing-ca.pem"), issuing_cert.pem().as_bytes())?;
    files::write_atomic(
        &dir.join("ca.pem"),
        format!("{}{}", issuing_cert.pem(), root_cert.pem()).as_bytes(),
    )?;
    files::write_atomic(
        &dir.join("issuing-ca.key.pem"),
        issuing_key.serialize_pem().as_bytes(),
    )?;
    // The root key signs nothing after this; it is kept only so the PKI can be extended by hand.
    files::write_atomic(
        &dir.join("root-ca.key.pem"),
        root_issuer_key_pem(&root_issuer).as_bytes(),
    )
}

fn root_issuer_key_pem(issuer: &Issuer<'static, KeyPair>) -> String {
    issuer.key().serialize_pem()
}

fn ca_params(params: &mut CertificateParams, path_len: Option<u8>) {
    params.is_ca = match path_len {
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let today = chrono::Utc::now().date_naive();
    params.not_before = rcgen::date_time_ymd(today.year() - 1, today.month() as u8, day(today));
    params.not_after = rcgen::date_time_ymd(today.year() + 10, today.month() as u8, day(today));
    params.serial_number = Some(random_serial());
}

fn leaf_validity(params: &mut CertificateParams) {
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap_or(today);
    params.not_before = rcgen::date_time_ymd(
        yesterday.year(),
        yesterday.month() as u8,
        yesterday.day() as u8,
    );
    params.not_after = rcgen::date_time_ymd(today.year() + 1, today.month() as u8, day(today));
    params.serial_number = Some(random_serial());
}

/// The day of the month, capped at 28 so that the same day in another year is still a date.
fn day(date: chrono::NaiveDate) -> u8 {
    date.day().min(28) as u8
}

fn random_serial() -> SerialNumber {
    let mut bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[0] &= 0x7f; // positive INTEGER
    SerialNumber::from_slice(&bytes)
}

fn printable(text: &str) -> Result<DnValue> {
    PrintableString::try_from(text)
        .map(DnValue::PrintableString)
        .map_err(|_| EcosystemError::Invalid(format!("'{text}' is not a printable string")))
}

fn name(entries: &[(DnType, DnValue)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (kind, value) in entries {
        dn.push(kind.clone(), value.clone());
    }
    dn
}

/// Every certificate in a PEM file, as DER.
pub fn certs_from_pem_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|_| EcosystemError::Pem(path.display().to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| EcosystemError::Pem(path.display().to_string()))?;
    if certs.is_empty() {
        return Err(EcosystemError::Pem(path.display().to_string()));
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub fn key_from_pem_file(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|_| EcosystemError::Pem(path.display().to_string()))
}

/// base64url (no padding) SHA-256 of a DER certificate: `x5t#S256` of RFC 8705.
pub fn thumbprint(der: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}
