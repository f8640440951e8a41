//! From a concrete request path to the templated endpoint the PCM knows
//! (`/open-banking/accounts/v2/accounts/{accountId}`): the PCM counts calls per template and
//! must never see a concrete path, which could carry identifiers.
//!
//! The templates come from the generated crates' served documents (each API's base path plus
//! its path templates), and the authorization server's endpoints under the names the PCM gives
//! them. The matcher is built once at start; a lookup walks one segment at a time, literal
//! segments before parameters, and allocates nothing.

use std::sync::Arc;

/// The family of the authorization server's endpoints.
pub const AUTH_FAMILY: &str = "auth";

/// The authorization server's endpoints: (path served, template the PCM knows).
const AUTH_ENDPOINTS: [(&str, &str); 4] = [
    ("/token", "/token"),
    ("/par", "/pushed-authorization-request"),
    ("/introspect", "/introspection"),
    ("/revoke", "/revocation"),
];

/// Generated APIs whose calls are not private reports: open data (the PCM's separate open-data
/// report), the status and admin APIs, and APIs this platform calls rather than serves.
fn reported_api(name: &str) -> bool {
    !(name.starts_with("opendata-")
        || matches!(
            name,
            "admin"
                | "channels"
                | "common"
                | "participants"
                | "pcm"
                | "products-services"
                | "webhook"
        ))
}

/// Path parameters whose values the PCM wants in `additionalInfo`, and under which key.
const REPORTED_PARAMETERS: [(&str, &str); 3] = [
    ("consentId", "consentId"),
    ("recurringConsentId", "consentId"),
    ("enrollmentId", "enrollmentId"),
];

/// One templated endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The template as the PCM spells it.
    pub template: Arc<str>,
    /// The API it belongs to (`accounts`, `consents`, `payments`, `dcr`, `auth`, ...).
    pub family: Arc<str>,
    /// Path segments (0-based, after the leading `/`) whose values go to `additionalInfo`,
    /// with the key each goes under.
    reported: Vec<(usize, &'static str)>,
}

/// A request path matched to its endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    pub endpoint: &'a Endpoint,
    path: &'a str,
}

impl<'a> Matched<'a> {
    /// The path parameters the PCM wants reported, as `(additionalInfo key, value)`.
    pub fn reported_parameters(&self) -> impl Iterator<Item = (&'static str, &'a str)> + '_ {
        let path = self.path;
        self.endpoint
            .reported
            .iter()
            .filter_map(move |(index, key)| {
                path.trim_start_matches('/')
                    .split('/')
                    .nth(*index)
                    .map(|value| (*key, value))
            })
    }
}

/// A trie node. Literal children are few per level (at most a few dozen APIs under
/// `/open-banking`), so a scan beats hashing each segment.
#[derive(Debug, Default)]
struct Node {
    literals: Vec<(Box<str>, Node)>,
    parameter: Option<Box<Node>>,
    endpoint: Option<Endpoint>,
}

/// Concrete path -> templated endpoint.
#[derive(Debug, Default)]
pub struct EndpointMatcher {
    root: Node,
    count: usize,
}

impl EndpointMatcher {
    /// An empty matcher; add templates with [`EndpointMatcher::add`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Every regulated endpoint this checkout serves: the generated APIs that are reported
    /// to the PCM as private calls, and the authorization server's endpoints.
    pub fn regulated() -> Self {
        let mut matcher = Self::new();
        for api in ofb_all::apis() {
            if !reported_api(api.name) {
                continue;
            }
            let document = (api.openapi_document)();
            let Some(paths) = document.get("paths").and_then(|p| p.as_object()) else {
                continue;
            };
            for path in paths.keys() {
                let template = join(api.base_path, path);
                matcher.add(&template, &template, api.name);
            }
        }
        for (served, template) in AUTH_ENDPOINTS {
            matcher.add(served, template, AUTH_FAMILY);
        }
        matcher
    }

    /// Adds the route `served` (segments `{name}` or `:name` are parameters), reported as
    /// `template` under `family`. A later addition of the same route replaces the earlier.
    pub fn add(&mut self, served: &str, template: &str, family: &str) {
        let mut node = &mut self.root;
        let mut reported = Vec::new();
        for (index, segment) in served.trim_start_matches('/').split('/').enumerate() {
            node = match parameter_name(segment) {
                Some(name) => {
                    if let Some((_, key)) = REPORTED_PARAMETERS.iter().find(|(p, _)| *p == name) {
                        reported.push((index, *key));
                    }
                    node.parameter.get_or_insert_with(Box::default)
                }
                None => {
                    let index = match node.literals.iter().position(|(s, _)| &**s == segment) {
                        Some(index) => index,
                        None => {
                            node.literals.push((segment.into(), Node::default()));
                            node.literals.len() - 1
                        }
                    };
                    &mut node.literals[index].1
                }
            };
        }
        if node.endpoint.is_none() {
            self.count += 1;
        }
        node.endpoint = Some(Endpoint {
            template: pcm_template(template).into(),
            family: family.into(),
            reported,
        });
    }

