//! Business and technical events: the outbox's commit-order sequence, the embedded topic
//! reader and the NATS JetStream sink (requirements issue 7 §5, DESIGN §6).
//!
//! Every event is written to `event_outbox` in the same transaction as the change it records
//! (`aberta_store::outbox::append`; client registrations by the store itself; technical
//! events by [`technical`]). From there:
//!
//! * the [sequencer](sequence_pending) gives committed rows their `seq`, a position in commit
//!   order, so that reading "after the last seq I saw" never skips a row that committed late;
//! * the embedded sink serves a topic from an offset: [`read`] in process, and over HTTP on the
//!   internal listener ([`internal_routes`], mounted under [`EVENTS_PATH`]);
//! * the [NATS JetStream sink](Publisher), when configured, publishes every event as a
//!   CloudEvents envelope to `<prefix>.<brand>.<topic>`.
//!
//! Delivery is at-least-once and in order per aggregate. All state is in the database (the
//! `seq` column, one cursor and lease row per external sink in `events_sink`), so any number of
//! instances on one database behave as one. `published_at` marks an event delivered: on
//! JetStream's ack, or, with no external sink, when it is numbered.
//!
//! ```text
//! aberta_events::migrate(store.connection()).await?;
//! let tasks = aberta_events::spawn(store.connection().clone(), nats_sink)?; // Option<NatsSink>
//! internal = internal.nest(
//!     aberta_events::EVENTS_PATH,
//!     aberta_events::internal_routes(store.connection().clone(), internal_token.clone()),
//! );
//! ```

mod api;
mod cloudevent;
mod entity;
mod error;
mod nats;
mod read;
mod retention;
mod sequence;
pub mod sink;
mod technical;
mod time;

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

pub use api::{DEFAULT_LIMIT, EVENTS_PATH, internal_routes};
pub use cloudevent::{
    DATA_CONTENT_TYPE, ENVELOPE_CONTENT_TYPE, SEQ_EXTENSION, envelope, message_id, subject,
};
pub use entity::Model as SinkRow;
pub use error::EventsError;
pub use nats::{NatsSink, Publisher, PublisherPolicy, RoundReport};
pub use read::{Event, MAX_READ, read, read_all};
pub use retention::purge_delivered;
pub use sequence::{SEQUENCE_BATCH, sequence_and_mark_delivered, sequence_pending};
pub use technical::{TECHNICAL_TOPIC, technical};

/// The crate's result.
pub type Result<T, E = EventsError> = std::result::Result<T, E>;

/// This module's table (sink cursors and leases), for tests that read raw rows.
pub const SINK_TABLE: &str = "events_sink";

/// How often the sequencer looks for newly committed events.
pub const SEQUENCE_EVERY: Duration = Duration::from_millis(200);

/// Creates (or brings up to date) this module's table. The outbox itself, with its `seq`
/// column, is `aberta_store`'s and exists once the store has connected.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    let m = aberta_store::migrate::begin(db, "events").await?;
    if m.current() < 1 {
        m.create_table(entity::Entity).await?;
    }
    m.finish(1).await?;
    Ok(())
}

/// The background tasks of [`spawn`]. Dropping this leaves them running; [`abort`] stops
/// them (safe at any moment: the cursor only ever trails what was acknowledged).
///
/// [`abort`]: EventTasks::abort
#[derive(Debug)]
pub struct EventTasks {
    pub sequencer: JoinHandle<()>,
    /// Present when a NATS sink was configured.
    pub publisher: Option<JoinHandle<()>>,
}

impl EventTasks {
    pub fn abort(&self) {
        self.sequencer.abort();
        if let Some(publisher) = &self.publisher {
            publisher.abort();
        }
    }

    /// Every handle, for a composition root that keeps a list of tasks.
    pub fn into_handles(self) -> Vec<JoinHandle<()>> {
        std::iter::once(self.sequencer)
            .chain(self.publisher)
            .collect()
    }
}

/// Starts the sequencer (every [`SEQUENCE_EVERY`]) and, when `nats` is given, its publisher
/// with the default [`PublisherPolicy`]. Run [`migrate`] first. Fails only on a sink
/// configuration that cannot work.
pub fn spawn(db: DatabaseConnection, nats: Option<NatsSink>) -> Result<EventTasks> {
    spawn_with(db, nats, PublisherPolicy::default(), SEQUENCE_EVERY)
}

/// [`spawn`] with an explicit publisher policy and sequencer interval.
pub fn spawn_with(
    db: DatabaseConnection,
    nats: Option<NatsSink>,
    policy: PublisherPolicy,
    sequence_every: Duration,
) -> Result<EventTasks> {
    let publisher = nats
        .map(|sink| Publisher::new(db.clone(), sink, policy))
        .transpose()?;
    let embedded_only = publisher.is_none();
    let publisher = publisher.map(|publisher| tokio::spawn(publisher.run()));
    let sequencer = tokio::spawn(sequence_forever(db, sequence_every, embedded_only));
    Ok(EventTasks {
        sequencer,
        publisher,
    })
}

/// With no external sink, numbering is delivery (the embedded sink serves what is numbered),
/// so the sequencer also marks rows delivered; otherwise the publisher does, on ack.
async fn sequence_forever(db: DatabaseConnection, every: Duration, embedded_only: bool) {
    loop {
        let sequenced = if embedded_only {
            sequence_and_mark_delivered(&db).await
        } else {
            sequence_pending(&db).await
        };
        if let Err(err) = sequenced {
            tracing::warn!(%err, "event sequencing failed; retrying");
        }
        tokio::time::sleep(every).await;
    }
}
