//! What every generated API decides before poem-openapi reads a parameter or the body.
//!
//! - A known path called with a method the spec does not give it answers 405 with `Allow`
//!   (RFC 9110 §15.5.6) and the OFB error body, instead of the router's bare text.
//! - An operation whose spec declares `security` runs the composition's [`Authenticate`] hook
//!   first, so a call without a valid token answers 401 whatever else it lacks (the
//!   certification suites expect 401, not the 400 a missing header would give). What the hook
//!   verified reaches the handler as [`RequestContext::verified`](crate::RequestContext), so
//!   the token is not looked up twice.
//!
//! The hook is request data (set with `EndpointExt::data(AuthHook(..))` around the mounted
//! APIs), so `routes(api)` keeps its signature; without it the handlers' own checks decide.

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::context::Verified;
use crate::error_body::Rejection;

/// One operation of the spec, as the generator lists it.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// The path template relative to the base path, e.g. `/accounts/{accountId}`.
    pub path: &'static str,
    /// The spec declares a non-empty `security` for it.
    pub secured: bool,
    /// Builds a refusal in the operation's own error shape (its 401/405 schema); hands it
    /// back when the operation declares no such status.
    pub refuse: Refuse,
}

/// See [`Operation::refuse`].
pub type Refuse = fn(Rejection) -> std::result::Result<Response, Rejection>;

/// The `refuse` of an operation without an error schema that can carry a refusal.
pub fn undeclared(rejection: Rejection) -> std::result::Result<Response, Rejection> {
    Err(rejection)
}

/// The composition's credential check for secured operations.
#[async_trait::async_trait]
pub trait Authenticate: Send + Sync + 'static {
    /// The verified credential, or the refusal to send (401 for a missing or invalid token).
    async fn authenticate(&self, req: &Request) -> std::result::Result<Verified, Rejection>;
}

/// The hook as request data.
#[derive(Clone)]
pub struct AuthHook(pub Arc<dyn Authenticate>);

impl AuthHook {
    pub fn new(hook: impl Authenticate) -> Self {
        Self(Arc::new(hook))
    }
}

/// The middleware over one API's service; `operations` come from the generated crate.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    operations: &'static [Operation],
}

impl Gate {
    pub const fn new(operations: &'static [Operation]) -> Self {
        Self { operations }
    }
}

impl<E: Endpoint> Middleware<E> for Gate {
    type Output = GateEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GateEndpoint {
            inner,
            operations: self.operations,
        }
    }
}

pub struct GateEndpoint<E> {
    inner: E,
    operations: &'static [Operation],
}

/// How well `template` matches `path`: one flag per segment, `true` for a literal one, so that
/// literal segments win over parameters from the left, as the router decides. `None` when it
/// does not match.
fn specificity(template: &str, path: &str) -> Option<Vec<bool>> {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut out = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(out),
            (Some(w), Some(g)) => {
                if w.starts_with('{') && w.ends_with('}') {
                    if g.is_empty() {
                        return None;
                    }
                    out.push(false);
                } else if w == g {
                    out.push(true);
                } else {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The template of `operations` that serves `path`, if any.
pub fn template_for(operations: &[Operation], path: &str) -> Option<&'static str> {
    operations
        .iter()
        .filter_map(|op| specificity(op.path, path).map(|s| (s, op.path)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, template)| template)
}

/// The methods the spec gives `template`, in its order, for `Allow`.
pub fn allowed(operations: &[Operation], template: &str) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for op in operations.iter().filter(|op| op.path == template) {
        if !methods.contains(&op.method) {
            methods.push(op.method);
        }
    }
    methods.join(", ")
}

impl<E: Endpoint> Endpoint for GateEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let Some(template) = template_for(self.operations, req.uri().path()) else {
            // Not a path of this API: the router's 404 stands.
            return Ok(self.inner.call(req).await?.into_response());
        };
        let on_path = || self.operations.iter().filter(|op| op.path == template);
        let method = req.method();
        // The router answers HEAD with the GET operation.
        let operation = on_path()
            .find(|op| op.method == method.as_str())
            .or_else(|| {
                (method == Method::HEAD)
                    .then(|| on_path().find(|op| op.method == "GET"))
                    .flatten()
            });
        let Some(operation) = operation else {
            let allow = allowed(self.operations, template);
            let rejection = Rejection::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METODO_NAO_PERMITIDO",
                "Método não permitido",
                format!("this path serves {allow}"),
            );
            // In the shape of the first operation of the path that declares 405.
            let mut rejection = Err(rejection);
            for op in on_path() {
                rejection = rejection.or_else(op.refuse);
            }
            let mut response = rejection.unwrap_or_else(Rejection::into_response);
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Ok(response);
        };
        if operation.secured
            && let Some(hook) = req.data::<AuthHook>().cloned()
        {
            match hook.0.authenticate(&req).await {
                Ok(verified) => {
                    req.extensions_mut().insert(verified);
                }
                Err(rejection) => {
                    return Ok(
                        (operation.refuse)(rejection).unwrap_or_else(Rejection::into_response)
                    );
                }
            }
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &[Operation] = &[
        Operation {
            method: "GET",
            path: "/pix/payments/{paymentId}",
            secured: true,
            refuse: undeclared,
        },
        Operation {
            method: "PATCH",
            path: "/pix/payments/{paymentId}",
            secured: true,
            refuse: undeclared,
        },
        Operation {
            method: "POST",
            path: "/pix/payments/consents",
            secured: true,
            refuse: undeclared,
        },
    ];

    #[test]
    fn literal_segments_win() {
        assert_eq!(
            template_for(OPS, "/pix/payments/consents"),
            Some("/pix/payments/consents")
        );
        assert_eq!(
            template_for(OPS, "/pix/payments/p1"),
            Some("/pix/payments/{paymentId}")
        );
        assert_eq!(template_for(OPS, "/pix/payments/"), None);
        assert_eq!(template_for(OPS, "/pix/payments/p1/x"), None);
        assert_eq!(allowed(OPS, "/pix/payments/{paymentId}"), "GET, PATCH");
    }
}
