//! What a generated route hands to the server trait besides the typed parameters.

use std::any::Any;
use std::sync::Arc;

use poem::http::HeaderMap;

/// The client certificate of the mutual-TLS connection, put into the request extensions by the
/// accept loop that terminated TLS (or by a gateway adapter).
#[derive(Clone)]
pub struct ClientCert {
    /// DER of the leaf certificate.
    pub der: Arc<[u8]>,
    /// base64url SHA-256 of the DER: the `x5t#S256` of RFC 8705.
    pub thumbprint: String,
    /// The participant the subject names, read once when the connection was accepted;
    /// `None` when the subject lacks `UID` or an `OFBBR-` `organizationIdentifier`.
    pub subject: Option<CertSubject>,
}

/// The identity an Open Finance Brasil certificate's subject asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSubject {
    /// `UID`: the software statement id.
    pub software_id: String,
    /// `organizationIdentifier` without its `OFBBR-` prefix.
    pub org_id: String,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// A credential the composition's [`Authenticate`](crate::gate::Authenticate) hook verified
/// for this request before its parameters were read (an access token's introspection), kept so
/// the handler's own check reuses it instead of reading it again.
#[derive(Clone)]
pub struct Verified(Arc<dyn Any + Send + Sync>);

impl Verified {
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Self(Arc::new(value))
    }

    /// The credential, when it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credential itself.
        f.write_str("Verified(..)")
    }
}

/// Per-request context for server trait implementations.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub client_cert: Option<ClientCert>,
    pub remote_addr: Option<String>,
    /// Every request header, for the checks a handler makes beyond the typed parameters
    /// (the token, the host that picks the brand).
    pub headers: HeaderMap,
    /// The authority the request addressed: the `Host` header, or the HTTP/2 `:authority`
    /// (which is not a header).
    pub authority: Option<String>,
    /// The path the request addressed, as received (`/open-banking/payments/v4/consents`):
    /// with the authority, the URL a signed request's `aud` must name.
    pub path: String,
    /// The templated path of the operation, e.g. `/consents/{consentId}`.
    pub operation_path: &'static str,
    pub operation_id: &'static str,
    /// What the authentication hook verified for this request, if one ran.
    pub verified: Option<Verified>,
}

impl RequestContext {
    pub fn from_request(
        req: &poem::Request,
        operation_id: &'static str,
        operation_path: &'static str,
    ) -> Self {
        Self {
            client_cert: req.extensions().get::<ClientCert>().cloned(),
            remote_addr: Some(req.remote_addr().to_string()),
            headers: req.headers().clone(),
            authority: req
                .headers()
                .get(poem::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned())),
            path: req.original_uri().path().to_string(),
            operation_path,
            operation_id,
            verified: req.extensions().get::<Verified>().cloned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The credential of type `T` the authentication hook verified for this request.
    pub fn verified<T: Any>(&self) -> Option<&T> {
        self.verified.as_ref().and_then(Verified::get)
    }
}
