//! Storage round trips on SQLite and PostgreSQL: the life cycle, lazy and swept expiry, the
//! outbox, sealing, renewals, search by document, and concurrent authorisation.

mod common;

use std::sync::atomic::Ordering;

use aberta_auth::consent::{ConsentStore, Refusal as AsRefusal};
use aberta_consents::state::{Action, Refusal, RejectedBy, RejectionReason, Status};
use aberta_consents::{NO_END_DATE, NewExtension};
use common::*;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

const ACCOUNTS_AND_CARDS: &[&str] = &[
    "ACCOUNTS_READ",
    "ACCOUNTS_BALANCES_READ",
    "CREDIT_CARDS_ACCOUNTS_READ",
    "CREDIT_CARDS_ACCOUNTS_LIMITS_READ",
    "RESOURCES_READ",
];

#[tokio::test]
async fn create_authorise_grant_view_revoke() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let created = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, Some(T0 + 86_400)))
            .await
            .unwrap();
        assert_eq!(created.status, Status::AwaitingAuthorisation);
        assert!(created.consent_id.starts_with("urn:demo:"));

        // The AS's view: indeterminate consents read as 2300-01-01.
        let view = c
            .consent(BRAND, &created.consent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.status, "AWAITING_AUTHORISATION");
        assert_eq!(view.logged_user_cpf, CPF);
        assert_eq!(view.expires_at, T0 + 86_400);
        assert!(
            c.consent("other-brand", &created.consent_id)
                .await
                .unwrap()
                .is_none()
        );

        let outcome = c
            .authorise(
                BRAND,
                &created.consent_id,
                &user(CPF),
                &["acc-1".to_string()],
            )
            .await
            .unwrap();
        assert_eq!(outcome, Ok(()), "{backend:?}");
        assert_eq!(env.resources.page_size_seen.load(Ordering::SeqCst), 1000);

        let grant = c
            .grant_view(BRAND, &created.consent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grant.status, "AUTHORISED");
        assert_eq!(grant.customer_cpf, CPF);
        assert_eq!(grant.client_id, created.client_id);
        assert_eq!(grant.expires_at, Some(T0 + 86_400));
        let mut linked: Vec<(String, String)> = grant
            .resources
            .iter()
            .map(|r| (r.resource_id.clone(), r.resource_type.clone()))
            .collect();
        linked.sort();
        assert_eq!(
            linked,
            vec![
                ("acc-1".to_string(), "ACCOUNT".to_string()),
                ("card-1".to_string(), "CREDIT_CARD_ACCOUNT".to_string()),
            ]
        );
        assert!(!format!("{grant:?}").contains(CPF));

        let revoked = c
            .act(BRAND, &created.consent_id, Action::UserRevoke, "USER")
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(revoked.status, Status::Rejected);
        let rejection = revoked.rejection.unwrap();
        assert_eq!(rejection.by, RejectedBy::User);
        assert_eq!(rejection.reason, RejectionReason::CustomerManuallyRevoked);

        assert_eq!(
            events(&env.store, &created.consent_id).await,
            ["consent.created", "consent.authorised", "consent.revoked"]
        );
        let history = c.history(&created.consent_id).await.unwrap();
        let moves: Vec<(Option<&str>, &str)> = history
            .iter()
            .map(|h| (h.from_status.as_deref(), h.to_status.as_str()))
            .collect();
        assert_eq!(
            moves,
            [
                (None, "AWAITING_AUTHORISATION"),
                (Some("AWAITING_AUTHORISATION"), "AUTHORISED"),
                (Some("AUTHORISED"), "REJECTED"),
            ]
        );
    }
}

