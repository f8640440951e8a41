//! The NATS JetStream sink against the NATS server of this machine (`ABERTA_TEST_NATS_URL`,
//! default `nats://127.0.0.1:4222`, JetStream enabled), on both database backends: every event
//! arrives exactly once (after JetStream's dedupe by `Nats-Msg-Id`) and in order per aggregate,
//! across a publisher killed midway, a cursor set back, NATS going away, and two instances.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use aberta_events::sink;
use aberta_events::{NatsSink, PublisherPolicy, SEQ_EXTENSION, sequence_pending, spawn_with};
use async_nats::jetstream::{self, consumer};
use common::{Backend, Db, backends, eventually, nats_url, undelivered, write};
use futures_util::StreamExt;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

const AGGREGATES: usize = 8;
const TOPICS: [&str; 3] = ["consents", "payments", "payment-consents"];

/// A stream and subject prefix no other run uses.
fn unique_sink(url: &str) -> NatsSink {
    let run = uuid::Uuid::new_v4().simple().to_string();
    NatsSink {
        url: url.to_string(),
        stream: format!("ABERTA_TEST_{run}"),
        subject_prefix: format!("abertatest.{run}"),
    }
}

/// Small batches and windows so a run takes many rounds; short lease so a replacement
/// publisher takes over quickly.
fn policy() -> PublisherPolicy {
    PublisherPolicy {
        batch: 16,
        window: 4,
        lease: Duration::from_secs(3),
        idle: Duration::from_millis(20),
        ack_timeout: Duration::from_secs(1),
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        duplicate_window: Duration::from_secs(120),
    }
}

async fn jetstream_checker() -> jetstream::Context {
    let client = async_nats::connect(nats_url()).await.unwrap_or_else(|err| {
        panic!(
            "NATS at {} is unreachable ({err}); the sink tests need a NATS server with \
             JetStream (set ABERTA_TEST_NATS_URL)",
            nats_url()
        )
    });
    jetstream::new(client)
}

/// Writes events `from..to` of the run: event `i` belongs to aggregate `i % AGGREGATES`, whose
/// topic is fixed, and carries its number within its aggregate.
async fn write_events(db: &Db, from: usize, to: usize) {
    for i in from..to {
        let aggregate = i % AGGREGATES;
        write(
            db.conn(),
            TOPICS[aggregate % TOPICS.len()],
            &format!("agg-{aggregate}"),
            "test.changed",
            json!({"n": i / AGGREGATES}),
        )
        .await;
    }
    sequence_pending(db.conn()).await.unwrap();
}

async fn stream_count(js: &jetstream::Context, name: &str) -> u64 {
    match js.get_stream(name).await {
        Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
        Err(_) => 0,
    }
}

async fn cursor(db: &Db, sink: &NatsSink) -> i64 {
    sink::status(db.conn(), &sink.sink_name())
        .await
        .unwrap()
        .map_or(0, |row| row.cursor)
}

async fn wait_for_cursor(db: &Db, sink: &NatsSink, seq: i64) {
    let conn = db.conn().clone();
    let name = sink.sink_name();
    eventually(&format!("the publisher's cursor reached {seq}"), || {
        let conn = conn.clone();
        let name = name.clone();
        async move {
            sink::status(&conn, &name)
                .await
                .unwrap()
                .is_some_and(|row| row.cursor >= seq)
        }
    })
    .await;
}

/// One message as a subscriber reads it.
struct Received {
    subject: String,
    msg_id: String,
    content_type: String,
    envelope: Value,
}

/// Reads the whole stream with a JetStream pull consumer, in stream order.
async fn read_stream(js: &jetstream::Context, name: &str, expected: usize) -> Vec<Received> {
    let stream = js.get_stream(name).await.unwrap();
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        let before = got.len();
        while let Some(message) = batch.next().await {
            let message = message.unwrap();
            let headers = message.headers.clone().unwrap_or_default();
            let header = |name: &str| {
                headers
                    .get(name)
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default()
            };
            got.push(Received {
                subject: message.subject.to_string(),
                msg_id: header("Nats-Msg-Id"),
                content_type: header("Content-Type"),
                envelope: serde_json::from_slice(&message.payload).unwrap(),
            });
        }
        if got.len() == before && got.len() >= expected {
            return got;
        }
        assert!(
            got.len() <= expected,
            "more messages than events: {}",
            got.len()
        );
    }
}

