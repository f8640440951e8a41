//! The health checker with a probe the test controls, on SQLite and PostgreSQL: failures in a
//! row open a detected outage (partial or total), a change of the failing set reshapes it,
//! success closes it; scheduled windows are not probed; two instances on one database probe
//! as one; a hung probe fails by timeout; the spawned task runs and lets go of its lease.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aberta_status::status::{self, Condition};
use aberta_status::{
    Family, HealthChecker, HealthPolicy, ManualClock, NewScheduled, OutageKind, OutageRegister,
    Probe, StatusSettings,
};
use async_trait::async_trait;
use common::*;

/// Fails the families it is told to, hangs on those it is told to, and logs every check.
#[derive(Default)]
struct TestProbe {
    failing: Mutex<HashSet<String>>,
    hanging: Mutex<HashSet<String>>,
    checked: Mutex<Vec<String>>,
}

impl TestProbe {
    fn fail(&self, families: &[&str]) {
        *self.failing.lock().unwrap() = families.iter().map(|f| f.to_string()).collect();
    }

    fn hang(&self, family: &str) {
        self.hanging.lock().unwrap().insert(family.to_string());
    }

    fn take_checked(&self) -> Vec<String> {
        let mut checked = std::mem::take(&mut *self.checked.lock().unwrap());
        checked.sort();
        checked
    }
}

#[async_trait]
impl Probe for TestProbe {
    async fn check(&self, family: &str) -> Result<(), String> {
        self.checked.lock().unwrap().push(family.to_string());
        if self.hanging.lock().unwrap().contains(family) {
            std::future::pending::<()>().await;
        }
        if self.failing.lock().unwrap().contains(family) {
            return Err(format!("{family}: connection refused"));
        }
        Ok(())
    }
}

fn families() -> Vec<Family> {
    ["accounts", "consents", "payments"]
        .into_iter()
        .map(|name| {
            Family::new(
                name,
                vec![format!("https://bank.example/open-banking/{name}/v2")],
            )
        })
        .collect()
}

fn policy() -> HealthPolicy {
    HealthPolicy {
        interval: Duration::from_millis(10),
        failures_to_open: 2,
        probe_timeout: Duration::from_millis(200),
        lease: Duration::from_secs(60),
    }
}

fn checker(register: &Arc<OutageRegister>, probe: &Arc<TestProbe>) -> HealthChecker {
    HealthChecker::new(register.clone(), probe.clone(), families(), policy()).unwrap()
}

async fn condition(register: &OutageRegister) -> Condition {
    let now = register.now();
    let outages = register.in_effect(now).await.unwrap();
    status::current(&outages, now, None, &StatusSettings::default()).condition
}

#[tokio::test]
async fn failures_open_reshape_and_close_a_detected_outage() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let t = at("2026-05-01T12:00:00Z");
        let clock = Arc::new(ManualClock::new(t));
        let register = db.register(&clock);
        let probe = Arc::new(TestProbe::default());
        let checker = checker(&register, &probe);

        // All well.
        let report = checker.run_round().await.unwrap();
        assert!(report.leader);
        assert_eq!(report.probed, ["accounts", "consents", "payments"]);
        assert_eq!(probe.take_checked(), ["accounts", "consents", "payments"]);
        assert!(report.failing.is_empty());
        assert_eq!(register.open_detected().await.unwrap(), None);

        // Payments fails once: not yet.
        probe.fail(&["payments"]);
        clock.set(t + 30);
        let report = checker.run_round().await.unwrap();
        assert!(
            report.failing.is_empty() && report.opened.is_none(),
            "{backend:?}: {report:?}"
        );
        assert_eq!(condition(&register).await, Condition::Ok);

        // Twice: a partial outage, from the first failure.
        clock.set(t + 60);
        let report = checker.run_round().await.unwrap();
        assert_eq!(report.failing, ["payments"]);
        let opened = register
            .open_detected()
            .await
            .unwrap()
            .expect("an open detected outage");
        assert_eq!(report.opened.as_deref(), Some(opened.id.as_str()));
        assert_eq!(opened.kind, OutageKind::Detected);
        assert!(opened.is_partial);
        assert_eq!(opened.starts_at, t + 30);
        assert_eq!(opened.families, ["payments"]);
        assert_eq!(
            opened.unavailable_endpoints,
            ["https://bank.example/open-banking/payments/v2"]
        );
        assert_eq!(condition(&register).await, Condition::PartialFailure);

        // Still failing: unchanged.
        clock.set(t + 90);
        let report = checker.run_round().await.unwrap();
        assert_eq!((report.opened, report.closed), (None, None));

        // Everything fails twice: the partial outage gives way to a total one at that instant.
        probe.fail(&["accounts", "consents", "payments"]);
        clock.set(t + 120);
        assert_eq!(checker.run_round().await.unwrap().failing, ["payments"]);
        clock.set(t + 150);
        let report = checker.run_round().await.unwrap();
        assert_eq!(report.failing, ["accounts", "consents", "payments"]);
        assert_eq!(report.closed.as_deref(), Some(opened.id.as_str()));
        let total = register.open_detected().await.unwrap().unwrap();
        assert!(!total.is_partial);
        assert_eq!(total.starts_at, t + 150);
        assert_eq!(
            register.get(&opened.id).await.unwrap().unwrap().ended_at,
            Some(t + 150)
        );
        assert_eq!(condition(&register).await, Condition::Unavailable);

        // Success closes it.
        probe.fail(&[]);
        clock.set(t + 180);
        let report = checker.run_round().await.unwrap();
        assert_eq!(report.closed.as_deref(), Some(total.id.as_str()));
        assert_eq!(register.open_detected().await.unwrap(), None);
        assert_eq!(condition(&register).await, Condition::Ok);

        // Downtime counted: 120 s partial, then 30 s total.
        let report = register.availability(1).await.unwrap();
        assert_eq!(report.days[0].downtime.unscheduled, 150, "{backend:?}");
        db.finish().await;
    }
}