#[tokio::test]
async fn indeterminate_consents_and_all_accounts() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let created = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, None))
            .await
            .unwrap();
        let view = c
            .consent(BRAND, &created.consent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.expires_at, NO_END_DATE);
        c.authorise(BRAND, &created.consent_id, &user(CPF), &[])
            .await
            .unwrap()
            .unwrap();
        let grant = c
            .grant_view(BRAND, &created.consent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grant.expires_at, None);
        // No account picked: every account of the customer.
        assert_eq!(grant.resources.len(), 3, "{backend:?}");
        // Never expires, however late it gets.
        env.clock.advance(50 * 365 * 86_400);
        let grant = c
            .grant_view(BRAND, &created.consent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grant.status, "AUTHORISED");
    }
}

#[tokio::test]
async fn refused_transitions_write_nothing() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let created = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, None))
            .await
            .unwrap();
        let id = created.consent_id.as_str();

        let other = c.authorise(BRAND, id, &user(OTHER_CPF), &[]).await.unwrap();
        assert_eq!(other, Err(AsRefusal::OtherUser));
        assert_eq!(env.resources.calls.load(Ordering::SeqCst), 0);
        assert_eq!(events(&env.store, id).await, ["consent.created"]);

        let extend = c
            .extend(BRAND, id, extension(Some(T0 + 1_000_000)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(extend, Err(Refusal::NotAuthorised));

        c.reject(BRAND, id).await.unwrap();
        let rejected = c.get(BRAND, id).await.unwrap().unwrap();
        assert_eq!(rejected.status, Status::Rejected);
        assert_eq!(
            rejected.rejection.unwrap().reason,
            RejectionReason::CustomerManuallyRejected
        );
        assert_eq!(rejected.rejection.unwrap().by, RejectedBy::User);

        let again = c
            .act(BRAND, id, Action::Delete, "TPP:x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.unwrap_err(), Refusal::AlreadyRejected);
        let late = c.authorise(BRAND, id, &user(CPF), &[]).await.unwrap();
        assert_eq!(late, Err(AsRefusal::NotAwaiting));
        c.reject(BRAND, id).await.unwrap();
        assert_eq!(
            events(&env.store, id).await,
            ["consent.created", "consent.rejected"],
            "{backend:?}"
        );
        assert_eq!(c.history(id).await.unwrap().len(), 2);
        assert!(
            c.act(BRAND, "urn:demo:unknown", Action::Delete, "TPP:x")
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn unconfirmed_consents_expire_after_an_hour_on_read() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let created = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, None))
            .await
            .unwrap();
        let id = created.consent_id.as_str();
        env.clock.advance(3599);
        assert_eq!(
            c.get(BRAND, id).await.unwrap().unwrap().status,
            Status::AwaitingAuthorisation
        );
        env.clock.advance(1);
        let expired = c.get(BRAND, id).await.unwrap().unwrap();
        assert_eq!(expired.status, Status::Rejected);
        let rejection = expired.rejection.unwrap();
        assert_eq!(rejection.by, RejectedBy::Aspsp);
        assert_eq!(rejection.reason, RejectionReason::ConsentExpired);
        assert_eq!(expired.status_updated_at, T0 + 3600);
        // The portal can no longer authorise it.
        let late = c.authorise(BRAND, id, &user(CPF), &[]).await.unwrap();
        assert_eq!(late, Err(AsRefusal::NotAwaiting));
        // Reading again changes nothing more.
        c.get(BRAND, id).await.unwrap();
        assert_eq!(
            events(&env.store, id).await,
            ["consent.created", "consent.expired"],
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn authorised_consents_expire_at_their_end_date() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let end = T0 + 7 * 86_400;
        let created = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, Some(end)))
            .await
            .unwrap();
        let id = created.consent_id.as_str();
        c.authorise(BRAND, id, &user(CPF), &[])
            .await
            .unwrap()
            .unwrap();
        env.clock.set(end - 1);
        assert_eq!(
            c.grant_view(BRAND, id).await.unwrap().unwrap().status,
            "AUTHORISED"
        );
        env.clock.set(end);
        let grant = c.grant_view(BRAND, id).await.unwrap().unwrap();
        assert_eq!(grant.status, "REJECTED");
        let record = c.get(BRAND, id).await.unwrap().unwrap();
        assert_eq!(
            record.rejection.unwrap().reason,
            RejectionReason::ConsentMaxDateReached
        );
        assert_eq!(
            events(&env.store, id).await,
            ["consent.created", "consent.authorised", "consent.expired"],
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn the_sweep_expires_what_nobody_reads() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let waiting = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, None))
            .await
            .unwrap();
        let ending = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, Some(T0 + 7200)))
            .await
            .unwrap();
        c.authorise(BRAND, &ending.consent_id, &user(CPF), &[])
            .await
            .unwrap()
            .unwrap();
        let lasting = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, None))
            .await
            .unwrap();
        c.authorise(BRAND, &lasting.consent_id, &user(CPF), &[])
            .await
            .unwrap()
            .unwrap();
        let now = T0 + 7200;
        // Other tests share the PostgreSQL database, so count at least ours.
        assert!(c.sweep_expired(now).await.unwrap() >= 2);
        for (id, reason) in [
            (&waiting.consent_id, "consent.expired"),
            (&ending.consent_id, "consent.expired"),
        ] {
            assert_eq!(events(&env.store, id).await.last().unwrap(), reason);
        }
        env.clock.set(now);
        assert_eq!(
            c.get(BRAND, &waiting.consent_id)
                .await
                .unwrap()
                .unwrap()
                .status,
            Status::Rejected
        );
        assert_eq!(
            c.get(BRAND, &lasting.consent_id)
                .await
                .unwrap()
                .unwrap()
                .status,
            Status::Authorised,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn documents_are_sealed_at_rest() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let mut new = personal(
            &["CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ", "RESOURCES_READ"],
            None,
        );
        new.business_cnpj = Some(CNPJ.to_string());
        new.business_rel = Some("CNPJ".to_string());
        let created = c.create(BRAND, new).await.unwrap();
        let db = env.store.connection();
        let sql = match backend {
            Backend::Sqlite => {
                "SELECT logged_user_cpf, logged_user_index, business_cnpj, business_index, \
                 permissions, consent_id FROM consents_consent WHERE consent_id = ?"
            }
            Backend::Postgres => {
                "SELECT logged_user_cpf, logged_user_index, business_cnpj, business_index, \
                 permissions, consent_id FROM consents_consent WHERE consent_id = $1"
            }
        };
        let db_backend = match backend {
            Backend::Sqlite => DatabaseBackend::Sqlite,
            Backend::Postgres => DatabaseBackend::Postgres,
        };
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db_backend,
                sql,
                [created.consent_id.clone().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        for column in [
            "logged_user_cpf",
            "logged_user_index",
            "business_cnpj",
            "business_index",
            "permissions",
            "consent_id",
        ] {
            let value: String = row.try_get("", column).unwrap();
            assert!(!value.contains(CPF), "{column} holds the CPF");
            assert!(!value.contains(CNPJ), "{column} holds the CNPJ");
        }
        let outbox = aberta_store::outbox::events(db, "consents").await.unwrap();
        assert!(outbox.iter().all(|e| !e.payload.contains(CPF)));
        // The record opens them again, and Debug does not print them.
        let record = c.get(BRAND, &created.consent_id).await.unwrap().unwrap();
        assert_eq!(record.logged_user_cpf, CPF);
        assert_eq!(record.business_cnpj.as_deref(), Some(CNPJ));
        let debug = format!("{record:?}");
        assert!(!debug.contains(CPF) && !debug.contains(CNPJ));
    }
}

