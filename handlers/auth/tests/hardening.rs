//! Issue 15 findings on the authorization server, each on SQLite and PostgreSQL:
//! `invalid_client` without a Bearer challenge, client assertions accepted once at every
//! instance, bodies refused before they are read, RFC 7591 errors from DCR, and 405 with
//! `Allow` on every path of the authorization server.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use aberta_runtime::context::ClientCert;
use common::*;
use poem::Endpoint;
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn pairs(form: &[(&str, &str)]) -> Vec<(String, String)> {
    form.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn authenticated(assertion: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form = pairs(extra);
    form.push(("client_assertion_type".into(), JWT_BEARER.into()));
    form.push(("client_assertion".into(), assertion.into()));
    form
}

/// A POST of `form` over the network, with the raw response (headers included).
async fn post_raw(
    http: &reqwest::Client,
    url: &str,
    form: &[(String, String)],
) -> reqwest::Response {
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

fn challenge(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
}

/// The TPP's transport certificate as the TLS layer would attach it.
fn client_cert(env: &Env, tpp: &Tpp) -> ClientCert {
    let files = aberta_ecosystem::registry::Registry::new(env.dir.path())
        .key_files(&tpp.org_id, &tpp.software_id)
        .unwrap();
    let der = aberta_ecosystem::pki::certs_from_pem_file(&files.transport_cert).unwrap()[0].clone();
    ClientCert {
        thumbprint: aberta_ecosystem::pki::thumbprint(der.as_ref()),
        subject: aberta_ecosystem::subject::identity(der.as_ref()),
        der: Arc::from(der.as_ref()),
    }
}

/// A request to `issuer` + `path`, as the TLS front door hands it to the routes.
fn request(
    issuer: &str,
    method: Method,
    path: &str,
    cert: Option<&ClientCert>,
    body: impl Into<poem::Body>,
) -> poem::Request {
    let authority = issuer.trim_start_matches("https://");
    let mut req = poem::Request::builder()
        .method(method)
        .uri(format!("{issuer}{path}").parse().unwrap())
        .header("host", authority)
        .body(body);
    if let Some(cert) = cert {
        req.extensions_mut().insert(cert.clone());
    }
    req
}

/// Calls `endpoint` in process; returns status, headers and JSON body.
async fn call(
    endpoint: &BoxEndpoint<'static>,
    req: poem::Request,
) -> (u16, poem::http::HeaderMap, Value) {
    let resp = endpoint.get_response(req).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().into_bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

// ---- 1. invalid_client carries no Bearer challenge; a failed token names invalid_token ------

#[tokio::test]
async fn invalid_client_is_a_400_without_bearer_challenge() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let issuer = sandbox.issuer().to_string();
        let mut refusals = Vec::new();

        // No client certificate, at the token endpoint and at PAR.
        let anonymous = browser(&sandbox.contract);
        let form = authenticated(&tpp.assertion(), &[("grant_type", "client_credentials")]);
        refusals.push((
            "no certificate (token)",
            post_raw(&anonymous, &format!("{issuer}/token"), &form).await,
        ));
        let form = authenticated(&tpp.assertion(), &[("request", "x")]);
        refusals.push((
            "no certificate (par)",
            post_raw(&anonymous, &format!("{issuer}/par"), &form).await,
        ));

        // An RS256 assertion.
        let files = aberta_ecosystem::registry::Registry::new(sandbox.dir.path())
            .key_files(&tpp.org_id, &tpp.software_id)
            .unwrap();
        let mut jwk = aberta_ecosystem::keys::load(&files.signing_jwk).unwrap();
        jwk.set_algorithm("RS256");
        let signer = josekit::jws::RS256.signer_from_jwk(&jwk).unwrap();
        let Value::Object(claims) = json!({
            "iss": tpp.client_id(), "sub": tpp.client_id(), "aud": issuer,
            "jti": uuid::Uuid::new_v4().to_string(), "iat": now(), "exp": now() + 60,
        }) else {
            unreachable!()
        };
        let rs256 = josekit::jwt::encode_with_signer(
            &josekit::jwt::JwtPayload::from_map(claims).unwrap(),
            &josekit::jws::JwsHeader::new(),
            &signer,
        )
        .unwrap();
        let form = authenticated(&rs256, &[("request", "x")]);
        refusals.push((
            "RS256 assertion (par)",
            post_raw(&tpp.http, &format!("{issuer}/par"), &form).await,
        ));

        // The client of another brand.
        let second = sandbox
            .contract
            .brands
            .iter()
            .find(|b| b.issuer != issuer)
            .expect("the sandbox has two brands");
        let mut elsewhere = tpp.clone_for(&second.issuer);
        elsewhere.client_id = tpp.client_id.clone();
        let form = authenticated(
            &elsewhere.assertion(),
            &[("grant_type", "client_credentials")],
        );
        refusals.push((
            "client of another brand (token)",
            post_raw(&tpp.http, &format!("{}/token", second.issuer), &form).await,
        ));

        for (case, resp) in refusals {
            assert_eq!(resp.status(), 400, "{case}");
            assert_eq!(
                challenge(&resp),
                None,
                "{case}: no challenge for private_key_jwt"
            );
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client", "{case}: {body}");
        }
        sandbox.holder.listener.shutdown().await;
    }
}

#[tokio::test]
async fn userinfo_challenge_names_invalid_token() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let url = format!("{}/userinfo", sandbox.issuer());
        let resp = tpp
            .http
            .get(&url)
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            challenge(&resp).as_deref(),
            Some("Bearer error=\"invalid_token\"")
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        // No token at all: a challenge without an error code (RFC 6750 §3.1).
        let resp = tpp.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(challenge(&resp).as_deref(), Some("Bearer"));
        sandbox.holder.listener.shutdown().await;
    }
}

