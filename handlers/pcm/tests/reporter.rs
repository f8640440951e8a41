//! The reporter against the real PCM simulator over mutual TLS, on SQLite and PostgreSQL:
//! N captured calls arrive as exactly N server reports with the right fields; an outage and a
//! restart in the middle lose none and duplicate none; a 207 is repaired where it can be and
//! kept visible where it cannot; two reporters on one database share the work; the deadline
//! check counts what is at risk and what is late.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use aberta_ecosystem::pcm_sim::store::StoredReport;
use aberta_pcm::entity::api_call;
use aberta_pcm::{PcmMetrics, backlog, purge_reported, refused, requeue_refused};
use chrono::{DateTime, Utc};
use common::*;
use poem::http::Method;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

fn private(pcm: &Pcm) -> Vec<StoredReport> {
    pcm.stored()
        .into_iter()
        .filter(|r| r.kind == "private")
        .collect()
}

fn interaction_ids(reports: &[StoredReport]) -> Vec<String> {
    reports
        .iter()
        .map(|r| r.body["fapiInteractionId"].as_str().unwrap().to_string())
        .collect()
}

/// A stored call, as the writer would make it, with the fields a test varies.
fn row(
    interaction_id: &str,
    status: i32,
    received_at: i64,
    pcm_orgs: (&str, &str),
) -> api_call::ActiveModel {
    api_call::ActiveModel {
        id: NotSet,
        brand: Set("demo".into()),
        interaction_id: Set(interaction_id.into()),
        endpoint: Set("/token".into()),
        method: Set("POST".into()),
        family: Set("auth".into()),
        status_code: Set(status),
        received_at: Set(received_at),
        processing_ms: Set(7),
        client_org_id: Set(Some(pcm_orgs.0.into())),
        client_ssid: Set(Some("software-1".into())),
        server_org_id: Set(pcm_orgs.1.into()),
        additional_info: Set("{}".into()),
        reported_at: Set(None),
        report_attempts: Set(0),
        next_attempt_at: Set(received_at),
        report_error: Set(None),
        lease_owner: Set(None),
        lease_until: Set(None),
    }
}