#[tokio::test]
async fn families_in_a_scheduled_window_are_not_probed() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let t = at("2026-05-01T12:00:00Z");
        let clock = Arc::new(ManualClock::new(t));
        let register = db.register(&clock);
        register
            .schedule(NewScheduled {
                starts_at: at("2026-05-09T05:00:00Z"),
                ends_at: at("2026-05-09T07:00:00Z"),
                explanation: "Manutenção de pagamentos".into(),
                families: vec![],
                unavailable_endpoints: vec!["https://bank.example/open-banking/payments/v2".into()],
            })
            .await
            .unwrap()
            .unwrap();
        let probe = Arc::new(TestProbe::default());
        probe.fail(&["payments"]);
        let checker = checker(&register, &probe);
        clock.set(at("2026-05-09T05:00:00Z"));
        for step in 0..3 {
            clock.advance(30);
            let report = checker.run_round().await.unwrap();
            assert_eq!(
                report.probed,
                ["accounts", "consents"],
                "{backend:?} round {step}"
            );
            assert!(report.failing.is_empty());
        }
        assert_eq!(
            probe.take_checked(),
            [
                "accounts", "accounts", "accounts", "consents", "consents", "consents"
            ]
        );
        assert_eq!(register.open_detected().await.unwrap(), None);
        assert_eq!(condition(&register).await, Condition::ScheduledOutage);
        db.finish().await;
    }
}

#[tokio::test]
async fn two_instances_probe_as_one() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let t = at("2026-05-01T12:00:00Z");
        let clock = Arc::new(ManualClock::new(t));
        let first_register = db.register(&clock);
        let second_register = Arc::new(OutageRegister::new(db.second().await, clock.clone()));
        let probe = Arc::new(TestProbe::default());
        probe.fail(&["consents"]);
        let first = checker(&first_register, &probe);
        let second = checker(&second_register, &probe);

        assert!(first.run_round().await.unwrap().leader);
        let idle = second.run_round().await.unwrap();
        assert!(
            !idle.leader && idle.probed.is_empty(),
            "{backend:?}: {idle:?}"
        );
        assert_eq!(probe.take_checked().len(), 3);

        // The first instance stops renewing; once the lease lapses the second takes over
        // and carries on the stored count: one more failure opens the outage.
        clock.advance(61);
        let report = second.run_round().await.unwrap();
        assert!(report.leader);
        assert_eq!(report.failing, ["consents"]);
        assert!(report.opened.is_some());
        assert!(!first.run_round().await.unwrap().leader);

        // Racing rounds never open two outages.
        clock.advance(61);
        probe.fail(&["accounts", "consents", "payments"]);
        let (a, b) = tokio::join!(first.run_round(), second.run_round());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.leader ^ b.leader, "{a:?} {b:?}");
        let open = first_register
            .list(0)
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.ended_at.is_none())
            .count();
        assert_eq!(open, 1, "{backend:?}");
        db.finish().await;
    }
}

#[tokio::test]
async fn a_hung_probe_fails_by_timeout() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let clock = Arc::new(ManualClock::new(at("2026-05-01T12:00:00Z")));
        let register = db.register(&clock);
        let probe = Arc::new(TestProbe::default());
        probe.hang("accounts");
        let checker = checker(&register, &probe);
        checker.run_round().await.unwrap();
        clock.advance(30);
        let report = checker.run_round().await.unwrap();
        assert_eq!(report.failing, ["accounts"], "{backend:?}");
        let states = aberta_status::health::probe_states(&register)
            .await
            .unwrap();
        let accounts = states.iter().find(|s| s.family == "accounts").unwrap();
        assert_eq!(accounts.consecutive_failures, 2);
        assert!(
            accounts
                .last_error
                .as_deref()
                .unwrap()
                .contains("no answer within 200 ms")
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn the_spawned_checker_runs_and_lets_go() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let clock = Arc::new(ManualClock::new(at("2026-05-01T12:00:00Z")));
        let register = db.register(&clock);
        let probe = Arc::new(TestProbe::default());
        probe.fail(&["accounts", "consents", "payments"]);
        let (task, shutdown) = checker(&register, &probe).spawn();
        eventually("the spawned checker opens a total outage", || {
            let register = register.clone();
            async move {
                register
                    .open_detected()
                    .await
                    .unwrap()
                    .is_some_and(|o| !o.is_partial)
            }
        })
        .await;
        shutdown.shutdown();
        task.await.unwrap();
        // The lease was given up: another checker leads at once, without waiting for it.
        let other = checker(&register, &probe);
        assert!(other.run_round().await.unwrap().leader, "{backend:?}");
        db.finish().await;
    }
}

#[test]
fn impossible_policies_are_refused() {
    let clock = Arc::new(ManualClock::new(0));
    let probe: Arc<TestProbe> = Arc::new(TestProbe::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = Db::new(Backend::Sqlite).await;
        let register = db.register(&clock);
        let with = |policy: HealthPolicy, families: Vec<Family>| {
            HealthChecker::new(register.clone(), probe.clone(), families, policy).is_err()
        };
        assert!(with(policy(), vec![]));
        assert!(with(
            HealthPolicy {
                failures_to_open: 0,
                ..policy()
            },
            families()
        ));
        assert!(with(
            HealthPolicy {
                interval: Duration::ZERO,
                ..policy()
            },
            families()
        ));
        assert!(with(
            HealthPolicy {
                lease: Duration::from_millis(300),
                ..policy()
            },
            families()
        ));
        assert!(!with(policy(), families()));
    });
}
