//! The Prometheus endpoint, on SQLite and PostgreSQL: requests through the middleware are
//! counted per family and status class with a latency histogram, the built-in gauges read the
//! outbox, the PCM backlog and the status, other parts register their own, the bearer token is
//! required, and the page parses as the text exposition format.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aberta_status::prometheus::CONTENT_TYPE;
use aberta_status::{
    Exporter, Exposition, Family, Gauges, ManualClock, NewDeclared, OutboxDepth, PcmBacklog,
    RequestMetrics, StatusGauges, StatusSettings, prometheus_route,
};
use async_trait::async_trait;
use common::*;
use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{EndpointExt, Route, handler};
use sea_orm::ConnectionTrait;

type Labels = Vec<(String, String)>;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

/// Parses a page of the text format, failing on any malformed line: comments are `# HELP` or
/// `# TYPE` of a valid name, each family typed once and before its samples, samples of one
/// family together, label values properly escaped and quoted, values numbers.
fn parse(page: &str) -> Vec<Sample> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut finished: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut samples = Vec::new();
    assert!(page.ends_with('\n'), "the page ends with a newline");
    for line in page.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (keyword, name) = (parts.next().unwrap(), parts.next().expect("a metric name"));
            assert!(valid_name(name), "{line}");
            match keyword {
                "HELP" => {}
                "TYPE" => {
                    let kind = parts.next().expect("a type");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_string(), kind.to_string()).is_none(),
                        "typed twice: {line}"
                    );
                    if let Some(previous) = current.replace(name.to_string()) {
                        finished.push(previous);
                    }
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        let sample = parse_sample(line);
        let family = types
            .keys()
            .filter(|f| {
                sample.name == **f
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| sample.name == format!("{f}{s}"))
            })
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("a sample before its TYPE: {line}"))
            .clone();
        assert_eq!(
            current.as_ref(),
            Some(&family),
            "samples of a family are together: {line}"
        );
        assert!(!finished.contains(&family), "{line}");
        samples.push(sample);
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(valid_name(name), "{line}");
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).unwrap();
            let mut end = start;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    end = i;
                    break;
                }
            }
            let label = &inner[start..end];
            assert!(
                !label.is_empty() && valid_name(label) && !label.contains(':'),
                "{line}"
            );
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars
                    .next()
                    .unwrap_or_else(|| panic!("unterminated label value: {line}"))
                    .1
                {
                    '\\' => match chars.next().unwrap().1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        other => panic!("bad escape \\{other}: {line}"),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.push((label.to_string(), value));
            match chars.next().unwrap().1 {
                ',' => continue,
                '}' => {
                    let at = chars.peek().map_or(inner.len(), |(i, _)| *i);
                    rest = &inner[at..];
                    break;
                }
                other => panic!("unexpected {other:?}: {line}"),
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value: {line}"));
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
    };
    Sample {
        name: name.to_string(),
        labels,
        value,
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: Labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == labels)
        .map(|s| s.value)
}

#[handler]
fn ok() -> &'static str {
    "ok"
}

#[handler]
fn created() -> StatusCode {
    StatusCode::CREATED
}

#[handler]
fn broken() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

/// A gauge another part of the platform would register.
struct Webhooks;

#[async_trait]
impl Gauges for Webhooks {
    async fn render(&self, out: &mut Exposition) {
        out.gauge(
            "aberta_webhooks_pending",
            "Webhook deliveries pending, \"now\".",
            7.0,
        );
    }
}

