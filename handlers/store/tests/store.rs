//! The storage layer on both backends: the embedded SQLite file and PostgreSQL (from
//! `ABERTA_TEST_DATABASE_URL`; these tests fail, never skip, without it).

use aberta_store::entity::{client, code, consent, grant, par};
use aberta_store::{CodeOutcome, Store, StoreError};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

const NOW: i64 = 1_800_000_000;

/// The SQLite store (in `dir`) and the PostgreSQL one.
async fn backends(dir: &tempfile::TempDir) -> Vec<(&'static str, Store)> {
    let sqlite = Store::sqlite_file(&dir.path().join("aberta.db"))
        .await
        .unwrap();
    let url = std::env::var("ABERTA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "ABERTA_TEST_DATABASE_URL is not set. Storage tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_test && \
             export ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_test"
        )
    });
    let postgres = Store::connect(&url).await.unwrap();
    vec![("sqlite", sqlite), ("postgres", postgres)]
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn client_row(brand: &str, software_id: &str) -> client::Model {
    client::Model {
        client_id: id(),
        brand: brand.into(),
        ssa_key: format!("{brand}/{software_id}"),
        software_id: software_id.into(),
        org_id: id(),
        jwks_uri: "https://keystore.example/a.jwks".into(),
        scope: "openid accounts".into(),
        metadata: "{}".into(),
        rat_hash: "h".into(),
        created_at: NOW,
        updated_at: NOW,
    }
}

#[tokio::test]
async fn migrations_run_twice_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in backends(&dir).await {
        let again = match name {
            "sqlite" => Store::sqlite_file(&dir.path().join("aberta.db")).await,
            _ => Store::connect(&std::env::var("ABERTA_TEST_DATABASE_URL").unwrap()).await,
        };
        assert!(again.is_ok(), "{name}: second migration failed");
    }
}

#[tokio::test]
async fn one_client_per_software_statement_and_brand() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        let software = id();
        let first = client_row("a", &software);
        store.insert_client(first.clone()).await.unwrap();
        let err = store
            .insert_client(client_row("a", &software))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{name}: {err}");
        store
            .insert_client(client_row("b", &software))
            .await
            .unwrap();
        assert!(
            store.client("b", &first.client_id).await.unwrap().is_none(),
            "{name}: brand leak"
        );
        let mut changed = first.clone();
        changed.scope = "openid".into();
        assert!(store.update_client(changed).await.unwrap());
        let read = store.client("a", &first.client_id).await.unwrap().unwrap();
        assert_eq!(read.scope, "openid", "{name}");
        assert!(store.delete_client("a", &first.client_id).await.unwrap());
        assert!(
            !store.delete_client("a", &first.client_id).await.unwrap(),
            "{name}"
        );
        store
            .insert_client(client_row("a", &software))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn par_requests_are_single_use_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        let uri = format!("urn:ietf:params:oauth:request_uri:{}", id());
        store
            .insert_par(par::Model {
                request_uri: uri.clone(),
                brand: "a".into(),
                client_id: "c".into(),
                params: "{}".into(),
                expires_at: NOW + 90,
                consumed: false,
            })
            .await
            .unwrap();
        assert!(
            store.par("b", &uri, NOW).await.unwrap().is_none(),
            "{name}: brand leak"
        );
        assert!(
            store.par("a", &uri, NOW + 90).await.unwrap().is_none(),
            "{name}: expired"
        );
        assert!(store.par("a", &uri, NOW).await.unwrap().is_some(), "{name}");
        assert!(store.consume_par("a", &uri, NOW).await.unwrap(), "{name}");
        assert!(
            !store.consume_par("a", &uri, NOW).await.unwrap(),
            "{name}: reused"
        );
        assert!(store.par("a", &uri, NOW).await.unwrap().is_none(), "{name}");
    }
}

