//! Measures the admin metrics answer time against the number of recorded calls: N calls
//! received earlier today and 300 in the last 100 s (the recent traffic, the same whatever N),
//! then ANSWERS answers in a row; the first one rolls the calls up. Run it with several N.
//!
//! ```text
//! cargo run --release -p aberta-status --example metrics_cost -- [N] [ANSWERS]
//! ABERTA_DATABASE_URL=postgres://... cargo run --release -p aberta-status --example metrics_cost
//! ```
//!
//! N defaults to 40,000 and ANSWERS to 200. Without `ABERTA_DATABASE_URL` the database is a
//! SQLite file in a temporary directory; a PostgreSQL database gets a scratch schema, dropped
//! at the end. The N calls are spread over today up to ten minutes ago (at most two hours
//! back), on 24 endpoints; "scan" is what the answer cost when it aggregated today's calls at
//! every request (its two aggregate queries, for comparison).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aberta_pcm::entity::api_call;
use aberta_status::{OutageRegister, SystemClock, admin_api};
use poem::test::TestClient;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Statement};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(40_000);
    let answers: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);

    let dir = tempfile::tempdir()?;
    let (db, label, scratch) = database(dir.path()).await?;
    aberta_store::migrate::run(&db).await?;
    aberta_status::migrate(&db).await?;
    let register = Arc::new(OutageRegister::new(db.clone(), Arc::new(SystemClock)));
    let client = TestClient::new(ofb_admin_v2::server::routes(admin_api(register, None)));

    println!("{label}: {answers} answers of GET /open-banking/admin/v2/metrics");
    let now_ms = chrono::Utc::now().timestamp_millis();
    let today_ms = aberta_status::time::day_start(now_ms / 1_000) * 1_000;
    record(&db, n, today_ms.max(now_ms - 7_200_000), now_ms - 600_000).await?;
    record(&db, 300, now_ms - 100_000, now_ms).await?;
    measure(&client, &db, &format!("{n} + 300 calls"), answers).await?;

    if let Some(schema) = scratch {
        db.execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
            .await?;
    }
    Ok(())
}

/// Times `answers` sequential answers (the first apart: it may roll up) and the old scan.
async fn measure<E: poem::Endpoint>(
    client: &TestClient<E>,
    db: &DatabaseConnection,
    label: &str,
    answers: usize,
) -> Result<(), Error> {
    let ask = || async {
        let started = Instant::now();
        let response = client
            .get("/open-banking/admin/v2/metrics?page-size=1000")
            .header("host", "bank.example")
            .send()
            .await;
        response.assert_status_is_ok();
        let body = response
            .0
            .into_body()
            .into_json::<serde_json::Value>()
            .await;
        let elapsed = started.elapsed();
        // Every call is counted (today, or yesterday for those before midnight).
        let counted: i64 = body
            .ok()
            .and_then(|b| b["data"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let day = &d["invocations"];
                day["currentDay"].as_i64().unwrap_or(0)
                    + day["previousDays"][0].as_i64().unwrap_or(0)
            })
            .sum();
        (elapsed, counted)
    };
    let (first, counted) = ask().await;
    let mut times = Vec::with_capacity(answers);
    for _ in 0..answers {
        times.push(ask().await.0);
    }
    times.sort_unstable();
    let median = times[times.len() / 2];
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    let scan = scan(db).await?;
    println!(
        "{label:>17} ({counted} counted): first {:>7.2} ms, median {:>6.2} ms, p95 {:>6.2} ms; \
         scan of today {:>7.2} ms",
        ms(first),
        ms(median),
        ms(p95),
        ms(scan)
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// The two aggregates the answer used to run over today's calls at every request.
async fn scan(db: &DatabaseConnection) -> Result<Duration, Error> {
    let now = chrono::Utc::now().timestamp();
    let today_ms = aberta_status::time::day_start(now) * 1_000;
    let end_ms = today_ms + 86_400_000;
    let totals = format!(
        "SELECT endpoint, family, CAST((received_at - {today_ms}) / 86400000 AS BIGINT), COUNT(*), \
           SUM(processing_ms), SUM(CASE WHEN status_code >= 500 THEN 1 ELSE 0 END) \
         FROM api_call WHERE received_at >= {today_ms} AND received_at < {end_ms} GROUP BY 1, 2, 3"
    );
    let peaks = format!(
        "SELECT endpoint, MAX(calls) FROM (SELECT endpoint, received_at / 1000 AS s, COUNT(*) AS calls \
         FROM api_call WHERE received_at >= {today_ms} AND received_at < {end_ms} GROUP BY 1, 2) x \
         GROUP BY 1"
    );
    let backend = db.get_database_backend();
    let started = Instant::now();
    db.query_all_raw(Statement::from_string(backend, totals))
        .await?;
    db.query_all_raw(Statement::from_string(backend, peaks))
        .await?;
    Ok(started.elapsed())
}

/// Records `n` calls received in `[from, to)` (unix ms), 24 endpoints, as the capture would.
async fn record(db: &DatabaseConnection, n: usize, from: i64, to: i64) -> Result<(), Error> {
    let span = (to - from).max(1);
    let rows: Vec<api_call::ActiveModel> = (0..n)
        .map(|i| api_call::ActiveModel {
            id: NotSet,
            brand: Set("demo".into()),
            interaction_id: Set(uuid::Uuid::new_v4().to_string()),
            endpoint: Set(format!("/open-banking/accounts/v2/endpoint-{}", i % 24)),
            method: Set("GET".into()),
            family: Set("accounts".into()),
            status_code: Set(if i % 50 == 0 { 500 } else { 200 }),
            received_at: Set(to - 1 - (i as i64 * 7_919) % span),
            processing_ms: Set(20 + (i % 80) as i32),
            client_org_id: Set(None),
            client_ssid: Set(None),
            server_org_id: Set("74e929d9-33b6-4d85-8ba7-c146c867a817".into()),
            additional_info: Set("{}".into()),
            reported_at: Set(Some(to)),
            report_attempts: Set(0),
            next_attempt_at: Set(0),
            report_error: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        api_call::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The database: a scratch schema on `ABERTA_DATABASE_URL`, or a SQLite file in `dir`.
async fn database(
    dir: &std::path::Path,
) -> Result<(DatabaseConnection, String, Option<String>), Error> {
    match std::env::var("ABERTA_DATABASE_URL") {
        Ok(url) => {
            let schema = format!("metrics_cost_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&url).await?;
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await?;
            admin.close().await?;
            let separator = if url.contains('?') { '&' } else { '?' };
            let db =
                Database::connect(format!("{url}{separator}options[search_path]={schema}")).await?;
            Ok((db, "PostgreSQL".to_string(), Some(schema)))
        }
        Err(_) => {
            let url = format!("sqlite://{}?mode=rwc", dir.join("aberta.db").display());
            let db = Database::connect(&url).await?;
            Ok((db, "SQLite".to_string(), None))
        }
    }
}