    /// How many templates the matcher knows.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The endpoint `path` (no query string) is an instance of, if any.
    pub fn find<'a>(&'a self, path: &'a str) -> Option<Matched<'a>> {
        let rest = path.strip_prefix('/')?;
        walk(&self.root, Some(rest)).map(|endpoint| Matched { endpoint, path })
    }
}

/// Descends one segment; `None` means the path is used up.
fn walk<'a>(node: &'a Node, rest: Option<&str>) -> Option<&'a Endpoint> {
    let Some(rest) = rest else {
        return node.endpoint.as_ref();
    };
    let (segment, tail) = match rest.split_once('/') {
        Some((segment, tail)) => (segment, Some(tail)),
        None => (rest, None),
    };
    if let Some(found) = node
        .literals
        .iter()
        .find(|(literal, _)| &**literal == segment)
        .and_then(|(_, child)| walk(child, tail))
    {
        return Some(found);
    }
    if segment.is_empty() {
        return None;
    }
    node.parameter
        .as_deref()
        .and_then(|child| walk(child, tail))
}

fn parameter_name(segment: &str) -> Option<&str> {
    segment
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .or_else(|| segment.strip_prefix(':'))
}

/// `:name` segments written as `{name}`, as the PCM's templates are.
fn pcm_template(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn join(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template<'a>(matcher: &'a EndpointMatcher, path: &'a str) -> Option<&'a str> {
        matcher.find(path).map(|m| &*m.endpoint.template)
    }

    #[test]
    fn concrete_paths_become_the_templates_of_the_generated_documents() {
        let m = EndpointMatcher::regulated();
        assert_eq!(
            template(
                &m,
                "/open-banking/accounts/v2/accounts/abc-123/transactions"
            ),
            Some("/open-banking/accounts/v2/accounts/{accountId}/transactions")
        );
        assert_eq!(
            template(&m, "/open-banking/accounts/v2/accounts"),
            Some("/open-banking/accounts/v2/accounts")
        );
        assert_eq!(
            template(&m, "/open-banking/consents/v3/consents/urn:bank:1"),
            Some("/open-banking/consents/v3/consents/{consentId}")
        );
        assert_eq!(
            template(
                &m,
                "/open-banking/payments/v4/pix/payments/consents/urn:bank:1"
            ),
            Some("/open-banking/payments/v4/pix/payments/consents/{consentId}"),
            "a literal segment wins over a parameter"
        );
        assert_eq!(
            template(&m, "/open-banking/payments/v4/pix/payments/p-1"),
            Some("/open-banking/payments/v4/pix/payments/{paymentId}")
        );
        assert_eq!(template(&m, "/register/c-1"), Some("/register/{clientId}"));
        assert_eq!(template(&m, "/register"), Some("/register"));
    }

    #[test]
    fn auth_endpoints_take_the_pcm_names() {
        let m = EndpointMatcher::regulated();
        assert_eq!(template(&m, "/token"), Some("/token"));
        assert_eq!(template(&m, "/par"), Some("/pushed-authorization-request"));
        assert_eq!(template(&m, "/introspect"), Some("/introspection"));
        assert_eq!(template(&m, "/revoke"), Some("/revocation"));
        assert_eq!(&*m.find("/par").unwrap().endpoint.family, AUTH_FAMILY);
    }

    #[test]
    fn unregulated_and_unknown_paths_do_not_match() {
        let m = EndpointMatcher::regulated();
        for path in [
            "/portal/login",
            "/.well-known/openid-configuration",
            "/authorize",
            "/open-banking/admin/v2/metrics",
            "/open-banking/discovery/v2/status",
            "/open-banking/opendata-accounts/v1/personal-accounts",
            "/open-banking/accounts/v2/accounts/",
            "/open-banking/accounts/v2/accounts/a/nope",
            "/open-banking/accounts/v2",
            "open-banking/accounts/v2/accounts",
            "/",
            "",
        ] {
            assert!(m.find(path).is_none(), "{path}");
        }
        assert!(m.len() > 50, "{} templates", m.len());
    }

    #[test]
    fn identifiers_the_pcm_asks_for_are_taken_from_the_path() {
        let m = EndpointMatcher::regulated();
        let found = m
            .find("/open-banking/consents/v3/consents/urn:bank:7/extends")
            .unwrap();
        assert_eq!(
            found.reported_parameters().collect::<Vec<_>>(),
            [("consentId", "urn:bank:7")]
        );
        let found = m
            .find("/open-banking/accounts/v2/accounts/acc-1/balances")
            .unwrap();
        assert_eq!(found.reported_parameters().count(), 0);
    }

    #[test]
    fn hand_added_routes_accept_both_parameter_spellings() {
        let mut m = EndpointMatcher::new();
        assert!(m.is_empty());
        m.add("/things/:thingId/parts", "/things/:thingId/parts", "things");
        m.add("/things/{thingId}", "/things/{thingId}", "things");
        assert_eq!(
            template(&m, "/things/1/parts"),
            Some("/things/{thingId}/parts")
        );
        assert_eq!(template(&m, "/things/1"), Some("/things/{thingId}"));
        assert_eq!(m.len(), 2);
    }
}