#[tokio::test]
async fn find_by_document_uses_the_blind_index() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        // A CPF of this test only, so the shared database holds no other consent of it.
        let cpf: String = format!("{:011}", uuid::Uuid::new_v4().as_u128() % 100_000_000_000);
        let mut new = personal(ACCOUNTS_AND_CARDS, None);
        new.logged_user_cpf = cpf.clone();
        let first = c.create(BRAND, new.clone()).await.unwrap();
        env.clock.advance(10);
        let second = c.create("other", new).await.unwrap();
        let all = c.find_by_document(&cpf, None, None).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|r| r.consent_id.as_str()).collect();
        assert_eq!(ids, [second.consent_id.as_str(), first.consent_id.as_str()]);
        let ours = c.find_by_document(&cpf, None, Some(BRAND)).await.unwrap();
        assert_eq!(ours.len(), 1);
        env.clock.advance(3600);
        let rejected = c
            .find_by_document(&cpf, Some(Status::Rejected), None)
            .await
            .unwrap();
        assert_eq!(rejected.len(), 2, "{backend:?}");
        assert!(
            c.find_by_document(OTHER_CPF, Some(Status::Authorised), Some("none"))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

fn extension(expires_at: Option<i64>) -> NewExtension {
    NewExtension {
        expires_at,
        logged_user_cpf: CPF.to_string(),
        logged_user_rel: "CPF".to_string(),
        customer_ip: "172.217.22.14".to_string(),
        customer_user_agent: "Mozilla/5.0".to_string(),
    }
}

#[tokio::test]
async fn renewals_move_the_end_date_and_list_newest_first() {
    for backend in backends() {
        let env = env(backend).await;
        let c = &env.consents;
        let end = T0 + 86_400;
        let created = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, Some(end)))
            .await
            .unwrap();
        let id = created.consent_id.as_str();
        c.authorise(BRAND, id, &user(CPF), &[])
            .await
            .unwrap()
            .unwrap();
        for (i, new_end) in [end + 10, end + 20, end + 30].into_iter().enumerate() {
            env.clock.advance(60);
            let renewed = c.extend(BRAND, id, extension(Some(new_end))).await.unwrap();
            assert_eq!(
                renewed.unwrap().unwrap().expires_at,
                Some(new_end),
                "renewal {i}"
            );
        }
        let not_later = c
            .extend(BRAND, id, extension(Some(end + 30)))
            .await
            .unwrap();
        assert_eq!(not_later.unwrap(), Err(Refusal::InvalidExpiry));
        let (page, total) = c.extensions(BRAND, id, 1, 25).await.unwrap();
        assert_eq!(total, 3);
        let ends: Vec<Option<i64>> = page.iter().map(|e| e.expires_at).collect();
        assert_eq!(ends, [Some(end + 30), Some(end + 20), Some(end + 10)]);
        assert_eq!(page[0].previous_expires_at, Some(end + 20));
        assert_eq!(page[2].previous_expires_at, Some(end));
        assert_eq!(page[0].customer_ip, "172.217.22.14");
        let (second, _) = c.extensions(BRAND, id, 2, 2).await.unwrap();
        assert_eq!(second.len(), 1);
        // No end date is later than any date.
        let open = c
            .extend(BRAND, id, extension(None))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(open.expires_at, None);
        let events = events(&env.store, id).await;
        assert_eq!(
            events.iter().filter(|e| *e == "consent.extended").count(),
            4,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn two_authorisations_at_once_one_wins() {
    for backend in backends() {
        let env = env(backend).await;
        let c = env.consents.clone();
        let created = c
            .create(BRAND, personal(ACCOUNTS_AND_CARDS, None))
            .await
            .unwrap();
        let id = created.consent_id.clone();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    c.authorise(BRAND, &id, &user(CPF), &["acc-1".to_string()])
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        assert_eq!(
            outcomes.iter().filter(|o| o.is_ok()).count(),
            1,
            "{backend:?}: {outcomes:?}"
        );
        assert!(outcomes.contains(&Err(AsRefusal::NotAwaiting)));
        let grant = c.grant_view(BRAND, &id).await.unwrap().unwrap();
        assert_eq!(grant.resources.len(), 2, "resources linked once");
        assert_eq!(
            events(&env.store, &id).await,
            ["consent.created", "consent.authorised"]
        );
    }
}