// ---- 2. a client assertion is accepted once, at every instance ------------------------------

#[tokio::test]
async fn a_client_assertion_is_accepted_once_across_instances() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        // A second instance of the account holder on the same database.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = database_url(backend);
        let other = aberta_auth::sandbox::start(
            sandbox.dir.path(),
            &sandbox.contract,
            listener,
            url.as_deref(),
        )
        .await
        .unwrap();
        let other_routes = aberta_auth::server::endpoint(other.server.clone());
        let cert = client_cert(&sandbox, &tpp);
        let issuer = sandbox.issuer().to_string();
        let at_other = |assertion: &str| {
            let form = authenticated(assertion, &[("grant_type", "client_credentials")]);
            let body = serde_urlencoded::to_string(form).unwrap();
            let mut req = request(&issuer, Method::POST, "/token", Some(&cert), body);
            req.headers_mut().insert(
                "content-type",
                "application/x-www-form-urlencoded".parse().unwrap(),
            );
            req
        };

        // First use at this instance: accepted; again here and at the other: refused.
        let assertion = tpp.assertion();
        let form = authenticated(&assertion, &[("grant_type", "client_credentials")]);
        let first = tpp.post_form("/token", &form).await;
        assert_eq!(first.0, 200, "first use: {}", first.1);
        assert_error(&tpp.post_form("/token", &form).await, 400, "invalid_client");
        let (status, _, body) = call(&other_routes, at_other(&assertion)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client")),
            "{body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("already used"),
            "{body}"
        );

        // The other instance takes a fresh assertion, which this one then refuses.
        let fresh = tpp.assertion();
        let (status, _, body) = call(&other_routes, at_other(&fresh)).await;
        assert_eq!(status, 200, "fresh assertion at the other instance: {body}");
        let form = authenticated(&fresh, &[("grant_type", "client_credentials")]);
        assert_error(&tpp.post_form("/token", &form).await, 400, "invalid_client");

        // Without a jti, an assertion cannot be told apart from its replay.
        let no_jti = tpp.sign(json!({
            "iss": tpp.client_id(), "sub": tpp.client_id(), "aud": issuer,
            "iat": now(), "exp": now() + 60,
        }));
        let form = authenticated(&no_jti, &[("grant_type", "client_credentials")]);
        assert_error(&tpp.post_form("/token", &form).await, 400, "invalid_client");

        // An assertion living for a day would pin its jti for a day: refused.
        let long = tpp.sign(json!({
            "iss": tpp.client_id(), "sub": tpp.client_id(), "aud": issuer,
            "jti": uuid::Uuid::new_v4().to_string(), "iat": now(), "exp": now() + 86_400,
        }));
        let form = authenticated(&long, &[("grant_type", "client_credentials")]);
        assert_error(&tpp.post_form("/token", &form).await, 400, "invalid_client");

        other.listener.shutdown().await;
        sandbox.holder.listener.shutdown().await;
    }
}

