//! The capture layer: one poem middleware around every regulated route that records each call
//! for the PCM and the admin metrics, and hands the record to the [`CaptureSink`] without
//! waiting. Recording never fails or blocks a request: anything it cannot learn is left out.
//!
//! Put it outside the interaction-id middleware, so the response's `x-fapi-interaction-id`
//! (the id the PCM reconciles client and server reports by) is set when it looks:
//!
//! ```text
//! let endpoint = aberta_auth::server::endpoint_with(auth, apis)
//!     .with(Capture::new(matcher, writer.sink(), config));
//! ```
//!
//! Per call it records: the interaction id, the templated endpoint (paths that match no
//! regulated template are not recorded), the method, the status, when the request arrived and
//! how long the answer took, the client's organisation and software statement ids from its
//! certificate, the brand and the institution's organisation id, the client's IP address
//! (sealed at rest, see [`crate::record`]), and the `additionalInfo` facts: path identifiers
//! (`consentId`, `enrollmentId`), what handlers noted ([`crate::facts`]), and for 4xx/5xx
//! answers the `errors[].code` of the JSON error body (or an OAuth `error`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aberta_runtime::context::ClientCert;
use poem::http::header::HeaderName;
use poem::http::{HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Addr, Endpoint, IntoResponse, Middleware, Request, Response};
use serde::Deserialize;

use crate::endpoints::{EndpointMatcher, Matched};
use crate::facts::{self, CallFacts};
use crate::record::CallRecord;
use crate::writer::CaptureSink;

/// `x-fapi-interaction-id`, parsed once.
static INTERACTION_ID: HeaderName =
    HeaderName::from_static(aberta_runtime::fapi_headers::INTERACTION_ID);

/// Error bodies larger than this are not searched for codes.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A brand and the organisation that answers for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandIdentity {
    pub brand: String,
    /// The institution's organisation id in the directory: the report's `serverOrgId`.
    pub server_org_id: String,
}

/// Who answers a request, and whether to believe proxies about the client's address.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// The brand of a request whose host names none of `brands`.
    pub default_brand: BrandIdentity,
    /// `host[:port]` of each brand's issuer (as `Host` carries it) and the brand.
    pub brands: Vec<(String, BrandIdentity)>,
    /// Take the client address from the first `X-Forwarded-For` entry (behind an ingress that
    /// sets it) instead of the TCP peer.
    pub trust_forwarded_for: bool,
}

impl CaptureConfig {
    /// One brand for every host.
    pub fn single(brand: &str, server_org_id: &str) -> Self {
        Self {
            default_brand: BrandIdentity {
                brand: brand.to_string(),
                server_org_id: server_org_id.to_string(),
            },
            brands: Vec::new(),
            trust_forwarded_for: false,
        }
    }
}

#[derive(Debug)]
struct Brand {
    brand: Arc<str>,
    server_org_id: Arc<str>,
}

impl From<&BrandIdentity> for Brand {
    fn from(identity: &BrandIdentity) -> Self {
        Self {
            brand: identity.brand.as_str().into(),
            server_org_id: identity.server_org_id.as_str().into(),
        }
    }
}

#[derive(Debug)]
struct Shared {
    matcher: Arc<EndpointMatcher>,
    sink: CaptureSink,
    default_brand: Brand,
    brands: Vec<(String, Brand)>,
    trust_forwarded_for: bool,
}

/// The capture middleware. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Capture {
    shared: Arc<Shared>,
}

impl Capture {
    pub fn new(matcher: Arc<EndpointMatcher>, sink: CaptureSink, config: CaptureConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                matcher,
                sink,
                default_brand: Brand::from(&config.default_brand),
                brands: config
                    .brands
                    .iter()
                    .map(|(host, identity)| (host.to_ascii_lowercase(), Brand::from(identity)))
                    .collect(),
                trust_forwarded_for: config.trust_forwarded_for,
            }),
        }
    }

    /// The middleware over every regulated endpoint ([`EndpointMatcher::regulated`]).
    pub fn layer(sink: CaptureSink, config: CaptureConfig) -> Self {
        Self::new(Arc::new(EndpointMatcher::regulated()), sink, config)
    }
}

