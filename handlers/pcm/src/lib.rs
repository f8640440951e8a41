//! Call capture for every regulated route and the PCM reporter (Plataforma de Coleta de
//! Métricas, requirements §5.1).
//!
//! Three parts share the `api_call` table:
//!
//! * [`Capture`], a poem middleware around the regulated routes, records each call (templated
//!   endpoint, status, timing, organisations, `additionalInfo`) and hands it to a
//!   [`CaptureSink`] without waiting;
//! * the [`CaptureWriter`] inserts those records in batches, off the request path;
//! * the [`Reporter`] sends unreported rows to the PCM with the generated pcm 1.0.2 client,
//!   durably and at least once, and watches the 08:00 D+1 deadline.
//!
//! ```text
//! aberta_pcm::migrate(&db).await?;
//! let metrics = Arc::new(PcmMetrics::default());
//! let writer = CaptureWriter::spawn(db.clone(), keyring.clone(), metrics.clone(), WriterConfig::default());
//! let endpoint = endpoint.with(Capture::layer(writer.sink(), CaptureConfig::single(brand, org_id)));
//! let reporter = Reporter::new(db.clone(), PcmConfig::new(..), keyring, metrics.clone())?.spawn();
//! // at shutdown: reporter.shutdown().await; writer.shutdown().await;
//! ```
//!
//! Every instance of the platform may run all three on one database: capture is per instance,
//! reporting claims rows under leases ([`outbox`]).

mod capture;
pub mod deadline;
pub mod endpoints;
pub mod entity;
mod error;
pub mod facts;
mod metrics;
pub mod outbox;
mod record;
mod report;
mod reporter;
mod token;
mod writer;

pub use capture::{BrandIdentity, Capture, CaptureConfig, CaptureEndpoint};
pub use deadline::DeadlineStatus;
pub use endpoints::EndpointMatcher;
pub use error::{PcmError, Result};
pub use facts::{CallFacts, PersonType};
pub use metrics::{MetricsSnapshot, PcmMetrics};
pub use outbox::{RefusedCall, backlog, purge_reported, refused, refused_count, requeue_refused};
pub use record::SEALED_CLIENT_IP;
pub use reporter::{MAX_BATCH, PcmConfig, Reporter, ReporterHandle, RunReport};
pub use writer::{CaptureSink, CaptureWriter, WriterConfig};

/// The table of recorded calls, for tests and readers of raw rows.
pub const API_CALL_TABLE: &str = "api_call";

/// Creates or upgrades this crate's tables: safe to call from every instance at start.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), aberta_store::StoreError> {
    let m = aberta_store::migrate::begin(db, "pcm").await?;
    if m.current() < 1 {
        m.create_table(entity::api_call::Entity).await?;
        m.create_index(
            "idx_api_call_received",
            entity::api_call::Entity,
            &["received_at"],
            false,
        )
        .await?;
        m.create_index(
            "idx_api_call_unreported",
            entity::api_call::Entity,
            &["reported_at", "next_attempt_at"],
            false,
        )
        .await?;
    }
    if m.current() < 2 {
        // Only the calls still to report, per organisation in id order, as the reporter's
        // claim walks it: a call leaves it when the PCM accepts it, so it stays the size of
        // the backlog, and another organisation's backlog is never scanned.
        use sea_orm::ConnectionTrait;
        m.txn()
            .execute_unprepared("DROP INDEX IF EXISTS idx_api_call_unreported")
            .await?;
        m.txn()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_api_call_pending \
                 ON api_call (server_org_id, id) WHERE reported_at IS NULL",
            )
            .await?;
    }
    m.finish(2).await
}