// ---- 3. bodies refused before they are read ---------------------------------------------------

/// An endless body that counts the bytes pulled from it.
struct Counting {
    pulled: Arc<AtomicUsize>,
    left: usize,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.left).min(16 * 1024);
        buf.put_slice(&vec![b'a'; n]);
        self.left -= n;
        self.pulled.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

/// A 32 MiB body without a declared length; returns it and its counter.
fn big_body() -> (poem::Body, Arc<AtomicUsize>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let body = poem::Body::from_async_read(Counting {
        pulled: pulled.clone(),
        left: 32 << 20,
    });
    (body, pulled)
}

const CAP: usize = 64 * 1024;
/// What a capped read may pull past the cap: one read of the reader.
const SLACK: usize = 16 * 1024;

#[tokio::test]
async fn oversized_or_anonymous_bodies_are_not_read() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let routes = aberta_auth::server::endpoint(sandbox.holder.server.clone());
        let issuer = sandbox.issuer().to_string();
        let cert = client_cert(&sandbox, &tpp);
        for path in ["/par", "/token", "/introspect", "/revoke"] {
            // No certificate: refused before a byte is read.
            let (body, pulled) = big_body();
            let req = request(&issuer, Method::POST, path, None, body);
            let (status, _, answer) = call(&routes, req).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (400, Some("invalid_client")),
                "{path}: {answer}"
            );
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                0,
                "{path}: body read without a certificate"
            );

            // A certificate, and a body without a length: the read stops at the cap.
            let (body, pulled) = big_body();
            let req = request(&issuer, Method::POST, path, Some(&cert), body);
            let (status, _, answer) = call(&routes, req).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (413, Some("invalid_request")),
                "{path}: {answer}"
            );
            let read = pulled.load(Ordering::SeqCst);
            assert!(read <= CAP + SLACK, "{path}: {read} bytes read");

            // A declared length over the cap: refused before reading.
            let (body, pulled) = big_body();
            let mut req = request(&issuer, Method::POST, path, Some(&cert), body);
            req.headers_mut()
                .insert("content-length", (32u64 << 20).into());
            let (status, _, answer) = call(&routes, req).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (413, Some("invalid_request")),
                "{path}: {answer}"
            );
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                0,
                "{path}: declared-too-large body read"
            );
        }

        // DCR: no certificate, then too large.
        let (body, pulled) = big_body();
        let req = request(&issuer, Method::POST, "/register", None, body);
        let (status, headers, answer) = call(&routes, req).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (401, Some("invalid_token")),
            "{answer}"
        );
        assert!(headers.contains_key("www-authenticate"));
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            0,
            "registration read without a certificate"
        );
        for (method, path) in [
            (Method::POST, "/register".to_string()),
            (Method::PUT, format!("/register/{}", tpp.client_id())),
        ] {
            let (body, pulled) = big_body();
            let mut req = request(&issuer, method.clone(), &path, Some(&cert), body);
            req.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            let (status, _, answer) = call(&routes, req).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (413, Some("invalid_client_metadata")),
                "{method} {path}: {answer}"
            );
            let read = pulled.load(Ordering::SeqCst);
            assert!(read <= CAP + SLACK, "{method} {path}: {read} bytes read");
        }

        // The portal's forms.
        for path in ["/portal/login", "/portal/consent"] {
            let (body, pulled) = big_body();
            let req = request(&issuer, Method::POST, path, None, body);
            let resp = routes.get_response(req).await;
            assert_eq!(resp.status(), 413, "{path}");
            let read = pulled.load(Ordering::SeqCst);
            assert!(read <= 32 * 1024 + SLACK, "{path}: {read} bytes read");
        }
        sandbox.holder.listener.shutdown().await;
    }
}