impl<E: Endpoint> Middleware<E> for Capture {
    type Output = CaptureEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CaptureEndpoint {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// An endpoint wrapped by [`Capture`].
#[derive(Debug)]
pub struct CaptureEndpoint<E> {
    inner: E,
    shared: Arc<Shared>,
}

/// What is read from the request before it is handed on.
struct Arrival {
    started: Instant,
    received_at: i64,
    endpoint: Arc<str>,
    family: Arc<str>,
    method: &'static str,
    path_facts: CallFacts,
    client_org_id: Option<String>,
    client_ssid: Option<String>,
    client_ip: Option<IpAddr>,
    request_interaction_id: Option<HeaderValue>,
    brand: Arc<str>,
    server_org_id: Arc<str>,
}

impl<E: Endpoint> Endpoint for CaptureEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let Some(mut arrival) = self.arrival(&req) else {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        // Boxed, so the request-sized future is not copied into each wrapper it passes through.
        let (result, noted) = facts::collect(Box::pin(self.inner.call(req))).await;
        let processing_ms =
            i32::try_from(arrival.started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match result {
            Ok(output) => {
                let mut resp = output.into_response();
                let mut facts = std::mem::take(&mut arrival.path_facts);
                facts.merge(noted);
                if let Some(from_handler) = resp.extensions_mut().remove::<CallFacts>() {
                    facts.merge(from_handler);
                }
                if resp.status().as_u16() >= 400 && facts.error_codes.is_none() {
                    facts.error_codes = error_codes(&mut resp).await;
                }
                let interaction_id = header(resp.headers(), &INTERACTION_ID);
                self.offer(arrival, resp.status(), interaction_id, processing_ms, facts);
                Ok(resp)
            }
            Err(err) => {
                let mut facts = std::mem::take(&mut arrival.path_facts);
                facts.merge(noted);
                self.offer(arrival, err.status(), None, processing_ms, facts);
                Err(err)
            }
        }
    }
}

impl<E> CaptureEndpoint<E> {
    /// `None` when the call is not one to record.
    fn arrival(&self, req: &Request) -> Option<Arrival> {
        let method = pcm_method(req.method())?;
        let path = req.uri().path();
        let matched = self.shared.matcher.find(path)?;
        let received_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let subject = req
            .extensions()
            .get::<ClientCert>()
            .and_then(|cert| cert.subject.as_ref());
        let brand = self.brand(req);
        Some(Arrival {
            started: Instant::now(),
            received_at,
            endpoint: matched.endpoint.template.clone(),
            family: matched.endpoint.family.clone(),
            method,
            path_facts: path_facts(&matched),
            client_org_id: subject.map(|s| s.org_id.clone()),
            client_ssid: subject.map(|s| s.software_id.clone()),
            client_ip: self.client_ip(req),
            request_interaction_id: req.headers().get(&INTERACTION_ID).cloned(),
            brand: brand.brand.clone(),
            server_org_id: brand.server_org_id.clone(),
        })
    }

    fn brand(&self, req: &Request) -> &Brand {
        let shared = &*self.shared;
        if shared.brands.is_empty() {
            return &shared.default_brand;
        }
        let host = req
            .headers()
            .get(poem::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        host.and_then(|host| {
            shared
                .brands
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(host))
        })
        .map_or(&shared.default_brand, |(_, brand)| brand)
    }

    fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        if self.shared.trust_forwarded_for
            && let Some(forwarded) = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|first| first.trim().parse().ok())
        {
            return Some(forwarded);
        }
        match req.remote_addr().0 {
            Addr::SocketAddr(addr) => Some(addr.ip()),
            _ => None,
        }
    }

    fn offer(
        &self,
        arrival: Arrival,
        status: StatusCode,
        interaction_id: Option<String>,
        processing_ms: i32,
        facts: CallFacts,
    ) {
        let interaction_id = interaction_id
            .or_else(|| {
                arrival
                    .request_interaction_id
                    .and_then(|v| v.to_str().ok().map(str::to_owned))
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.shared.sink.offer(CallRecord {
            brand: arrival.brand,
            interaction_id,
            endpoint: arrival.endpoint,
            family: arrival.family,
            method: arrival.method,
            status: status.as_u16(),
            received_at: arrival.received_at,
            processing_ms,
            client_org_id: arrival.client_org_id,
            client_ssid: arrival.client_ssid,
            server_org_id: arrival.server_org_id,
            facts,
            client_ip: arrival.client_ip,
        });
    }
}

/// The methods a PCM report can carry; other methods are not recorded.
fn pcm_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => return None,
    })
}

fn header(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn path_facts(matched: &Matched<'_>) -> CallFacts {
    let mut facts = CallFacts::default();
    for (key, value) in matched.reported_parameters() {
        let value = Some(percent_decoded(value));
        match key {
            "consentId" => facts.consent_id = value,
            "enrollmentId" => facts.enrollment_id = value,
            _ => {}
        }
    }
    facts
}

/// `urn%3Abank%3A1` -> `urn:bank:1`; left as it is when it does not decode.
fn percent_decoded(value: &str) -> String {
    if !value.contains('%') {
        return value.to_string();
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = value
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
    /// RFC 6749 error responses (the token, PAR, introspection, revocation and DCR endpoints).
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Option<String>,
}

/// The codes of a JSON error body; the body is put back untouched.
async fn error_codes(resp: &mut Response) -> Option<Vec<String>> {
    let json = resp.content_type().is_some_and(|ct| {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        ct.eq_ignore_ascii_case("application/json") || ct.ends_with("+json")
    });
    if !json {
        return None;
    }
    let bytes = resp.take_body().into_bytes().await.ok()?;
    let codes = if bytes.len() <= MAX_ERROR_BODY {
        serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .map(|body| {
                let mut codes: Vec<String> =
                    body.errors.into_iter().filter_map(|e| e.code).collect();
                codes.extend(body.error);
                codes
            })
    } else {
        None
    };
    resp.set_body(bytes);
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_identifiers_are_decoded() {
        assert_eq!(percent_decoded("urn%3Abank%3A1"), "urn:bank:1");
        assert_eq!(percent_decoded("plain"), "plain");
        assert_eq!(percent_decoded("bad%zz"), "bad%zz");
    }

    #[tokio::test]
    async fn error_codes_come_from_json_error_bodies_and_the_body_stays() {
        let body = r#"{"errors":[{"code":"NAO_INFORMADO","title":"t","detail":"d"},{"code":"X"}]}"#;
        let mut resp = Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .content_type("application/json; charset=utf-8")
            .body(body);
        assert_eq!(
            error_codes(&mut resp).await,
            Some(vec!["NAO_INFORMADO".to_string(), "X".to_string()])
        );
        assert_eq!(resp.take_body().into_string().await.unwrap(), body);

        let mut oauth = Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .content_type("application/json")
            .body(r#"{"error":"invalid_client","error_description":"no"}"#);
        assert_eq!(
            error_codes(&mut oauth).await,
            Some(vec!["invalid_client".to_string()])
        );

        let mut text = Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .content_type("text/plain")
            .body("upstream");
        assert_eq!(error_codes(&mut text).await, None);
        assert_eq!(text.take_body().into_string().await.unwrap(), "upstream");
    }
}
