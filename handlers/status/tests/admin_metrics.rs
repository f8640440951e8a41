//! Admin metrics v2.0.1 over a hand-computed fixture, on SQLite and PostgreSQL: recorded calls
//! of two brands over three Brasília days and outages of every kind; the JSON must parse and
//! validate as the generated `ResponseMetricsList`, and every number must be the one worked
//! out by hand below.

mod common;

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_status::{
    BrandOf, ManualClock, NewDeclared, NewScheduled, OutageRegister, admin_api, time,
};
use common::*;
use ofb_admin_v2::models::ResponseMetricsList;
use poem::test::TestClient;
use serde_json::{Value, json};

const HOST: &str = "bank.example";
const ACCOUNTS: &str = "/open-banking/accounts/v2/accounts";
const CONSENTS: &str = "/open-banking/consents/v3/consents";
const PAYMENTS: &str = "/open-banking/payments/v4/pix/payments";

/// Brasília days: 2026-05-19 (D2), 2026-05-20 (D1), 2026-05-21 (T0, today).
fn d2() -> i64 {
    at("2026-05-19T03:00:00Z")
}
fn d1() -> i64 {
    d2() + time::DAY
}
fn t0() -> i64 {
    d1() + time::DAY
}
/// Ten seconds into today.
fn now() -> i64 {
    t0() + 10
}

fn ms(seconds: i64, millis: i64) -> i64 {
    seconds * 1_000 + millis
}

fn brand_of() -> BrandOf {
    Arc::new(|ctx: &RequestContext| match ctx.authority.as_deref() {
        Some("bank.example") => Some("demo".to_string()),
        Some("other.example") => Some("other".to_string()),
        _ => None,
    })
}

/// The calls. Per endpoint and day, by hand:
///
/// accounts, 05-19: 2 calls (200, 201) in one second, 120 + 80 ms.
/// accounts, 05-20: 5 calls, 3 in one second; 500 is an error, 529 and 423 rejections;
///   612 ms in all, 122.4 on average.
/// accounts, today: 6 calls, 3 in one second; 500 and 503 errors, 429 a rejection, 404
///   neither; 1 500 ms, 250 on average; 6 calls in 10 s round to 1 TPS.
/// consents, 05-20: 43 200 calls, one every 2 s: 0.5 TPS rounds to 1; 10 ms each.
/// payments, 05-20: 201 and 422 (neither error nor rejection), 333 + 100 ms = 216.5 -> 217.
/// payments, today: 2 calls, 500 + 501 ms = 500.5 -> 501; 2 calls in 10 s round to 0 TPS.
///
/// Brand `other` adds a call on 2026-05-10 (which would open seven previous days), one to
/// accounts today (which would make four in one second) and one to consents today.
fn calls() -> Vec<Call> {
    let (d2, d1, t0) = (d2(), d1(), t0());
    let mut calls = vec![
        call("demo", ACCOUNTS, "accounts", ms(d2 + 5_000, 0), 200, 120),
        call("demo", ACCOUNTS, "accounts", ms(d2 + 5_000, 500), 201, 80),
        call("demo", ACCOUNTS, "accounts", ms(d1 + 100, 0), 200, 100),
        call("demo", ACCOUNTS, "accounts", ms(d1 + 100, 200), 200, 200),
        call("demo", ACCOUNTS, "accounts", ms(d1 + 100, 400), 500, 300),
        call("demo", ACCOUNTS, "accounts", ms(d1 + 101, 0), 529, 5),
        call("demo", ACCOUNTS, "accounts", ms(d1 + 200, 0), 423, 7),
        call("demo", ACCOUNTS, "accounts", ms(t0 + 1, 0), 200, 100),
        call("demo", ACCOUNTS, "accounts", ms(t0 + 1, 100), 200, 300),
        call("demo", ACCOUNTS, "accounts", ms(t0 + 1, 999), 500, 50),
        call("demo", ACCOUNTS, "accounts", ms(t0 + 2, 0), 429, 10),
        call("demo", ACCOUNTS, "accounts", ms(t0 + 3, 0), 404, 40),
        call("demo", ACCOUNTS, "accounts", ms(t0 + 4, 500), 503, 1_000),
        call("demo", PAYMENTS, "payments", ms(d1 + 50_000, 0), 201, 333),
        call("demo", PAYMENTS, "payments", ms(d1 + 86_399, 999), 422, 100),
        call("demo", PAYMENTS, "payments", ms(t0, 0), 201, 500),
        call("demo", PAYMENTS, "payments", ms(t0 + 9, 0), 201, 501),
        call(
            "other",
            ACCOUNTS,
            "accounts",
            ms(at("2026-05-10T12:00:00Z"), 0),
            200,
            1,
        ),
        call("other", ACCOUNTS, "accounts", ms(t0 + 1, 500), 200, 1),
        call("other", CONSENTS, "consents", ms(t0 + 2, 0), 201, 1),
    ];
    calls.extend(
        (0..43_200).map(|i| call("demo", CONSENTS, "consents", ms(d1 + 2 * i, 0), 201, 10)),
    );
    calls
}