fn grant_row(brand: &str, consent: Option<String>) -> grant::Model {
    grant::Model {
        grant_id: id(),
        brand: brand.into(),
        client_id: "c".into(),
        subject: "s".into(),
        scope: "openid".into(),
        consent_id: consent,
        refresh_hash: None,
        claims: "{}".into(),
        expires_at: NOW + 3600,
        revoked: false,
        created_at: NOW,
    }
}

#[tokio::test]
async fn a_code_is_used_once_and_its_reuse_names_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        let uri = id();
        store
            .insert_par(par::Model {
                request_uri: uri.clone(),
                brand: "a".into(),
                client_id: "c".into(),
                params: "{}".into(),
                expires_at: NOW + 90,
                consumed: false,
            })
            .await
            .unwrap();
        let grant = grant_row("a", None);
        let code_hash = id();
        let code = code::Model {
            code_hash: code_hash.clone(),
            brand: "a".into(),
            client_id: "c".into(),
            grant_id: grant.grant_id.clone(),
            payload: "{}".into(),
            expires_at: NOW + 60,
            used: false,
        };
        assert!(
            store
                .complete_authorization(&uri, "no-session", grant.clone(), code.clone(), NOW)
                .await
                .unwrap()
        );
        // The request cannot complete twice, and the failed attempt writes nothing.
        let other = grant_row("a", None);
        let other_code = code::Model {
            code_hash: id(),
            grant_id: other.grant_id.clone(),
            ..code.clone()
        };
        assert!(
            !store
                .complete_authorization(&uri, "x", other.clone(), other_code, NOW)
                .await
                .unwrap()
        );
        assert!(
            store.grant("a", &other.grant_id).await.unwrap().is_none(),
            "{name}: not atomic"
        );

        assert_eq!(
            store.use_code("b", &code_hash, NOW).await.unwrap(),
            CodeOutcome::Unknown
        );
        assert!(matches!(
            store.use_code("a", &code_hash, NOW).await.unwrap(),
            CodeOutcome::Fresh(_)
        ));
        assert_eq!(
            store.use_code("a", &code_hash, NOW).await.unwrap(),
            CodeOutcome::Reused {
                grant_id: grant.grant_id.clone()
            },
            "{name}"
        );
        store
            .set_refresh("a", &grant.grant_id, &code_hash)
            .await
            .unwrap();
        assert!(
            store
                .grant_by_refresh("a", &code_hash, NOW)
                .await
                .unwrap()
                .is_some()
        );
        store.revoke_grant("a", &grant.grant_id).await.unwrap();
        assert!(
            store
                .grant_by_refresh("a", &code_hash, NOW)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn consent_revocation_revokes_its_grants_and_tokens_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        let consent_id = format!("urn:aberta:{}", id());
        store
            .upsert_consent(consent::Model {
                consent_id: consent_id.clone(),
                brand: "a".into(),
                client_id: "c".into(),
                status: "AWAITING_AUTHORISATION".into(),
                logged_user_cpf: "76109277673".into(),
                business_cnpj: None,
                permissions: "ACCOUNTS_READ".into(),
                accounts: String::new(),
                expires_at: NOW + 86400,
                updated_at: NOW,
            })
            .await
            .unwrap();
        assert!(
            store
                .transition_consent(
                    "a",
                    &consent_id,
                    "AWAITING_AUTHORISATION",
                    "AUTHORISED",
                    Some("acc1"),
                    NOW
                )
                .await
                .unwrap()
        );
        assert!(
            !store
                .transition_consent(
                    "a",
                    &consent_id,
                    "AWAITING_AUTHORISATION",
                    "REJECTED",
                    None,
                    NOW
                )
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .consent("a", &consent_id)
                .await
                .unwrap()
                .unwrap()
                .accounts,
            "acc1"
        );
        let mut grant = grant_row("a", Some(consent_id.clone()));
        let refresh = id();
        grant.refresh_hash = Some(refresh.clone());
        let code = code::Model {
            code_hash: id(),
            brand: "a".into(),
            client_id: "c".into(),
            grant_id: grant.grant_id.clone(),
            payload: "{}".into(),
            expires_at: NOW + 60,
            used: false,
        };
        let uri = id();
        store
            .insert_par(par::Model {
                request_uri: uri.clone(),
                brand: "a".into(),
                client_id: "c".into(),
                params: "{}".into(),
                expires_at: NOW + 60,
                consumed: false,
            })
            .await
            .unwrap();
        let grant_id = grant.grant_id.clone();
        assert!(
            store
                .complete_authorization(&uri, "s", grant, code, NOW)
                .await
                .unwrap()
        );
        let token_jti = id();
        let stands = |brand: &'static str, grant: Option<String>| {
            let store = store.clone();
            let jti = token_jti.clone();
            async move {
                store
                    .token_stands(brand, &jti, grant.as_deref())
                    .await
                    .unwrap()
            }
        };
        assert!(
            stands("a", Some(grant_id.clone())).await,
            "{name}: live grant"
        );
        assert!(stands("a", None).await, "{name}: no grant");
        assert!(!stands("a", Some(id())).await, "{name}: unknown grant");
        assert!(
            !stands("b", Some(grant_id.clone())).await,
            "{name}: brand leak"
        );
        assert_eq!(
            store.revoke_consent_grants("a", &consent_id).await.unwrap(),
            1,
            "{name}"
        );
        assert!(
            store
                .grant_by_refresh("a", &refresh, NOW)
                .await
                .unwrap()
                .is_none()
        );

        assert!(
            !stands("a", Some(grant_id.clone())).await,
            "{name}: revoked grant"
        );
        store
            .revoke_token("a", &token_jti, NOW + 600)
            .await
            .unwrap();
        assert!(!stands("a", None).await, "{name}: revoked token");

        let jti = id();
        assert!(!store.is_token_revoked("a", &jti).await.unwrap());
        store.revoke_token("a", &jti, NOW + 600).await.unwrap();
        store.revoke_token("a", &jti, NOW + 600).await.unwrap();
        assert!(store.is_token_revoked("a", &jti).await.unwrap(), "{name}");
        assert!(
            !store.is_token_revoked("b", &jti).await.unwrap(),
            "{name}: brand leak"
        );
    }
}

