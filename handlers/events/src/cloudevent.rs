//! How an outbox event travels to external subscribers: a CloudEvents 1.0 envelope in the
//! structured JSON mode, on subject `<prefix>.<brand>.<topic>`, with a message id that stays
//! the same however often the event is sent (JetStream drops repeats by it).

use serde_json::{Value, json};

use crate::read::Event;

/// The `datacontenttype` of every envelope: payloads are JSON.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// The `Content-Type` header of every message: a structured-mode CloudEvent.
pub const ENVELOPE_CONTENT_TYPE: &str = "application/cloudevents+json";

/// The extension attribute carrying the outbox `seq` (CloudEvents extension names are
/// lowercase letters and digits only).
pub const SEQ_EXTENSION: &str = "abertaseq";

/// The id of `event` on the wire: the sink row's origin (unique per database) and the outbox
/// row id (stable from insert). Used as the CloudEvents `id` and as `Nats-Msg-Id`.
pub fn message_id(origin: &str, event: &Event) -> String {
    format!("{origin}-{}", event.id)
}

/// The CloudEvents 1.0 envelope of `event`.
pub fn envelope(origin: &str, event: &Event) -> Value {
    json!({
        "specversion": "1.0",
        "id": message_id(origin, event),
        "source": format!("aberta/{}", event.brand),
        "type": event.event_type,
        "subject": event.aggregate_id,
        "time": crate::time::rfc3339(event.created_at),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": event.payload,
        SEQ_EXTENSION: event.seq,
    })
}

/// `<prefix>.<brand>.<topic>`, with any character a subject token cannot hold (`.`, `*`, `>`,
/// whitespace) in brand or topic replaced by `_`.
pub fn subject(prefix: &str, event: &Event) -> String {
    format!("{prefix}.{}.{}", token(&event.brand), token(&event.topic))
}

fn token(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            seq: 42,
            id: 7,
            brand: "demo".into(),
            topic: "payment-consents".into(),
            aggregate_id: "urn:bank:abc".into(),
            event_type: "payment-consent.authorised".into(),
            payload: json!({"consentId": "urn:bank:abc"}),
            created_at: 1_800_000_000_123,
        }
    }

    #[test]
    fn envelope_has_every_required_attribute() {
        let e = envelope("o1", &event());
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["id"], "o1-7");
        assert_eq!(e["source"], "aberta/demo");
        assert_eq!(e["type"], "payment-consent.authorised");
        assert_eq!(e["subject"], "urn:bank:abc");
        assert_eq!(e["time"], "2027-01-15T08:00:00.123Z");
        assert_eq!(e["datacontenttype"], "application/json");
        assert_eq!(e["data"]["consentId"], "urn:bank:abc");
        assert_eq!(e[SEQ_EXTENSION], 42);
    }

    #[test]
    fn subjects_hold_one_token_per_part() {
        assert_eq!(subject("ofb", &event()), "ofb.demo.payment-consents");
        let mut odd = event();
        odd.brand = "a.b *>".into();
        assert_eq!(subject("ofb", &odd), "ofb.a_b___.payment-consents");
        odd.brand = String::new();
        assert_eq!(subject("ofb", &odd), "ofb._.payment-consents");
    }
}