/// The outages, written through the register with the clock moved to each moment:
///
/// * a scheduled window on 05-19 01:00–02:00 Brasília, cancelled before it began (it frees
///   May for the next one and counts for nothing);
/// * O1, scheduled, total, 05-20 02:00–04:00 Brasília: [D1+7 200, D1+14 400), 7 200 s;
/// * O2, declared, payments, [D1+10 800, D1+18 000): half inside O1, so 3 600 s count;
/// * O4, declared, the accounts API by URL, [D2+1 000, D2+1 600): 600 s;
/// * O3, declared, total, from T0+2 and still open: 8 s by now.
async fn outages(clock: &ManualClock, register: &OutageRegister) {
    let (d2, d1, t0) = (d2(), d1(), t0());
    clock.set(d1 - 9 * time::DAY);
    let cancelled = register
        .schedule(NewScheduled {
            starts_at: d2 + 3_600,
            ends_at: d2 + 7_200,
            explanation: "Troca de equipamento".into(),
            families: vec![],
            unavailable_endpoints: vec![],
        })
        .await
        .unwrap()
        .unwrap();
    register.end(&cancelled.id).await.unwrap().unwrap();
    register
        .schedule(NewScheduled {
            starts_at: d1 + 7_200,
            ends_at: d1 + 14_400,
            explanation: "Atualização do API Gateway".into(),
            families: vec![],
            unavailable_endpoints: vec![],
        })
        .await
        .unwrap()
        .unwrap();

    clock.set(d2 + 1_600);
    let o4 = register
        .declare(NewDeclared {
            starts_at: Some(d2 + 1_000),
            expected_end_at: None,
            explanation: "Contas indisponíveis".into(),
            families: vec![],
            unavailable_endpoints: vec![format!("https://{HOST}/open-banking/accounts/v2")],
        })
        .await
        .unwrap()
        .unwrap();
    register.end(&o4.id).await.unwrap().unwrap();

    clock.set(d1 + 10_800);
    let o2 = register
        .declare(NewDeclared {
            starts_at: None,
            expected_end_at: None,
            explanation: "Pagamentos indisponíveis".into(),
            families: vec!["payments".into()],
            unavailable_endpoints: vec![],
        })
        .await
        .unwrap()
        .unwrap();
    clock.set(d1 + 18_000);
    register.end(&o2.id).await.unwrap().unwrap();

    clock.set(t0 + 2);
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
    clock.set(now());
}

fn series(current: i64, previous: &[i64]) -> Value {
    json!({ "currentDay": current, "previousDays": previous })
}

/// The period runs from D2 to now: 2 × 86 400 + 10 = 172 810 s. Platform downtime: O4 600 +
/// O2 outside O1 3 600 + O3 8 = 4 208 s; 168 602 / 172 810 = 0.975649.
fn expected_all() -> Vec<Value> {
    let general = |uptime: &str, scheduled: i64, partial: i64| {
        json!({
            "uptime": { "generalUptimeRate": "0.975649", "uptimeRate": uptime },
            "downtime": { "generalDowntime": 4_208, "scheduledOutage": scheduled, "partialDowntime": partial }
        })
    };
    vec![
        json!({
            "endpoint": format!("https://{HOST}{ACCOUNTS}"),
            "requestTime": "2026-05-21T03:00:10Z",
            // O4 600 + O3 8 = 608: 172 202 / 172 810.
            "availability": general("0.996481", 7_200, 608),
            "invocations": series(6, &[5, 2]),
            "averageResponse": series(250, &[122, 100]),
            "averageTps": series(1, &[0, 0]),
            "peakTps": series(3, &[3, 2]),
            "errors": series(2, &[1, 0]),
            "rejections": series(1, &[2, 0]),
        }),
        json!({
            "endpoint": format!("https://{HOST}{CONSENTS}"),
            "requestTime": "2026-05-21T03:00:10Z",
            // O3 8: 172 802 / 172 810.
            "availability": general("0.999953", 7_200, 8),
            "invocations": series(0, &[43_200, 0]),
            "averageResponse": series(0, &[10, 0]),
            "averageTps": series(0, &[1, 0]),
            "peakTps": series(0, &[1, 0]),
            "errors": series(0, &[0, 0]),
            "rejections": series(0, &[0, 0]),
        }),
        json!({
            "endpoint": format!("https://{HOST}{PAYMENTS}"),
            "requestTime": "2026-05-21T03:00:10Z",
            // O2 outside O1 3 600 + O3 8 = 3 608: 169 202 / 172 810.
            "availability": general("0.979121", 7_200, 3_608),
            "invocations": series(2, &[2, 0]),
            "averageResponse": series(501, &[217, 0]),
            "averageTps": series(0, &[0, 0]),
            "peakTps": series(1, &[1, 0]),
            "errors": series(0, &[0, 0]),
            "rejections": series(0, &[0, 0]),
        }),
    ]
}

