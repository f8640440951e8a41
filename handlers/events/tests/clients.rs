//! Client registration events: DCR register, update and delete write `client.*` events in
//! the store's own transactions, without secrets or personal data; refused writes write none.

mod common;

use aberta_events::{read, sequence_pending};
use aberta_store::entity::client;
use aberta_store::{CLIENTS_TOPIC, StoreError};
use common::{Db, backends};
use serde_json::json;

fn client_row(software_id: &str) -> client::Model {
    client::Model {
        client_id: uuid::Uuid::new_v4().to_string(),
        brand: "demo".into(),
        ssa_key: format!("demo/{software_id}"),
        software_id: software_id.into(),
        org_id: "74e929d9-33b6-4d85-8ba7-c146c867a817".into(),
        jwks_uri: "https://keystore.example/a.jwks".into(),
        scope: "openid accounts".into(),
        metadata: json!({"client_name": "Maria Souza Apps", "contacts": ["maria@example.com"]})
            .to_string(),
        rat_hash: "secret-hash".into(),
        created_at: 1_800_000_000,
        updated_at: 1_800_000_000,
    }
}

#[tokio::test]
async fn dcr_writes_client_events_in_its_transactions() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let store = &db.store;
        let software = uuid::Uuid::new_v4().to_string();
        let row = client_row(&software);
        store.insert_client(row.clone()).await.unwrap();
        // A second registration for the same software statement is refused: no event.
        let refused = store
            .insert_client(client_row(&software))
            .await
            .unwrap_err();
        assert!(matches!(refused, StoreError::Conflict(_)), "{backend:?}");
        let mut changed = row.clone();
        changed.scope = "openid".into();
        changed.updated_at = 1_800_000_060;
        assert!(store.update_client(changed.clone()).await.unwrap());
        assert!(store.delete_client("demo", &row.client_id).await.unwrap());
        // Gone: neither update nor delete finds it, and neither writes an event.
        assert!(!store.update_client(changed).await.unwrap());
        assert!(!store.delete_client("demo", &row.client_id).await.unwrap());

        sequence_pending(db.conn()).await.unwrap();
        let events = read(db.conn(), CLIENTS_TOPIC, 0, 100).await.unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            ["client.registered", "client.updated", "client.deleted"],
            "{backend:?}"
        );
        assert!(events.iter().all(|e| e.aggregate_id == row.client_id));
        assert!(events.iter().all(|e| e.brand == "demo"));
        assert_eq!(
            events[0].payload,
            json!({
                "clientId": row.client_id,
                "softwareId": software,
                "orgId": row.org_id,
                "scope": "openid accounts",
            })
        );
        assert_eq!(events[0].created_at, 1_800_000_000_000);
        assert_eq!(events[1].payload["scope"], "openid");
        assert_eq!(events[1].created_at, 1_800_000_060_000);
        assert_eq!(events[2].payload, json!({"clientId": row.client_id}));
        for event in &events {
            let text = event.payload.to_string();
            for secret in ["Maria", "maria@", "secret-hash", "keystore"] {
                assert!(!text.contains(secret), "{backend:?}: {secret} in {text}");
            }
        }
        db.finish().await;
    }
}
