//! Status and outages (discovery v2), the outage register and health checker, admin metrics
//! v2 and the Prometheus text endpoint.
//!
//! All state is in the database (the register, the health checker's counts and lease, the
//! daily rollup of the recorded calls of `aberta-pcm`), so several instances on one database
//! answer alike. What the composition root wires:
//!
//! ```text
//! aberta_status::migrate(&db).await?;
//! let register = Arc::new(OutageRegister::new(db.clone(), Arc::new(SystemClock)));
//! // public listener
//! ofb_common_v2::server::routes(discovery_api(register.clone(), StatusSettings::default()));
//! ofb_admin_v2::server::routes(admin_api(register.clone(), Some(brand_of)));
//! let requests = RequestMetrics::new(&families);      // .with(requests.middleware())
//! // internal listener
//! internal_routes(register.clone(), internal_token.clone());   // nested, e.g. /internal/v1/status
//! let exporter = Exporter::new(Some(requests));
//! exporter.register(OutboxDepth::new(db.clone()));
//! exporter.register(PcmBacklog::new(db.clone()));
//! exporter.register(StatusGauges::new(register.clone(), StatusSettings::default()));
//! prometheus_route(exporter, Some(internal_token));
//! // background
//! HealthChecker::new(register, probe, families, HealthPolicy::default())?.spawn();
//! ```

mod admin;
mod discovery;
mod entity;
mod error;
mod internal;
mod lease;
mod paging;

pub mod availability;
pub mod clock;
pub mod health;
pub mod metrics;
pub mod outage;
pub mod prometheus;
pub mod register;
pub mod rules;
pub mod status;
pub mod time;

pub use admin::{BrandOf, admin_api};
pub use clock::{Clock, ManualClock, SystemClock};
pub use discovery::discovery_api;
pub use error::{Result, StatusError};
pub use health::{Family, HealthChecker, HealthPolicy, Probe, RoundReport, Shutdown};
pub use internal::internal_routes;
pub use outage::{Outage, OutageKind, Phase};
pub use prometheus::{
    Exporter, Exposition, Gauges, MetricKind, OutboxDepth, PcmBacklog, RequestMetrics,
    StatusGauges, prometheus_route,
};
pub use register::{NewDeclared, NewScheduled, OutageRegister};
pub use rules::{Refusal, SchedulingRules};
pub use status::StatusSettings;

/// Creates or upgrades this crate's tables, and those of the recorded calls it reads
/// (`aberta_pcm::migrate`, idempotent). Safe to run from several instances at once:
/// [`aberta_store::migrate::begin`] serialises migrations.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<()> {
    aberta_pcm::migrate(db).await?;
    let m = aberta_store::migrate::begin(db, "status").await?;
    if m.current() < 1 {
        m.create_table(entity::outage::Entity).await?;
        m.create_table(entity::probe::Entity).await?;
        m.create_table(entity::lease::Entity).await?;
        m.create_table(entity::call_day::Entity).await?;
        m.create_index(
            "idx_status_outage_window",
            entity::outage::Entity,
            &["starts_at", "ended_at"],
            false,
        )
        .await?;
        m.create_index(
            "idx_status_outage_kind",
            entity::outage::Entity,
            &["kind", "ended_at"],
            false,
        )
        .await?;
    }
    if m.current() < 2 {
        // The rollup now grows through the current day up to a mark instead of holding only
        // settled days behind marker rows; those rows are derived data, rebuilt from the
        // recorded calls on the next request.
        use sea_orm::ConnectionTrait;
        m.txn()
            .execute_unprepared("DELETE FROM status_call_day")
            .await?;
        m.create_table(entity::call_mark::Entity).await?;
    }
    m.finish(2).await?;
    Ok(())
}