/// Parses as the generated model (every constraint checked) and returns the JSON.
fn validated(status: u16, bytes: &[u8]) -> Value {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(bytes));
    aberta_runtime::parse_json::<ResponseMetricsList>(bytes)
        .unwrap_or_else(|v| panic!("not a valid ResponseMetricsList: {v}"));
    json(bytes)
}

#[tokio::test]
async fn admin_metrics_match_the_hand_computed_fixture() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let clock = Arc::new(ManualClock::new(0));
        let register = db.register(&clock);
        record(&db.conn, &calls()).await;
        outages(&clock, &register).await;
        let client = TestClient::new(ofb_admin_v2::server::routes(admin_api(
            register.clone(),
            Some(brand_of()),
        )));

        // Everything on one page.
        let (status, bytes) = get(&client, HOST, "/open-banking/admin/v2/metrics").await;
        let body = validated(status, &bytes);
        assert_eq!(body["data"], Value::Array(expected_all()), "{backend:?}");
        assert_eq!(
            body["meta"],
            json!({ "totalRecords": 3, "totalPages": 1 }),
            "{backend:?}"
        );
        assert_eq!(
            body["links"],
            json!({ "self": format!("https://{HOST}/open-banking/admin/v2/metrics?page=1&page-size=25") })
        );

        // One per page.
        let (status, bytes) = get(
            &client,
            HOST,
            "/open-banking/admin/v2/metrics?page=2&page-size=1&period=ALL",
        )
        .await;
        let body = validated(status, &bytes);
        assert_eq!(body["data"], json!([expected_all()[1]]), "{backend:?}");
        assert_eq!(body["meta"], json!({ "totalRecords": 3, "totalPages": 3 }));
        let link = |page: u32| {
            format!(
                "https://{HOST}/open-banking/admin/v2/metrics?page={page}&page-size=1&period=ALL"
            )
        };
        assert_eq!(
            body["links"],
            json!({ "self": link(2), "first": link(1), "prev": link(1), "next": link(3), "last": link(3) })
        );

        // Today alone: 10 s, 8 of them inside O3.
        let (status, bytes) = get(
            &client,
            HOST,
            "/open-banking/admin/v2/metrics?period=CURRENT",
        )
        .await;
        let body = validated(status, &bytes);
        let accounts = &body["data"][0];
        assert_eq!(accounts["endpoint"], format!("https://{HOST}{ACCOUNTS}"));
        assert_eq!(
            accounts["availability"],
            json!({
                "uptime": { "generalUptimeRate": "0.200000", "uptimeRate": "0.200000" },
                "downtime": { "generalDowntime": 8, "scheduledOutage": 0, "partialDowntime": 8 }
            })
        );
        assert_eq!(accounts["invocations"], series(6, &[]));
        assert_eq!(accounts["peakTps"], series(3, &[]));
        // Consents had no call today: only endpoints with calls in the period are listed.
        let endpoints: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["endpoint"].as_str().unwrap())
            .collect();
        assert_eq!(
            endpoints,
            [
                format!("https://{HOST}{ACCOUNTS}"),
                format!("https://{HOST}{PAYMENTS}")
            ]
        );

        // The other brand sees its own calls only: one previous day is not there (its first
        // call is 11 days old, so all seven are).
        let (status, bytes) = get(&client, "other.example", "/open-banking/admin/v2/metrics").await;
        let body = validated(status, &bytes);
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 2, "{backend:?}");
        assert_eq!(data[0]["invocations"], series(1, &[0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(
            data[1]["endpoint"],
            format!("https://other.example{CONSENTS}")
        );

        // A host that names no brand.
        let (status, bytes) =
            get(&client, "unknown.example", "/open-banking/admin/v2/metrics").await;
        assert_eq!(status, 404, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(json(&bytes)["errors"][0]["code"], "NOT_FOUND");

        // Outside the spec's bounds, refused by the generated routes.
        for query in ["page-size=1001", "page=0", "period=WEEK"] {
            let (status, _) = get(
                &client,
                HOST,
                &format!("/open-banking/admin/v2/metrics?{query}"),
            )
            .await;
            assert_eq!(status, 400, "{query}");
        }

        // Without brands, every call counts: the other brand's call adds to today's calls
        // and to its busiest second, and its 11-day-old call opens all seven previous days.
        let all = TestClient::new(ofb_admin_v2::server::routes(admin_api(
            register.clone(),
            None,
        )));
        let (status, bytes) = get(&all, HOST, "/open-banking/admin/v2/metrics").await;
        let body = validated(status, &bytes);
        assert_eq!(
            body["data"][0]["invocations"],
            series(7, &[5, 2, 0, 0, 0, 0, 0]),
            "{backend:?}"
        );
        assert_eq!(
            body["data"][0]["peakTps"],
            series(4, &[3, 2, 0, 0, 0, 0, 0])
        );

        // What is rolled up is read from the rollup: calls recorded late for time the rollup
        // has passed (everything up to two minutes before now) change nothing; one received
        // after that counts.
        record(
            &db.conn,
            &[
                call(
                    "demo",
                    ACCOUNTS,
                    "accounts",
                    ms(d2() + 6_000, 0),
                    200,
                    9_000,
                ),
                call(
                    "demo",
                    ACCOUNTS,
                    "accounts",
                    ms(d1() + 6_000, 0),
                    200,
                    9_000,
                ),
                call("demo", ACCOUNTS, "accounts", ms(t0() + 5, 0), 200, 250),
            ],
        )
        .await;
        let (status, bytes) = get(&client, HOST, "/open-banking/admin/v2/metrics").await;
        let body = validated(status, &bytes);
        assert_eq!(
            body["data"][0]["invocations"],
            series(7, &[5, 2]),
            "{backend:?}"
        );
        assert_eq!(body["data"][0]["averageResponse"], series(250, &[122, 100]));
        let (_, bytes) = get(&all, HOST, "/open-banking/admin/v2/metrics").await;
        assert_eq!(
            json(&bytes)["data"][0]["invocations"],
            series(8, &[5, 2, 0, 0, 0, 0, 0])
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn no_calls_no_entries() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let clock = Arc::new(ManualClock::new(now()));
        let register = db.register(&clock);
        let client = TestClient::new(ofb_admin_v2::server::routes(admin_api(register, None)));
        let (status, bytes) = get(&client, HOST, "/open-banking/admin/v2/metrics").await;
        let body = validated(status, &bytes);
        assert_eq!(body["data"], json!([]));
        assert_eq!(body["meta"], json!({ "totalRecords": 0, "totalPages": 0 }));
        db.finish().await;
    }
}

/// Today is rolled up as it goes, like the past days: once the rollup has passed some calls,
/// they are counted from it and no longer read (here they are even deleted, as a purge
/// would), so an answer does not grow with the calls recorded. Two instances asking at once
/// add nothing twice.
#[tokio::test]
async fn today_is_read_from_the_rollup() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let t0 = t0();
        // Yesterday: 3 calls; today, in the first hour: 40 calls, 4 in one second, 2 errors.
        let mut calls = vec![
            call("demo", ACCOUNTS, "accounts", ms(t0 - 3_600, 0), 200, 10),
            call("demo", ACCOUNTS, "accounts", ms(t0 - 3_600, 10), 200, 20),
            call("demo", ACCOUNTS, "accounts", ms(t0 - 60, 0), 500, 30),
        ];
        calls.extend((0..36).map(|i| {
            call(
                "demo",
                ACCOUNTS,
                "accounts",
                ms(t0 + 60 + 60 * i, 0),
                200,
                100,
            )
        }));
        calls.extend(
            (0..4).map(|i| call("demo", ACCOUNTS, "accounts", ms(t0 + 30, 100 * i), 503, 200)),
        );
        record(&db.conn, &calls).await;

        let clock = Arc::new(ManualClock::new(t0 + 3_600));
        let first = admin_api(db.register(&clock), Some(brand_of()));
        let other_conn = db.second().await;
        let second = admin_api(
            Arc::new(OutageRegister::new(other_conn.clone(), clock.clone())),
            Some(brand_of()),
        );
        let one = TestClient::new(ofb_admin_v2::server::routes(first));
        let two = TestClient::new(ofb_admin_v2::server::routes(second));
        let expected = |body: &Value| {
            let accounts = &body["data"][0];
            assert_eq!(accounts["invocations"], series(40, &[3]), "{backend:?}");
            // 36 × 100 + 4 × 200 = 4 400 ms over 40 calls; 10 + 20 + 30 over 3.
            assert_eq!(accounts["averageResponse"], series(110, &[20]));
            assert_eq!(accounts["peakTps"], series(4, &[2]));
            assert_eq!(accounts["errors"], series(4, &[1]));
        };

        // Both instances at once: whichever rolls up, the figures are those of the calls.
        let path = "/open-banking/admin/v2/metrics";
        let ((s1, b1), (s2, b2)) = tokio::join!(get(&one, HOST, path), get(&two, HOST, path));
        expected(&validated(s1, &b1));
        expected(&validated(s2, &b2));

        // Everything received more than two minutes ago is in the rollup: deleting those
        // calls changes nothing.
        let mark = ms(t0 + 3_600 - aberta_status::metrics::SETTLE, 0);
        use sea_orm::ConnectionTrait;
        db.conn
            .execute_unprepared(&format!("DELETE FROM api_call WHERE received_at < {mark}"))
            .await
            .unwrap();
        let (status, bytes) = get(&one, HOST, path).await;
        expected(&validated(status, &bytes));

        // Later the same day: new calls add to the rolled-up ones.
        record(
            &db.conn,
            &[
                call("demo", ACCOUNTS, "accounts", ms(t0 + 4_000, 0), 200, 110),
                call("demo", ACCOUNTS, "accounts", ms(t0 + 4_000, 500), 200, 110),
            ],
        )
        .await;
        clock.set(t0 + 7_200);
        let (status, bytes) = get(&two, HOST, path).await;
        let body = validated(status, &bytes);
        assert_eq!(
            body["data"][0]["invocations"],
            series(42, &[3]),
            "{backend:?}"
        );
        assert_eq!(body["data"][0]["averageResponse"], series(110, &[20]));
        assert_eq!(body["data"][0]["peakTps"], series(4, &[2]));
        other_conn.close().await.unwrap();
        db.finish().await;
    }
}

/// True when `value` is an absolute URI as RFC 3986 §3 writes one: a scheme, then only
/// unreserved, reserved and percent-encoded characters.
fn is_absolute_uri(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(|h| h.is_ascii_hexdigit());
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        let ok = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b);
        if !ok {
            return false;
        }
        i += 1;
    }
    scheme_ok
}

