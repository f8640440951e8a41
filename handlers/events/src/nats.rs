//! The NATS JetStream sink: a publisher that sends every sequenced event, as a CloudEvents
//! envelope, to the configured stream, and moves its cursor only past events JetStream has
//! acknowledged.
//!
//! Delivery is at-least-once and in order per aggregate:
//!
//! * The cursor (in `events_sink`) moves only past a run of acknowledged events, so a crash or
//!   a failure re-sends at most the unacknowledged tail; each message carries a stable
//!   `Nats-Msg-Id`, so JetStream drops the repeats within the stream's duplicate window.
//! * Several publishes are in flight at once (up to [`PublisherPolicy::window`]), but never
//!   two of one aggregate: the next event of an aggregate waits for the previous one's ack.
//!   Acks are awaited in sending order and the first failure ends the round, so whatever is
//!   re-sent later lands after (or is dropped as a repeat of) what was stored before.
//! * One instance publishes at a time, under the sink row's lease; the others wait for it to
//!   expire. Even two overlapping for a moment keep per-aggregate order, by the same rule.
//! * NATS unreachable, the stream missing or an ack overdue: the round ends, the publisher
//!   reconnects with exponential backoff, and starts again from the cursor. Nothing is lost.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use aberta_store::entity::outbox;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};

use crate::cloudevent::{self, ENVELOPE_CONTENT_TYPE};
use crate::read::{Event, MAX_READ, read_all};
use crate::{EventsError, Result, sink, time};

/// Where events go: a NATS server and the JetStream stream to create or update on start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSink {
    /// e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The stream's name (letters, digits, `-` and `_`).
    pub stream: String,
    /// Subjects are `<subject_prefix>.<brand>.<topic>`; the stream takes
    /// `<subject_prefix>.>`.
    pub subject_prefix: String,
}

impl NatsSink {
    /// The sink's row in `events_sink`: one cursor per stream.
    pub fn sink_name(&self) -> String {
        format!("nats:{}", self.stream)
    }

    /// The subjects the stream is created with.
    pub fn subjects(&self) -> Vec<String> {
        vec![format!("{}.>", self.subject_prefix)]
    }

    fn check(&self) -> Result<()> {
        let refuse = |why| Err(EventsError::Config(why));
        if self.url.trim().is_empty() {
            return refuse("the NATS url is empty");
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&self.stream) {
            return refuse("the stream name must be letters, digits, '-' or '_'");
        }
        let prefix_ok = self.subject_prefix.split('.').all(|token| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| c == '*' || c == '>' || c.is_whitespace() || c.is_control())
        });
        if !prefix_ok {
            return refuse("the subject prefix must be dot-separated tokens without wildcards");
        }
        Ok(())
    }
}

/// How the publisher paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherPolicy {
    /// Events read from the outbox per round (at most 1,000).
    pub batch: u64,
    /// Publishes awaiting their ack at once.
    pub window: usize,
    /// How long the lease holds; another instance takes over this long after a crash.
    pub lease: Duration,
    /// The pause when there is nothing to publish (or another instance holds the lease).
    pub idle: Duration,
    /// The longest wait for one ack (and for each JetStream API call).
    pub ack_timeout: Duration,
    /// The first wait after a failure; doubles with each failure in a row.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// The stream's duplicate window: repeats of a message id within it are dropped. A
    /// crashed publisher must restart (or be replaced, after `lease`) well within it.
    pub duplicate_window: Duration,
}

impl Default for PublisherPolicy {
    fn default() -> Self {
        Self {
            batch: 500,
            window: 256,
            lease: Duration::from_secs(15),
            idle: Duration::from_millis(200),
            ack_timeout: Duration::from_secs(5),
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(600),
        }
    }
}

impl PublisherPolicy {
    fn check(&self) -> Result<()> {
        let refuse = |why| Err(EventsError::Config(why));
        if self.batch == 0 || self.batch > MAX_READ {
            return refuse("batch must be between 1 and 1000");
        }
        if self.window == 0 {
            return refuse("window must be at least 1");
        }
        if self.ack_timeout.is_zero() || self.first_backoff.is_zero() || self.idle.is_zero() {
            return refuse("ack_timeout, first_backoff and idle must not be zero");
        }
        if self.max_backoff < self.first_backoff {
            return refuse("max_backoff must not be shorter than first_backoff");
        }
        if self.lease <= self.ack_timeout * 2 {
            return refuse("lease must outlast two ack timeouts");
        }
        if self.duplicate_window <= self.lease {
            return refuse("duplicate_window must outlast the lease");
        }
        Ok(())
    }
}