#[tokio::test]
async fn secrets_are_created_once() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        let brand = id();
        let first = store
            .secret_or_create(&brand, "mac", || "one".into(), NOW)
            .await
            .unwrap();
        let second = store
            .secret_or_create(&brand, "mac", || "two".into(), NOW)
            .await
            .unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("one", "one"), "{name}");
    }
}

#[tokio::test]
async fn module_migrations_record_their_version_once() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        let module: &'static str = Box::leak(format!("test_{}", id()).into_boxed_str());
        let first = aberta_store::migrate::begin(store.connection(), module)
            .await
            .unwrap();
        assert_eq!(first.current(), 0, "{name}");
        first.finish(1).await.unwrap();
        let second = aberta_store::migrate::begin(store.connection(), module)
            .await
            .unwrap();
        assert_eq!(second.current(), 1, "{name}");
        second.finish(2).await.unwrap();
        let third = aberta_store::migrate::begin(store.connection(), module)
            .await
            .unwrap();
        assert_eq!(third.current(), 2, "{name}");
        // Dropped unfinished: nothing recorded, the version stays.
        drop(third);
        let fourth = aberta_store::migrate::begin(store.connection(), module)
            .await
            .unwrap();
        assert_eq!(fourth.current(), 2, "{name}");
    }
}

