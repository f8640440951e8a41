//! The one error type of the ecosystem simulator.

use std::path::PathBuf;

/// Everything that can go wrong while building or serving the simulated ecosystem.
///
/// Request handlers never return this type to a client as is: they map it to a JSON error with
/// an HTTP status (see [`crate::http_error`]); it carries no key material or personal data.
#[derive(Debug, thiserror::Error)]
pub enum EcosystemError {
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed JSON in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("JOSE: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("{0} is not a valid PEM document")]
    Pem(String),
    #[error("unknown organisation {0}")]
    UnknownOrganisation(String),
    #[error("unknown software statement {software_id} of organisation {org_id}")]
    UnknownSoftware { org_id: String, software_id: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
}

impl EcosystemError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = EcosystemError> = std::result::Result<T, E>;