/// What one round of publishing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Events acknowledged by JetStream (repeats included).
    pub acked: usize,
    /// Of those, acknowledged as repeats of a message already in the stream.
    pub duplicates: usize,
}

/// Publishes the outbox to one NATS JetStream stream. Run it with [`Publisher::run`] (what
/// [`crate::spawn`] does).
#[derive(Debug, Clone)]
pub struct Publisher {
    db: DatabaseConnection,
    sink: NatsSink,
    policy: PublisherPolicy,
    name: String,
    /// This publisher's identity in the lease.
    holder: String,
}

/// A connected session: the JetStream context and the lease, as last renewed.
struct Session {
    js: jetstream::Context,
    held: Option<sink::Held>,
}

impl Publisher {
    pub fn new(db: DatabaseConnection, sink: NatsSink, policy: PublisherPolicy) -> Result<Self> {
        sink.check()?;
        policy.check()?;
        Ok(Self {
            db,
            name: sink.sink_name(),
            sink,
            policy,
            holder: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Publishes forever: connects, creates or updates the stream, publishes round after
    /// round; after any failure waits (exponential backoff) and starts over from the cursor.
    pub async fn run(self) {
        let mut backoff = self.policy.first_backoff;
        loop {
            match self.session(&mut backoff).await {
                Ok(()) => {}
                Err(err) => {
                    tracing::warn!(%err, stream = %self.sink.stream, retry_in = ?backoff,
                        "event publishing interrupted");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.policy.max_backoff);
        }
    }

    /// Gives the lease up, so another instance can take over at once: for a clean stop, call
    /// it on a clone once the running task has ended.
    pub async fn release(&self) -> Result<()> {
        sink::release(&self.db, &self.name, &self.holder).await
    }

    /// One connection's life: returns on the first failure.
    async fn session(&self, backoff: &mut Duration) -> Result<()> {
        sink::ensure(&self.db, &self.name, time::now_ms()).await?;
        let mut session = self.connect().await?;
        tracing::info!(stream = %self.sink.stream, "event publisher connected");
        loop {
            let report = self.round(&mut session).await?;
            *backoff = self.policy.first_backoff;
            match report {
                None => tokio::time::sleep(self.policy.idle).await,
                Some(report) if report.duplicates > 0 => {
                    tracing::debug!(
                        acked = report.acked,
                        duplicates = report.duplicates,
                        "events published again after an interruption; the stream dropped the repeats"
                    );
                }
                Some(_) => {}
            }
        }
    }

    async fn connect(&self) -> Result<Session> {
        let client = async_nats::ConnectOptions::new()
            .name("aberta-events")
            .connection_timeout(self.policy.ack_timeout)
            .connect(self.sink.url.as_str())
            .await
            .map_err(EventsError::nats)?;
        let js = jetstream::ContextBuilder::new()
            .timeout(self.policy.ack_timeout)
            .build(client);
        self.ensure_stream(&js).await?;
        Ok(Session { js, held: None })
    }

    /// Creates the stream, or brings an existing one's subjects and duplicate window to this
    /// configuration while keeping the rest of it (limits and storage an operator may have
    /// tuned).
    async fn ensure_stream(&self, js: &jetstream::Context) -> Result<()> {
        let stream = js
            .get_or_create_stream(stream::Config {
                name: self.sink.stream.clone(),
                subjects: self.sink.subjects(),
                duplicate_window: self.policy.duplicate_window,
                ..stream::Config::default()
            })
            .await
            .map_err(EventsError::nats)?;
        let current = &stream.cached_info().config;
        let subjects = self.sink.subjects();
        if current.subjects == subjects && current.duplicate_window == self.policy.duplicate_window
        {
            return Ok(());
        }
        tracing::info!(stream = %self.sink.stream, "updating the event stream's subjects and duplicate window");
        js.update_stream(stream::Config {
            subjects,
            duplicate_window: self.policy.duplicate_window,
            ..current.clone()
        })
        .await
        .map_err(EventsError::nats)?;
        Ok(())
    }

    /// Takes or keeps the lease, reads the events after the cursor, publishes them. `None`
    /// when there was nothing to do (no events, or another instance holds the lease).
    async fn round(&self, session: &mut Session) -> Result<Option<RoundReport>> {
        let Some(held) = self.lease(session).await? else {
            return Ok(None);
        };
        let events = read_all(&self.db, held.cursor, self.policy.batch).await?;
        if events.is_empty() {
            return Ok(None);
        }
        let (report, last_acked, failure) = self.publish(&session.js, &held.origin, &events).await;
        if let Some(seq) = last_acked {
            if self.record_delivery(held.cursor, seq).await? {
                if let Some(held) = session.held.as_mut() {
                    held.cursor = seq;
                }
            } else {
                tracing::warn!(stream = %self.sink.stream, "event publisher lost its lease");
                session.held = None;
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(Some(report)),
        }
    }

    /// Moves the cursor from `from` to `seq` and marks the events in between delivered, in one
    /// transaction so that a crash leaves neither half; `false` when the lease is no longer
    /// ours.
    async fn record_delivery(&self, from: i64, seq: i64) -> Result<bool> {
        let now = time::now_ms();
        let txn = self.db.begin().await?;
        if !sink::advance(&txn, &self.name, &self.holder, seq, now).await? {
            return Ok(false);
        }
        mark_delivered(&txn, from, seq, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// The lease, renewed in the database once half of it has passed (or first taken).
    async fn lease(&self, session: &mut Session) -> Result<Option<sink::Held>> {
        let now = time::now_ms();
        let lease_ms = i64::try_from(self.policy.lease.as_millis()).unwrap_or(i64::MAX);
        if let Some(held) = &session.held
            && held.lease_until - now > lease_ms / 2
        {
            return Ok(Some(held.clone()));
        }
        session.held = sink::acquire(&self.db, &self.name, &self.holder, now, lease_ms).await?;
        Ok(session.held.clone())
    }

    /// Sends `events` in order with up to `window` acks outstanding, never two of one
    /// aggregate. Returns what was acknowledged, the seq of the last event of the acknowledged
    /// run (the new cursor), and the failure that ended the round early, if any.
    async fn publish(
        &self,
        js: &jetstream::Context,
        origin: &str,
        events: &[Event],
    ) -> (RoundReport, Option<i64>, Option<EventsError>) {
        let mut report = RoundReport::default();
        let mut last_acked = None;
        let mut in_flight: VecDeque<(i64, AggregateKey<'_>, PublishAckFuture)> = VecDeque::new();
        let mut busy: HashSet<AggregateKey<'_>> = HashSet::new();
        for event in events {
            let key = AggregateKey::of(event);
            while in_flight.len() >= self.policy.window || busy.contains(&key) {
                let Some((seq, done, ack)) = in_flight.pop_front() else {
                    break;
                };
                busy.remove(&done);
                match ack.await {
                    Ok(ack) => {
                        report.acked += 1;
                        report.duplicates += usize::from(ack.duplicate);
                        last_acked = Some(seq);
                    }
                    Err(err) => return (report, last_acked, Some(EventsError::nats(err))),
                }
            }
            let message = PublishMessage::build()
                .header("Content-Type", ENVELOPE_CONTENT_TYPE)
                .message_id(cloudevent::message_id(origin, event))
                .payload(cloudevent::envelope(origin, event).to_string().into());
            match js
                .send_publish(
                    cloudevent::subject(&self.sink.subject_prefix, event),
                    message,
                )
                .await
            {
                Ok(ack) => {
                    busy.insert(key);
                    in_flight.push_back((event.seq, key, ack));
                }
                Err(err) => return (report, last_acked, Some(EventsError::nats(err))),
            }
        }
        while let Some((seq, _, ack)) = in_flight.pop_front() {
            match ack.await {
                Ok(ack) => {
                    report.acked += 1;
                    report.duplicates += usize::from(ack.duplicate);
                    last_acked = Some(seq);
                }
                Err(err) => return (report, last_acked, Some(EventsError::nats(err))),
            }
        }
        (report, last_acked, None)
    }
}

/// Stamps `published_at` on the events after `after_seq` up to `up_to_seq` that no sink has
/// marked yet (what the outbox-depth gauge counts as pending).
async fn mark_delivered<C: ConnectionTrait>(
    db: &C,
    after_seq: i64,
    up_to_seq: i64,
    now_ms: i64,
) -> Result<()> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::PublishedAt, Expr::value(now_ms))
        .filter(outbox::Column::Seq.gt(after_seq))
        .filter(outbox::Column::Seq.lte(up_to_seq))
        .filter(outbox::Column::PublishedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The aggregate an event is about: order holds within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AggregateKey<'a> {
    brand: &'a str,
    topic: &'a str,
    aggregate_id: &'a str,
}

impl<'a> AggregateKey<'a> {
    fn of(event: &'a Event) -> Self {
        Self {
            brand: &event.brand,
            topic: &event.topic,
            aggregate_id: &event.aggregate_id,
        }
    }
}
