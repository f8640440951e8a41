//! Reads the OFB attributes out of a client certificate's subject.

use x509_parser::prelude::{FromDer, X509Certificate};

/// The identity a transport certificate asserts (what the accept loop puts in
/// [`ClientCert::subject`](aberta_runtime::context::ClientCert)).
pub use aberta_runtime::context::CertSubject as CertIdentity;

const UID: &str = "0.9.2342.19200300.100.1.1";
const ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";

/// `None` when the DER does not parse or lacks `UID` or an `OFBBR-` organizationIdentifier.
pub fn identity(der: &[u8]) -> Option<CertIdentity> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut software_id = None;
    let mut org_id = None;
    for attr in cert.subject().iter_attributes() {
        let oid = attr.attr_type().to_id_string();
        let Ok(value) = attr.as_str() else { continue };
        match oid.as_str() {
            UID => software_id = Some(value.to_string()),
            ORGANIZATION_IDENTIFIER => {
                org_id = value.strip_prefix("OFBBR-").map(str::to_string);
            }
            _ => {}
        }
    }
    Some(CertIdentity {
        software_id: software_id?,
        org_id: org_id?,
    })
}
