//! The embedded sink: an internal HTTP API from which the bank's own systems read a topic from
//! an offset. Served on the internal listener under [`EVENTS_PATH`]; every call needs
//! `Authorization: Bearer <internal token>`. A reader keeps `next` from each answer and passes
//! it back as `after`; seq order is commit order, so nothing is ever skipped (at-least-once:
//! a reader that loses its offset reads some events again).

use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, SecurityScheme};
use sea_orm::DatabaseConnection;

use crate::read::{Event, MAX_READ, read};

/// Where the composition root mounts [`internal_routes`] on the internal listener.
pub const EVENTS_PATH: &str = "/internal/v1/events";

/// Events per answer when the caller names no `limit`.
pub const DEFAULT_LIMIT: u64 = 100;

/// The routes: `/{topic}?after=&limit=` plus `/openapi.json`.
pub fn internal_routes(db: DatabaseConnection, internal_token: String) -> poem::Route {
    let service = OpenApiService::new(EventsApi { db, internal_token }, "Aberta events", "1.0.0");
    let spec = service.spec_endpoint();
    poem::Route::new()
        .at("/openapi.json", spec)
        .nest("/", service)
}

struct EventsApi {
    db: DatabaseConnection,
    internal_token: String,
}

#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
struct InternalToken(Bearer);

/// One event: the outbox row as a subscriber needs it.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct EventView {
    /// The position to pass back as `after`.
    seq: i64,
    /// Stable per event: use it to drop a repeat.
    id: i64,
    brand: String,
    topic: String,
    /// The consent, payment or client the event is about; order holds per aggregate.
    aggregate_id: String,
    /// e.g. `consent.authorised`.
    #[oai(rename = "type")]
    event_type: String,
    /// When the change happened (RFC 3339, UTC).
    time: String,
    data: serde_json::Value,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct EventPage {
    events: Vec<EventView>,
    /// Pass as `after` in the next call (the last event's seq, or `after` itself when empty).
    next: i64,
}

#[derive(Debug, Object)]
struct Problem {
    message: String,
}

#[derive(ApiResponse)]
enum ReadResponse {
    #[oai(status = 200)]
    Ok(Json<EventPage>),
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    #[oai(status = 500)]
    Internal(Json<Problem>),
}

fn problem(message: &str) -> Json<Problem> {
    Json(Problem {
        message: message.to_string(),
    })
}

fn view(event: Event) -> EventView {
    EventView {
        seq: event.seq,
        id: event.id,
        brand: event.brand,
        topic: event.topic,
        aggregate_id: event.aggregate_id,
        event_type: event.event_type,
        time: crate::time::rfc3339(event.created_at),
        data: event.payload,
    }
}

/// Topics are short lowercase names (`consents`, `payment-consents`, `technical`).
fn is_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 64
        && topic
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl EventsApi {
    fn admitted(&self, token: &InternalToken) -> bool {
        aberta_store::same_secret(&token.0.token, &self.internal_token)
    }
}

#[OpenApi]
impl EventsApi {
    /// The events of `topic` after the offset `after` (0: from the start), oldest first.
    #[oai(path = "/:topic", method = "get")]
    async fn read_topic(
        &self,
        token: InternalToken,
        topic: Path<String>,
        after: Query<Option<i64>>,
        limit: Query<Option<u64>>,
    ) -> ReadResponse {
        if !self.admitted(&token) {
            return ReadResponse::Unauthorized(problem("bad internal token"));
        }
        if !is_topic(&topic.0) {
            return ReadResponse::BadRequest(problem("unknown topic"));
        }
        let after = after.0.unwrap_or(0);
        if after < 0 {
            return ReadResponse::BadRequest(problem("after must not be negative"));
        }
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_READ {
            return ReadResponse::BadRequest(problem("limit must be between 1 and 1000"));
        }
        match read(&self.db, &topic.0, after, limit).await {
            Ok(events) => {
                let next = events.last().map_or(after, |e| e.seq);
                ReadResponse::Ok(Json(EventPage {
                    events: events.into_iter().map(view).collect(),
                    next,
                }))
            }
            Err(err) => {
                tracing::error!(%err, "events read");
                ReadResponse::Internal(problem("internal error"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_secrets() {
        assert!(is_topic("payment-consents"));
        assert!(is_topic("technical"));
        assert!(!is_topic(""));
        assert!(!is_topic("Consents"));
        assert!(!is_topic("a.b"));
    }
}