/// `endpoint` is `format: uri` in the spec: a templated path's braces cannot stand in it.
#[tokio::test]
async fn templated_endpoints_are_reported_as_uris() {
    const CONSENT: &str = "/open-banking/consents/v3/consents/{consentId}";
    for backend in backends() {
        let db = Db::new(backend).await;
        record(
            &db.conn,
            &[call("demo", CONSENT, "consents", ms(now() - 1, 0), 200, 5)],
        )
        .await;
        let clock = Arc::new(ManualClock::new(now()));
        let client = TestClient::new(ofb_admin_v2::server::routes(admin_api(
            db.register(&clock),
            Some(brand_of()),
        )));
        let (status, bytes) = get(&client, HOST, "/open-banking/admin/v2/metrics").await;
        let body = validated(status, &bytes);
        let endpoint = body["data"][0]["endpoint"].as_str().unwrap().to_string();
        assert_eq!(
            endpoint,
            format!("https://{HOST}/open-banking/consents/v3/consents/%7BconsentId%7D"),
            "{backend:?}"
        );
        for value in body["data"].as_array().unwrap() {
            let endpoint = value["endpoint"].as_str().unwrap();
            assert!(is_absolute_uri(endpoint), "not a URI: {endpoint}");
        }
        db.finish().await;
    }
}

#[test]
fn the_uri_check_refuses_braces() {
    assert!(is_absolute_uri("https://b.example/x/%7Bid%7D"));
    assert!(!is_absolute_uri("https://b.example/x/{id}"));
    assert!(!is_absolute_uri("/x/y"));
    assert!(!is_absolute_uri("https://b.example/a b"));
}
