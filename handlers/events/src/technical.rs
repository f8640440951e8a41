//! Technical events (5xx answers, upstream failures) on topic `technical`: one insert, no
//! transaction of its own, so the capture layer can call it on every failure.

use aberta_store::outbox::{self, NewEvent};
use sea_orm::ConnectionTrait;

use crate::Result;

/// The topic of technical events.
pub const TECHNICAL_TOPIC: &str = "technical";

/// Records a technical event of `kind` (e.g. `http.5xx`, `upstream.failure`; also the
/// aggregate, so one kind keeps its order) with `detail` as the payload. The event type is
/// `technical.<kind>`. `detail` must carry no personal data or tokens: status, operation,
/// interaction id, upstream name and the like.
pub async fn technical<C: ConnectionTrait>(
    db: &C,
    brand: &str,
    kind: &str,
    detail: serde_json::Value,
) -> Result<()> {
    outbox::append(
        db,
        NewEvent {
            brand,
            topic: TECHNICAL_TOPIC,
            aggregate_id: kind,
            event_type: &format!("technical.{kind}"),
            payload: detail,
        },
        chrono::Utc::now().timestamp_millis(),
    )
    .await?;
    Ok(())
}