#[tokio::test]
async fn the_scrape_page() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let clock = Arc::new(ManualClock::new(at("2026-05-01T12:00:00Z")));
        let register = db.register(&clock);

        // Traffic on the public listener.
        let families = vec![
            Family::new(
                "accounts",
                vec!["https://bank.example/open-banking/accounts/v2".into()],
            ),
            Family::new("payments", vec!["/open-banking/payments/v4".into()]),
        ];
        let requests = RequestMetrics::new(&families);
        let public = TestClient::new(
            Route::new()
                .at("/open-banking/accounts/v2/accounts", ok)
                .at("/open-banking/accounts/v2/broken", broken)
                .at("/open-banking/payments/v4/pix/payments", created)
                .with(requests.middleware()),
        );
        for path in [
            "/open-banking/accounts/v2/accounts",
            "/open-banking/accounts/v2/accounts",
            "/open-banking/accounts/v2/broken",
            "/open-banking/payments/v4/pix/payments",
            "/nowhere",
        ] {
            public.get(path).send().await;
        }

        // The outbox: three events, one published. The calls: three unreported, one reported.
        for id in ["a", "b", "c"] {
            aberta_store::outbox::append(
                &db.conn,
                aberta_store::outbox::NewEvent {
                    brand: "demo",
                    topic: "consents",
                    aggregate_id: id,
                    event_type: "consent.authorised",
                    payload: serde_json::json!({}),
                },
                1,
            )
            .await
            .unwrap();
        }
        db.conn
            .execute_unprepared("UPDATE event_outbox SET published_at = 2 WHERE aggregate_id = 'a'")
            .await
            .unwrap();
        let mut calls: Vec<Call> = (0..4)
            .map(|i| {
                call(
                    "demo",
                    "/open-banking/accounts/v2/accounts",
                    "accounts",
                    1_000 + i,
                    200,
                    5,
                )
            })
            .collect();
        calls[0].reported = true;
        record(&db.conn, &calls).await;
        register
            .declare(NewDeclared {
                starts_at: None,
                expected_end_at: None,
                explanation: "Falha geral".into(),
                families: vec![],
                unavailable_endpoints: vec![],
            })
            .await
            .unwrap()
            .unwrap();

        let exporter = Exporter::new(Some(requests.clone()));
        exporter.register(OutboxDepth::new(db.conn.clone()));
        exporter.register(PcmBacklog::new(db.conn.clone()));
        exporter.register(StatusGauges::new(
            register.clone(),
            StatusSettings::default(),
        ));
        exporter.register(Arc::new(Webhooks));
        let internal = TestClient::new(prometheus_route(exporter, Some("scrape-token".into())));

        internal
            .get("/metrics")
            .send()
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        internal
            .get("/metrics")
            .header("authorization", "Bearer nope")
            .send()
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let response = internal
            .get("/metrics")
            .header("authorization", "Bearer scrape-token")
            .send()
            .await;
        response.assert_status_is_ok();
        response.assert_content_type(CONTENT_TYPE);
        let page = response.0.into_body().into_string().await.unwrap();
        let samples = parse(&page);

        let requests_total = |family: &str, code: &str| {
            value(
                &samples,
                "aberta_http_requests_total",
                &[("family", family), ("code", code)],
            )
        };
        assert_eq!(requests_total("accounts", "2xx"), Some(2.0), "{page}");
        assert_eq!(requests_total("accounts", "5xx"), Some(1.0));
        assert_eq!(requests_total("accounts", "4xx"), Some(0.0));
        assert_eq!(requests_total("payments", "2xx"), Some(1.0));
        assert_eq!(requests_total("other", "4xx"), Some(1.0));

        let histogram = "aberta_http_request_duration_seconds";
        assert_eq!(
            value(
                &samples,
                &format!("{histogram}_count"),
                &[("family", "accounts")]
            ),
            Some(3.0)
        );
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name == format!("{histogram}_bucket") && s.labels[0].1 == "accounts")
            .map(|s| {
                let le = &s.labels[1].1;
                (
                    if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap()
                    },
                    s.value,
                )
            })
            .collect();
        assert_eq!(buckets.len(), 13);
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{buckets:?}"
        );
        assert_eq!(buckets.last().unwrap().1, 3.0);
        assert!(
            value(
                &samples,
                &format!("{histogram}_sum"),
                &[("family", "accounts")]
            )
            .unwrap()
                >= 0.0
        );

        assert_eq!(
            value(&samples, "aberta_outbox_pending_events", &[]),
            Some(2.0),
            "{backend:?}"
        );
        assert_eq!(
            value(&samples, "aberta_pcm_unreported_calls", &[]),
            Some(3.0),
            "{backend:?}"
        );
        assert_eq!(
            value(
                &samples,
                "aberta_status_condition",
                &[("code", "UNAVAILABLE")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&samples, "aberta_status_condition", &[("code", "OK")]),
            Some(0.0)
        );
        assert_eq!(value(&samples, "aberta_outages_in_effect", &[]), Some(1.0));
        assert_eq!(value(&samples, "aberta_webhooks_pending", &[]), Some(7.0));
        assert!(
            page.contains("# HELP aberta_webhooks_pending Webhook deliveries pending, \"now\".\n")
        );
        db.finish().await;
    }
}

#[test]
fn the_parser_catches_malformed_pages() {
    let good = "# HELP a x\n# TYPE a gauge\na{l=\"v\\\"\"} 1\n";
    assert_eq!(parse(good)[0].labels[0].1, "v\"");
    for bad in [
        "a 1\n",
        "# TYPE a gauge\na{l=\"v} 1\n",
        "# TYPE a gauge\na{l=\"v\"}1\n",
        "# TYPE a gauge\na one\n",
        "# TYPE a gauge\n# TYPE a gauge\n",
        "# TYPE a gauge\n# TYPE b gauge\na 1\n",
        "# TYPE a gauge\na 1",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse(bad)).is_err(),
            "accepted: {bad:?}"
        );
    }
}