async fn insert(db: &sea_orm::DatabaseConnection, rows: Vec<api_call::ActiveModel>) {
    for chunk in rows.chunks(500) {
        api_call::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn n_calls_arrive_as_exactly_n_server_reports_with_the_right_fields() {
    for backend in backends() {
        let pcm = Pcm::start().await;
        let db = Db::new(backend).await;
        let keyring = keyring();
        let metrics = Arc::new(PcmMetrics::default());
        let writer = writer(&db.conn, &keyring, &metrics);
        let app = app(writer.sink(), pcm.holder_org());
        let n = 60;
        let ids = reportable_calls(&app, n, pcm.tpp_org()).await;
        // Consents v3 came after pcm 1.0.2: recorded, not reportable.
        call(
            &app,
            Method::POST,
            "/open-banking/consents/v3/consents",
            pcm.tpp_org(),
        )
        .await;
        writer.sink().flush().await;

        let running = reporter(&db.conn, pcm.config(), &keyring, &metrics).spawn();
        eventually("the backlog drains", || async {
            backlog(&db.conn).await.unwrap() == 0
        })
        .await;
        running.shutdown().await;

        let reports = private(&pcm);
        assert_eq!(reports.len(), n, "{backend:?}: exactly N reports");
        let sent: HashSet<String> = interaction_ids(&reports).into_iter().collect();
        assert_eq!(
            sent,
            ids.iter().cloned().collect::<HashSet<_>>(),
            "each once"
        );
        for report in &reports {
            assert_eq!(
                report.org_id,
                pcm.holder_org(),
                "sent with the holder's token"
            );
            let body = &report.body;
            let i = ids
                .iter()
                .position(|id| body["fapiInteractionId"] == json!(id))
                .unwrap();
            let (endpoint, method, status) = match i % 4 {
                0 => ("/open-banking/accounts/v2/accounts/{accountId}", "GET", 200),
                1 => ("/open-banking/accounts/v2/accounts", "GET", 200),
                2 => (
                    "/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills",
                    "GET",
                    404,
                ),
                _ => ("/token", "POST", 401),
            };
            assert_eq!(body["endpoint"], endpoint);
            assert_eq!(body["httpMethod"], method);
            assert_eq!(body["statusCode"], status);
            assert_eq!(body["role"], "SERVER");
            assert_eq!(body["clientOrgId"], pcm.tpp_org());
            assert_eq!(body["serverOrgId"], pcm.holder_org());
            assert!(body["processTimespan"].as_i64().unwrap() >= 0);
            let timestamp = body["timestamp"].as_str().unwrap();
            assert_eq!(timestamp.len(), 24, "{timestamp}");
            assert!(DateTime::parse_from_rfc3339(timestamp).is_ok());
            assert!(timestamp.ends_with('Z'));
            assert_eq!(body["additionalInfo"]["clientIp"], CLIENT_IP);
            if status == 404 {
                assert_eq!(
                    body["additionalInfo"]["errorCodes"],
                    json!(["NAO_ENCONTRADO"])
                );
            }
        }

        let kept = refused(&db.conn, 10).await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].endpoint, "/open-banking/consents/v3/consents");
        assert!(kept[0].reason.contains("pcm 1.0.2"), "{}", kept[0].reason);

        let counted = metrics.snapshot();
        assert_eq!((counted.reported, counted.refused), (n as u64, 1));
        let mut text = String::new();
        metrics.render(&db.conn, &mut text).await.unwrap();
        assert!(text.contains("\naberta_pcm_backlog 0\n"), "{text}");
        assert!(text.contains("\naberta_pcm_refused 1\n"));
        assert!(text.contains(&format!("\naberta_pcm_reports_accepted_total {n}\n")));

        // Retention: reported calls go in bounded rounds; the refused one stays in view.
        assert_eq!(
            purge_reported(&db.conn, 0, 100).await.unwrap(),
            0,
            "nothing that old"
        );
        let mut purged = 0;
        loop {
            let round = purge_reported(&db.conn, i64::MAX, 25).await.unwrap();
            assert!(round <= 25);
            purged += round;
            if round < 25 {
                break;
            }
        }
        assert_eq!(purged, n as u64, "{backend:?}");
        assert_eq!(api_call::Entity::find().count(&db.conn).await.unwrap(), 1);
        assert_eq!(refused(&db.conn, 10).await.unwrap().len(), 1);

        writer.shutdown().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn an_outage_and_a_restart_lose_nothing_and_send_nothing_twice() {
    for backend in backends() {
        let pcm = Pcm::start().await;
        let db = Db::new(backend).await;
        let keyring = keyring();
        pcm.outage(3600);

        // First life: calls captured while the PCM is down; every attempt fails.
        let metrics = Arc::new(PcmMetrics::default());
        let writer1 = writer(&db.conn, &keyring, &metrics);
        let reporter1 = reporter(&db.conn, pcm.config(), &keyring, &metrics).spawn();
        let app1 = app(writer1.sink(), pcm.holder_org());
        let mut ids = reportable_calls(&app1, 50, pcm.tpp_org()).await;
        writer1.sink().flush().await;
        eventually(
            "every call has been tried and refused by the outage",
            || async {
                api_call::Entity::find()
                    .filter(api_call::Column::ReportAttempts.eq(0))
                    .count(&db.conn)
                    .await
                    .unwrap()
                    == 0
            },
        )
        .await;
        assert!(metrics.snapshot().report_failures >= 1);
        assert!(private(&pcm).is_empty(), "{backend:?}: nothing got through");
        let errors = api_call::Entity::find().all(&db.conn).await.unwrap();
        assert!(
            errors
                .iter()
                .all(|r| r.report_error.as_deref().is_some_and(|e| e.contains("503"))),
            "the failure stays visible: {:?}",
            errors[0].report_error
        );

        // The platform stops abruptly (the reporter as in a crash, the writer cleanly) and
        // starts again on the same database.
        reporter1.abort();
        writer1.shutdown().await;
        let conn = db.second().await;
        let metrics = Arc::new(PcmMetrics::default());
        let writer2 = writer(&conn, &keyring, &metrics);
        let app2 = app(writer2.sink(), pcm.holder_org());
        ids.extend(reportable_calls(&app2, 20, pcm.tpp_org()).await);
        writer2.sink().flush().await;
        let reporter2 = reporter(&conn, pcm.config(), &keyring, &metrics).spawn();
        // The PCM comes back while the new instance runs.
        pcm.end_outage();
        eventually("everything is reported after the outage", || async {
            backlog(&conn).await.unwrap() == 0
        })
        .await;
        reporter2.shutdown().await;

        let sent = interaction_ids(&private(&pcm));
        assert_eq!(sent.len(), 70, "{backend:?}: all arrived, none twice");
        let unique: HashSet<&String> = sent.iter().collect();
        assert_eq!(unique.len(), 70);
        assert_eq!(unique, ids.iter().collect::<HashSet<_>>());
        writer2.shutdown().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_207_is_repaired_where_it_can_be_and_kept_visible_where_it_cannot() {
    for backend in backends() {
        let pcm = Pcm::start().await;
        let db = Db::new(backend).await;
        let keyring = keyring();
        let metrics = Arc::new(PcmMetrics::default());
        let orgs = (pcm.tpp_org().to_string(), pcm.holder_org().to_string());
        let orgs = (orgs.0.as_str(), orgs.1.as_str());
        let now = Utc::now().timestamp_millis();
        let good = uuid::Uuid::new_v4().to_string();
        let sloppy = uuid::Uuid::new_v4();
        insert(
            &db.conn,
            vec![
                row(&good, 200, now, orgs),
                row(
                    &format!("urn:uuid:{}", sloppy.to_string().to_uppercase()),
                    200,
                    now,
                    orgs,
                ),
                row("not-a-uuid", 200, now, orgs),
                row(&uuid::Uuid::new_v4().to_string(), 150, now, orgs),
            ],
        )
        .await;

        let reporter = reporter(&db.conn, pcm.config(), &keyring, &metrics);
        let run = reporter.report_due(Utc::now()).await.unwrap();
        assert_eq!(
            (
                run.claimed,
                run.reported,
                run.repaired,
                run.refused,
                run.retrying
            ),
            (4, 2, 1, 2, 0),
            "{backend:?}"
        );
        let sent: HashSet<String> = interaction_ids(&private(&pcm)).into_iter().collect();
        assert_eq!(sent, HashSet::from([good.clone(), sloppy.to_string()]));

        let kept = refused(&db.conn, 10).await.unwrap();
        let reasons: Vec<&str> = kept.iter().map(|c| c.reason.as_str()).collect();
        assert_eq!(kept.len(), 2);
        assert!(reasons[0].contains("/fapiInteractionId"), "{reasons:?}");
        assert!(reasons[1].contains("/statusCode"), "{reasons:?}");
        assert_eq!(
            backlog(&db.conn).await.unwrap(),
            0,
            "refused calls are not backlog"
        );

        let again = reporter.report_due(Utc::now()).await.unwrap();
        assert_eq!(again.claimed, 0, "refused calls are not retried");
        assert_eq!(
            requeue_refused(&db.conn, Utc::now().timestamp_millis())
                .await
                .unwrap(),
            2
        );
        let again = reporter.report_due(Utc::now()).await.unwrap();
        assert_eq!((again.claimed, again.refused), (2, 2));
        assert_eq!(private(&pcm).len(), 2, "nothing was sent twice");
        db.finish().await;
    }
}

#[tokio::test]
async fn two_reporters_on_one_database_send_every_call_once() {
    for backend in backends() {
        let pcm = Pcm::start().await;
        let db = Db::new(backend).await;
        let keyring = keyring();
        let metrics = Arc::new(PcmMetrics::default());
        let orgs = (pcm.tpp_org().to_string(), pcm.holder_org().to_string());
        let now = Utc::now().timestamp_millis();
        let ids: Vec<String> = (0..300).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        insert(
            &db.conn,
            ids.iter()
                .map(|id| row(id, 200, now, (&orgs.0, &orgs.1)))
                .collect(),
        )
        .await;
        let mut config = pcm.config();
        config.batch_size = 25;
        let second = db.second().await;
        let a = reporter(&db.conn, config.clone(), &keyring, &metrics).spawn();
        let b = reporter(&second, config, &keyring, &metrics).spawn();
        eventually("both drain the outbox", || async {
            backlog(&db.conn).await.unwrap() == 0
        })
        .await;
        a.shutdown().await;
        b.shutdown().await;
        let sent = interaction_ids(&private(&pcm));
        assert_eq!(sent.len(), 300, "{backend:?}");
        assert_eq!(
            sent.iter().collect::<HashSet<_>>(),
            ids.iter().collect::<HashSet<_>>()
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn the_deadline_check_counts_calls_at_risk_and_late() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let metrics = PcmMetrics::default();
        let orgs = (
            "0f8a9c1e-5b2d-4c3a-9e7f-1a2b3c4d5e6f",
            "74e929d9-33b6-4d85-8ba7-c146c867a817",
        );
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        let ms = |t: &str| at(t).timestamp_millis();
        let id = || uuid::Uuid::new_v4().to_string();
        let mut reported = row(&id(), 200, ms("2026-03-10T12:00:00-03:00"), orgs);
        reported.reported_at = Set(Some(ms("2026-03-10T12:00:01-03:00")));
        let mut refused_row = row(&id(), 200, ms("2026-03-10T12:00:00-03:00"), orgs);
        refused_row.next_attempt_at = Set(aberta_pcm::outbox::PARKED);
        insert(
            &db.conn,
            vec![
                row(&id(), 200, ms("2026-03-09T23:59:59-03:00"), orgs),
                row(&id(), 200, ms("2026-03-10T00:00:00-03:00"), orgs),
                row(&id(), 200, ms("2026-03-10T23:59:59-03:00"), orgs),
                row(&id(), 200, ms("2026-03-11T00:00:00-03:00"), orgs),
                reported,
                refused_row,
            ],
        )
        .await;
        let six = chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap();
        let check = |now: &str| aberta_pcm::deadline::check(&db.conn, &metrics, at(now), six);

        let early = check("2026-03-11T05:00:00-03:00").await.unwrap();
        assert_eq!((early.at_risk, early.late), (0, 1), "{backend:?}");
        let warning = check("2026-03-11T06:30:00-03:00").await.unwrap();
        assert_eq!((warning.at_risk, warning.late), (2, 1));
        let after = check("2026-03-11T08:00:00-03:00").await.unwrap();
        assert_eq!((after.at_risk, after.late), (0, 3));
        let s = metrics.snapshot();
        assert_eq!((s.at_risk, s.missed, s.deadline_alerts), (0, 3, 3));
        db.finish().await;
    }
}