/// Every event of `0..total` once, each aggregate in order, each a well-formed envelope.
fn assert_exactly_once_in_order(backend: Backend, sink: &NatsSink, got: &[Received], total: usize) {
    assert_eq!(got.len(), total, "{backend:?}: messages in the stream");
    let ids: HashSet<&str> = got.iter().map(|m| m.msg_id.as_str()).collect();
    assert_eq!(ids.len(), total, "{backend:?}: a Nats-Msg-Id repeats");
    let seqs: HashSet<i64> = got
        .iter()
        .map(|m| m.envelope[SEQ_EXTENSION].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=total as i64).collect::<HashSet<_>>(),
        "{backend:?}: seqs"
    );
    let mut per_aggregate: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for m in got {
        let e = &m.envelope;
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["id"].as_str(), Some(m.msg_id.as_str()), "{backend:?}");
        assert_eq!(e["source"], "aberta/demo");
        assert_eq!(e["type"], "test.changed");
        assert_eq!(e["datacontenttype"], "application/json");
        assert_eq!(e["time"], "2027-01-15T08:00:00.000Z");
        assert_eq!(m.content_type, "application/cloudevents+json");
        let aggregate = e["subject"].as_str().unwrap().to_string();
        let number: usize = aggregate.trim_start_matches("agg-").parse().unwrap();
        assert_eq!(
            m.subject,
            format!(
                "{}.demo.{}",
                sink.subject_prefix,
                TOPICS[number % TOPICS.len()]
            )
        );
        per_aggregate
            .entry(aggregate)
            .or_default()
            .push(e["data"]["n"].as_i64().unwrap());
    }
    assert_eq!(per_aggregate.len(), AGGREGATES.min(total));
    for (aggregate, ns) in per_aggregate {
        let expected: Vec<i64> = (0..ns.len() as i64).collect();
        assert_eq!(ns, expected, "{backend:?}: {aggregate} out of order");
    }
}

async fn stop(task: Option<JoinHandle<()>>) {
    let task = task.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
}