#[tokio::test]
async fn outbox_events_commit_and_roll_back_with_their_transaction() {
    use aberta_store::outbox::{NewEvent, append, events};
    use sea_orm::TransactionTrait;
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        let topic = format!("topic-{}", id());
        let event = |kind: &'static str| NewEvent {
            brand: "b",
            topic: &topic,
            aggregate_id: "agg",
            event_type: kind,
            payload: serde_json::json!({"status": kind}),
        };
        let txn = store.connection().begin().await.unwrap();
        append(&txn, event("kept"), 1).await.unwrap();
        txn.commit().await.unwrap();
        let txn = store.connection().begin().await.unwrap();
        append(&txn, event("dropped"), 2).await.unwrap();
        txn.rollback().await.unwrap();
        let rows = events(store.connection(), &topic).await.unwrap();
        let kinds: Vec<_> = rows.iter().map(|r| r.event_type.as_str()).collect();
        assert_eq!(kinds, ["kept"], "{name}");
    }
}

#[tokio::test]
async fn a_client_assertion_jti_is_taken_once_by_any_instance() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in backends(&dir).await {
        // A second connection stands for another instance on the same database.
        let other = match name {
            "sqlite" => Store::sqlite_file(&dir.path().join("aberta.db"))
                .await
                .unwrap(),
            _ => Store::connect(&std::env::var("ABERTA_TEST_DATABASE_URL").unwrap())
                .await
                .unwrap(),
        };
        let brand = id();
        let (client, jti) = (id(), id());
        assert!(
            store
                .record_assertion(&brand, &client, &jti, NOW + 60, NOW)
                .await
                .unwrap(),
            "{name}: first use"
        );
        assert!(
            !other
                .record_assertion(&brand, &client, &jti, NOW + 60, NOW + 1)
                .await
                .unwrap(),
            "{name}: replay at the other instance"
        );
        assert!(
            !store
                .record_assertion(&brand, &client, &jti, NOW + 60, NOW + 2)
                .await
                .unwrap(),
            "{name}: replay at the same instance"
        );
        // Another client, or another brand, may use the same jti.
        assert!(
            other
                .record_assertion(&brand, &id(), &jti, NOW + 60, NOW)
                .await
                .unwrap(),
            "{name}: another client"
        );
        assert!(
            other
                .record_assertion(&id(), &client, &jti, NOW + 60, NOW)
                .await
                .unwrap(),
            "{name}: another brand"
        );
        // Concurrent first uses: exactly one wins.
        let racing = id();
        let (a, b) = tokio::join!(
            store.record_assertion(&brand, &client, &racing, NOW + 60, NOW),
            other.record_assertion(&brand, &client, &racing, NOW + 60, NOW),
        );
        assert_eq!(
            [a.unwrap(), b.unwrap()].iter().filter(|won| **won).count(),
            1,
            "{name}: one of two concurrent uses wins"
        );
        // Once expired, rows go: on the next record, and by the purge.
        let later = NOW + 61;
        let stale = id();
        assert!(
            store
                .record_assertion(&brand, &client, &stale, NOW + 61, NOW)
                .await
                .unwrap()
        );
        assert!(
            store
                .record_assertion(&brand, &client, &id(), later + 60, later)
                .await
                .unwrap()
        );
        let left = aberta_store::entity::assertion::Entity::find()
            .filter(aberta_store::entity::assertion::Column::Brand.eq(brand.as_str()))
            .filter(aberta_store::entity::assertion::Column::ExpiresAt.lte(later))
            .count(store.connection())
            .await
            .unwrap();
        assert_eq!(left, 0, "{name}: expired rows deleted on record");
        // Times long past, so the purge touches no other test's rows.
        let (past, purge_brand) = (1_000, id());
        assert!(
            store
                .record_assertion(&purge_brand, &client, &jti, past + 100, past)
                .await
                .unwrap()
        );
        assert!(store.purge_expired(past + 100).await.unwrap() >= 1);
        let left = aberta_store::entity::assertion::Entity::find()
            .filter(aberta_store::entity::assertion::Column::Brand.eq(purge_brand.as_str()))
            .count(store.connection())
            .await
            .unwrap();
        assert_eq!(left, 0, "{name}: expired rows purged");
    }
}