// ---- 8. DCR errors in RFC 7591 JSON, and 405 with Allow ---------------------------------------

#[tokio::test]
async fn malformed_registrations_answer_rfc7591_json() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let url = format!("{}/register", sandbox.issuer());
        let fresh = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&fresh).await;
        let good = registration_body(&ssa, &fresh);
        let mut wrong_types = good.clone();
        wrong_types["redirect_uris"] = json!([1, 2]);
        let mut not_uri = good.clone();
        not_uri["jwks_uri"] = json!(42);
        let cases: Vec<(&str, &str, String)> = vec![
            ("not JSON", "application/json", "registration please".into()),
            ("JSON as text/plain", "text/plain", good.to_string()),
            ("no content type", "", good.to_string()),
            (
                "redirect URIs not strings",
                "application/json",
                wrong_types.to_string(),
            ),
            (
                "jwks_uri not a string",
                "application/json",
                not_uri.to_string(),
            ),
        ];
        for (case, content_type, body) in cases {
            let mut req = fresh.http.post(&url).body(body);
            if !content_type.is_empty() {
                req = req.header("content-type", content_type);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let media = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 400, "{case}: {text}");
            assert!(
                media.starts_with("application/json"),
                "{case}: {media} {text}"
            );
            let body: Value = serde_json::from_str(&text).unwrap();
            assert!(
                matches!(
                    body["error"].as_str(),
                    Some(
                        "invalid_client_metadata"
                            | "invalid_software_statement"
                            | "invalid_redirect_uri"
                    )
                ),
                "{case}: {body}"
            );
        }
        // The same on DCM.
        let resp = tpp
            .http
            .put(format!("{url}/{}", tpp.client_id()))
            .bearer_auth(tpp.rat.as_deref().unwrap())
            .header("content-type", "text/plain")
            .body(good.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata", "{body}");
        sandbox.holder.listener.shutdown().await;
    }
}

#[tokio::test]
async fn wrong_methods_answer_405_with_allow() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let issuer = sandbox.issuer();
        let client_path = format!("/register/{}", tpp.client_id());
        let cases: Vec<(Method, String, &str)> = vec![
            (Method::GET, "/token".into(), "POST"),
            (Method::DELETE, "/par".into(), "POST"),
            (Method::GET, "/introspect".into(), "POST"),
            (Method::PUT, "/revoke".into(), "POST"),
            (Method::POST, "/jwks".into(), "GET, HEAD"),
            (
                Method::DELETE,
                "/.well-known/openid-configuration".into(),
                "GET, HEAD",
            ),
            (Method::POST, "/authorize".into(), "GET, HEAD"),
            (Method::DELETE, "/userinfo".into(), "GET, HEAD, POST"),
            (Method::PUT, "/portal/login".into(), "GET, HEAD, POST"),
            (
                Method::PATCH,
                "/register".into(),
                "GET, HEAD, PUT, POST, DELETE",
            ),
            (Method::POST, client_path.clone(), "GET, HEAD, PUT, DELETE"),
            (Method::PATCH, client_path.clone(), "GET, HEAD, PUT, DELETE"),
        ];
        for (method, path, allow) in cases {
            let resp = tpp
                .http
                .request(method.clone(), format!("{issuer}{path}"))
                .bearer_auth(tpp.rat.as_deref().unwrap())
                .header("content-type", "application/json")
                .body(registration_body("x", &tpp).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 405, "{method} {path}");
            let allowed = resp
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
            if path.starts_with("/register") {
                // The DCR document declares its 405 without content.
                let body = resp.bytes().await.unwrap();
                assert!(body.is_empty(), "{method} {path}: {body:?}");
            } else {
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["error"], "invalid_request", "{method} {path}: {body}");
            }
        }
        // The methods a path has still work.
        let resp = tpp
            .http
            .get(format!("{issuer}{client_path}"))
            .bearer_auth(tpp.rat.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = tpp
            .http
            .head(format!("{issuer}/jwks"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        sandbox.holder.listener.shutdown().await;
    }
}