#[tokio::test]
async fn a_killed_publisher_is_replaced_and_every_event_arrives_once_in_order() {
    const TOTAL: usize = 240;
    let js = jetstream_checker().await;
    for backend in backends() {
        let db = Db::new(backend).await;
        let sink = unique_sink(&nats_url());
        write_events(&db, 0, TOTAL / 2).await;

        let first = spawn_with(
            db.conn().clone(),
            Some(sink.clone()),
            policy(),
            Duration::from_millis(50),
        )
        .unwrap();
        eventually("some events reached the stream", || {
            let js = js.clone();
            let name = sink.stream.clone();
            async move { stream_count(&js, &name).await >= (TOTAL / 8) as u64 }
        })
        .await;
        // Killed wherever it is: possibly with publishes in flight and their acks unread.
        stop(first.publisher).await;
        first.sequencer.abort();
        let at_kill = cursor(&db, &sink).await;

        // As if it had also crashed after publishing a stretch but before moving the cursor:
        // that stretch will be published again and must be dropped as repeats.
        let rewound = (at_kill - 40).max(0);
        db.conn()
            .execute_unprepared(&format!(
                "UPDATE events_sink SET cursor = {rewound} WHERE name = '{}'",
                sink.sink_name()
            ))
            .await
            .unwrap();
        write_events(&db, TOTAL / 2, TOTAL).await;
        assert!(
            undelivered(db.conn()).await >= (TOTAL / 2) as i64,
            "{backend:?}"
        );

        // A new instance: waits out the dead one's lease, then carries on from the cursor.
        let second = spawn_with(
            db.second().await.connection().clone(),
            Some(sink.clone()),
            policy(),
            Duration::from_millis(50),
        )
        .unwrap();
        wait_for_cursor(&db, &sink, TOTAL as i64).await;
        stop(second.publisher).await;
        second.sequencer.abort();

        assert_eq!(stream_count(&js, &sink.stream).await, TOTAL as u64);
        assert_eq!(
            undelivered(db.conn()).await,
            0,
            "{backend:?}: acked but not marked"
        );
        let got = read_stream(&js, &sink.stream, TOTAL).await;
        assert_exactly_once_in_order(backend, &sink, &got, TOTAL);
        js.delete_stream(&sink.stream).await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn two_instances_publish_as_one() {
    const TOTAL: usize = 160;
    let js = jetstream_checker().await;
    for backend in backends() {
        let db = Db::new(backend).await;
        let other = db.second().await;
        let sink = unique_sink(&nats_url());
        let a = spawn_with(
            db.conn().clone(),
            Some(sink.clone()),
            policy(),
            Duration::from_millis(20),
        )
        .unwrap();
        let b = spawn_with(
            other.connection().clone(),
            Some(sink.clone()),
            policy(),
            Duration::from_millis(20),
        )
        .unwrap();
        write_events(&db, 0, TOTAL).await;
        wait_for_cursor(&db, &sink, TOTAL as i64).await;
        a.abort();
        b.abort();
        let row = sink::status(db.conn(), &sink.sink_name())
            .await
            .unwrap()
            .unwrap();
        assert!(
            row.holder.is_some(),
            "{backend:?}: one instance holds the lease"
        );
        let got = read_stream(&js, &sink.stream, TOTAL).await;
        assert_exactly_once_in_order(backend, &sink, &got, TOTAL);
        js.delete_stream(&sink.stream).await.unwrap();
        db.finish().await;
    }
}

/// A TCP relay in front of the NATS server that the test can cut (closing every connection
/// and refusing new ones) and restore on the same port.
struct Relay {
    port: u16,
    target: String,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Self {
            port: listener.local_addr().unwrap().port(),
            target,
            accept: Mutex::new(None),
        };
        relay.serve(listener);
        relay
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let task = tokio::spawn(async move {
            // Dropped with this task when the relay is cut: every connection goes with it.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    async fn cut(&self) {
        let task = self.accept.lock().unwrap().take().unwrap();
        task.abort();
        let _ = task.await;
    }

    async fn restore(&self) {
        self.serve(TcpListener::bind(("127.0.0.1", self.port)).await.unwrap());
    }
}

#[tokio::test]
async fn nats_going_away_loses_nothing() {
    const TOTAL: usize = 120;
    let js = jetstream_checker().await;
    let target = nats_url()
        .trim_start_matches("nats://")
        .trim_end_matches('/')
        .to_string();
    for backend in backends() {
        let db = Db::new(backend).await;
        let relay = Relay::start(target.clone()).await;
        let sink = unique_sink(&relay.url());
        let tasks = spawn_with(
            db.conn().clone(),
            Some(sink.clone()),
            policy(),
            Duration::from_millis(20),
        )
        .unwrap();
        write_events(&db, 0, TOTAL / 3).await;
        wait_for_cursor(&db, &sink, (TOTAL / 3) as i64).await;

        relay.cut().await;
        write_events(&db, TOTAL / 3, TOTAL).await;
        // Several ack timeouts and reconnection attempts: nothing can have been delivered.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(
            cursor(&db, &sink).await,
            (TOTAL / 3) as i64,
            "{backend:?}: the cursor moved while NATS was unreachable"
        );

        relay.restore().await;
        wait_for_cursor(&db, &sink, TOTAL as i64).await;
        tasks.abort();
        let got = read_stream(&js, &sink.stream, TOTAL).await;
        assert_exactly_once_in_order(backend, &sink, &got, TOTAL);
        js.delete_stream(&sink.stream).await.unwrap();
        db.finish().await;
    }
}

#[tokio::test]
async fn the_lease_admits_one_instance_at_a_time() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.conn();
        let now = 1_800_000_000_000;
        sink::ensure(conn, "nats:s", now).await.unwrap();
        let origin = sink::status(conn, "nats:s").await.unwrap().unwrap().origin;
        sink::ensure(conn, "nats:s", now + 1).await.unwrap();
        assert_eq!(
            sink::status(conn, "nats:s").await.unwrap().unwrap().origin,
            origin,
            "{backend:?}: the origin is made once"
        );

        let a = sink::acquire(conn, "nats:s", "A", now, 1_000)
            .await
            .unwrap();
        assert_eq!(a.map(|h| h.cursor), Some(0), "{backend:?}");
        assert!(
            sink::acquire(conn, "nats:s", "B", now + 10, 1_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            !sink::advance(conn, "nats:s", "B", 5, now + 10)
                .await
                .unwrap()
        );
        assert!(
            sink::advance(conn, "nats:s", "A", 5, now + 10)
                .await
                .unwrap()
        );
        // Renewed by its holder, so still A's after the first term.
        let renewed = sink::acquire(conn, "nats:s", "A", now + 500, 1_000)
            .await
            .unwrap();
        assert_eq!(renewed.map(|h| h.cursor), Some(5));
        assert!(
            sink::acquire(conn, "nats:s", "B", now + 1_200, 1_000)
                .await
                .unwrap()
                .is_none()
        );
        // Expired: B takes over, and A can no longer move the cursor.
        let b = sink::acquire(conn, "nats:s", "B", now + 1_600, 1_000)
            .await
            .unwrap();
        assert_eq!(b.map(|h| h.cursor), Some(5), "{backend:?}");
        assert!(
            !sink::advance(conn, "nats:s", "A", 9, now + 1_600)
                .await
                .unwrap()
        );
        // A clean stop hands the lease over at once.
        sink::release(conn, "nats:s", "B").await.unwrap();
        assert!(
            sink::acquire(conn, "nats:s", "A", now + 1_601, 1_000)
                .await
                .unwrap()
                .is_some()
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn impossible_configurations_are_refused() {
    let db = Db::new(Backend::Sqlite).await;
    let good = unique_sink(&nats_url());
    for sink in [
        NatsSink {
            stream: "a.b".into(),
            ..good.clone()
        },
        NatsSink {
            stream: String::new(),
            ..good.clone()
        },
        NatsSink {
            subject_prefix: "ofb.>".into(),
            ..good.clone()
        },
        NatsSink {
            subject_prefix: "ofb..x".into(),
            ..good.clone()
        },
        NatsSink {
            url: " ".into(),
            ..good.clone()
        },
    ] {
        assert!(
            aberta_events::spawn(db.conn().clone(), Some(sink.clone())).is_err(),
            "{sink:?}"
        );
    }
    for policy in [
        PublisherPolicy {
            window: 0,
            ..PublisherPolicy::default()
        },
        PublisherPolicy {
            batch: 5_000,
            ..PublisherPolicy::default()
        },
        PublisherPolicy {
            lease: Duration::from_secs(1),
            ..PublisherPolicy::default()
        },
        PublisherPolicy {
            duplicate_window: Duration::from_secs(1),
            ..PublisherPolicy::default()
        },
    ] {
        assert!(
            spawn_with(
                db.conn().clone(),
                Some(good.clone()),
                policy.clone(),
                Duration::from_millis(200)
            )
            .is_err(),
            "{policy:?}"
        );
    }
    db.finish().await;
}

/// A stream that exists already (made by an operator, with limits of their own) gets this
/// sink's subjects and duplicate window and keeps the rest.
#[tokio::test]
async fn an_existing_stream_keeps_its_own_limits() {
    let js = jetstream_checker().await;
    for backend in backends() {
        let db = Db::new(backend).await;
        let sink = unique_sink(&nats_url());
        js.create_stream(jetstream::stream::Config {
            name: sink.stream.clone(),
            subjects: vec![format!("{}.old", sink.subject_prefix)],
            max_age: Duration::from_secs(86_400),
            duplicate_window: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
        let tasks = spawn_with(
            db.conn().clone(),
            Some(sink.clone()),
            policy(),
            Duration::from_millis(20),
        )
        .unwrap();
        write_events(&db, 0, 3).await;
        wait_for_cursor(&db, &sink, 3).await;
        tasks.abort();
        let mut stream = js.get_stream(&sink.stream).await.unwrap();
        let config = stream.info().await.unwrap().config.clone();
        assert_eq!(config.subjects, sink.subjects(), "{backend:?}");
        assert_eq!(config.duplicate_window, policy().duplicate_window);
        assert_eq!(config.max_age, Duration::from_secs(86_400), "{backend:?}");
        assert_eq!(read_stream(&js, &sink.stream, 3).await.len(), 3);
        js.delete_stream(&sink.stream).await.unwrap();
        db.finish().await;
    }
}
