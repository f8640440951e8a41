//! The regulatory operations as the assembled holder serves them: status and outages and admin
//! metrics on the public listener (answers that parse as the spec's models), the event topics,
//! the outage register and the Prometheus page on the internal listener. SQLite and
//! PostgreSQL.

#[path = "../../auth/tests/common/mod.rs"]
mod common;
mod world;

use common::Backend;
use serde_json::{Value, json};
use world::World;

/// A GET on the public listener without a client certificate or token; status and body.
async fn public_get(world: &World, path: &str) -> (u16, Vec<u8>) {
    let answer = common::browser(&world.contract)
        .get(format!("{}{path}", world.issuer()))
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.bytes().await.unwrap().to_vec())
}

/// A call to the internal listener with its token.
async fn internal(
    world: &World,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .request(
            method,
            format!("http://{}{path}", world.holder.internal_addr()),
        )
        .bearer_auth(&world.holder.internal_token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

async fn operations(backend: Backend) {
    // Its own database: the register allows one scheduled outage a month.
    let world = world::start_alone(backend).await;

    // Discovery: status and outages, no token needed, the spec's models.
    let (status, body) = public_get(&world, "/open-banking/discovery/v2/status").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let parsed: ofb_common_v2::models::ResponseDiscoveryStatusList =
        aberta_runtime::parse_json(&body).expect("status parses as the spec's model");
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"]["status"][0]["code"], "OK", "{json}");
    drop(parsed);
    let (status, body) = public_get(&world, "/open-banking/discovery/v2/outages").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let _: ofb_common_v2::models::ResponseDiscoveryOutageList =
        aberta_runtime::parse_json(&body).expect("outages parse as the spec's model");

    // A scheduled outage announced on the internal listener shows in /outages.
    let start = chrono::Utc::now() + chrono::Duration::days(10);
    let start = start.date_naive().and_hms_opt(5, 0, 0).unwrap().and_utc();
    let (status, text) = internal(
        &world,
        reqwest::Method::POST,
        "/internal/v1/status/outages/scheduled",
        Some(json!({
            "start_date_time": start.to_rfc3339(),
            "end_date_time": (start + chrono::Duration::hours(1)).to_rfc3339(),
            "explanation": "Manutenção programada",
        })),
    )
    .await;
    assert!(status == 200 || status == 201, "{status}: {text}");
    let (_, body) = public_get(&world, "/open-banking/discovery/v2/outages").await;
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"].as_array().map(Vec::len), Some(1), "{json}");

    // Admin metrics: the spec's model.
    let (status, body) = public_get(&world, "/open-banking/admin/v2/metrics").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let _: ofb_admin_v2::models::ResponseMetricsList =
        aberta_runtime::parse_json(&body).expect("metrics parse as the spec's model");

    // A DCR registration is an event on the `clients` topic.
    let mut tpp = world.new_tpp(&["DADOS"]);
    world.register(&mut tpp).await;
    let client_id = tpp.client_id.clone().unwrap();
    let mut found = false;
    for _ in 0..50 {
        let (status, text) = internal(
            &world,
            reqwest::Method::GET,
            "/internal/v1/events/clients?after=0&limit=1000",
            None,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        found =
            page["events"].as_array().unwrap().iter().any(|e| {
                e["type"] == "client.registered" && e["data"]["clientId"] == json!(client_id)
            });
        if found {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(found, "client.registered for {client_id}");
    let (status, _) = internal(
        &world,
        reqwest::Method::GET,
        "/internal/v1/events/clients",
        None,
    )
    .await;
    assert_eq!(status, 200);

    // The registration is recorded for the PCM under its templated endpoint, with the
    // client's organisation.
    let mut recorded = None;
    for _ in 0..50 {
        use sea_orm::{ConnectionTrait, Statement};
        let db = world.holder.store.connection();
        recorded = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT status_code, client_org_id, family FROM api_call \
                 WHERE endpoint = '/register' AND method = 'POST'",
            ))
            .await
            .unwrap();
        if recorded.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let recorded = recorded.expect("the registration was recorded");
    assert_eq!(recorded.try_get::<i32>("", "status_code").unwrap(), 201);
    assert_eq!(
        recorded
            .try_get::<Option<String>>("", "client_org_id")
            .unwrap(),
        Some(tpp.org_id.clone())
    );

    // Retention with nothing kept: delivered events go, but never the newest numbered one.
    {
        use aberta_holder::operations::{Retention, purge};
        use sea_orm::{EntityTrait, PaginatorTrait};
        let db = world.holder.store.connection();
        let outbox = || aberta_store::entity::outbox::Entity::find().count(db);
        let before = outbox().await.unwrap();
        assert!(before >= 1);
        let nothing_kept = Retention {
            events: std::time::Duration::ZERO,
            reported_calls: std::time::Duration::ZERO,
            every: std::time::Duration::from_secs(3600),
        };
        let now = chrono::Utc::now().timestamp_millis() + 1_000;
        let (events, _) = purge(db, nothing_kept, now).await.unwrap();
        assert!(events < before, "the newest event stays");
        assert_eq!(outbox().await.unwrap(), before - events);
    }

    // Prometheus: the requests above were counted per family.
    let (status, page) = internal(&world, reqwest::Method::GET, "/metrics", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.lines().any(|l| l.starts_with('#')), "{page}");
    assert!(page.contains("outbox"), "{page}");
    let unauthorised = reqwest::Client::new()
        .get(format!("http://{}/metrics", world.holder.internal_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status().as_u16(), 401);
    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_on_sqlite() {
    operations(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_on_postgres() {
    operations(Backend::Postgres).await;
}

/// The NATS server with JetStream of this machine (`ABERTA_TEST_NATS_URL` to change it).
/// Required: the test fails, never skips, without it.
fn nats_url() -> String {
    std::env::var("ABERTA_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A holder configured with a NATS sink publishes its business events there: a DCR
/// registration arrives on `<prefix>.<brand>.clients` as a CloudEvents envelope.
async fn events_reach_nats(backend: Backend) {
    use async_nats::jetstream::{self, consumer};
    use futures_util::StreamExt;

    let run = uuid::Uuid::new_v4().simple().to_string();
    let sink = aberta_events::NatsSink {
        url: nats_url(),
        stream: format!("ABERTA_HOLDER_TEST_{run}"),
        subject_prefix: format!("abertaholder.{run}"),
    };
    let options = aberta_holder::sandbox::HolderOptions {
        nats: Some(sink.clone()),
        ..Default::default()
    };
    let world = world::start_with_options(backend, options).await;
    let mut tpp = world.new_tpp(&["DADOS"]);
    world.register(&mut tpp).await;
    let client_id = tpp.client_id.clone().unwrap();

    let client = async_nats::connect(nats_url())
        .await
        .unwrap_or_else(|err| panic!("NATS at {} is unreachable: {err}", nats_url()));
    let js = jetstream::new(client);
    let subject = format!(
        "{}.{}.clients",
        sink.subject_prefix, world.contract.holder.brand
    );
    let mut registered = None;
    for _ in 0..100 {
        if let Ok(stream) = js.get_stream(&sink.stream).await {
            let consumer: consumer::PullConsumer = stream
                .create_consumer(consumer::pull::Config {
                    deliver_policy: consumer::DeliverPolicy::All,
                    ack_policy: consumer::AckPolicy::None,
                    filter_subject: subject.clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            // The stream carries every event of the shared test database, whatever test wrote
            // it, so read the subject to its end in batches.
            loop {
                let mut batch = consumer
                    .fetch()
                    .max_messages(100)
                    .expires(std::time::Duration::from_millis(300))
                    .messages()
                    .await
                    .unwrap();
                let mut fetched = 0;
                while let Some(message) = batch.next().await {
                    fetched += 1;
                    let envelope: Value =
                        serde_json::from_slice(&message.unwrap().payload).unwrap();
                    if envelope["type"] == "client.registered"
                        && envelope["data"]["clientId"] == json!(client_id)
                    {
                        registered = Some(envelope);
                    }
                }
                if fetched == 0 || registered.is_some() {
                    break;
                }
            }
        }
        if registered.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let envelope =
        registered.unwrap_or_else(|| panic!("{backend:?}: no client.registered on {subject}"));
    assert_eq!(envelope["specversion"], "1.0");
    assert_eq!(envelope["subject"], json!(client_id));
    assert_eq!(
        envelope["source"],
        json!(format!("aberta/{}", world.contract.holder.brand))
    );
    world.holder.shutdown().await;
    js.delete_stream(&sink.stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_nats_on_sqlite() {
    events_reach_nats(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_nats_on_postgres() {
    events_reach_nats(Backend::Postgres).await;
}
