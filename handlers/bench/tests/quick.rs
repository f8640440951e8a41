//! A short in-process run of the whole bench: every scenario must succeed and move some
//! requests. No timing is asserted.

use std::time::Duration;

use aberta_bench::Options;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_run_has_no_failed_request() {
    let opts = Options {
        connections: 2,
        duration: Duration::from_millis(700),
        warmup: Duration::from_millis(200),
        crypto_duration: Duration::from_millis(100),
        database_url: None,
        capture_rounds: 1,
        only_capture: false,
        capture_rate: Some(100.0),
    };
    let report = aberta_bench::run(&opts, true).await.unwrap();
    let text = report.markdown("`test`");
    assert_eq!(report.failures(), 0, "{text}");
    assert_eq!(report.scenarios.len(), 10);
    for scenario in &report.scenarios {
        assert!(
            scenario.ok > 0,
            "{}: nothing succeeded\n{text}",
            scenario.name
        );
        assert!(scenario.per_second() > 0.0, "{text}");
    }
    assert!(report.crypto.sign_per_s > 0.0 && report.crypto.verify_per_s > 0.0);
    let cost = report
        .capture_cost()
        .expect("the run compares capture on and off");
    assert_eq!(cost.rounds, 1);
    assert!(cost.with > 0.0 && cost.without > 0.0);
    assert!(text.contains("Call capture and PCM reporting:"), "{text}");
    let cpu = cost.cpu.expect("the windows' CPU time is read from /proc");
    assert!(cpu.with_us > 0.0 && cpu.without_us > 0.0, "{text}");
    assert_eq!(cpu.offered, Some(100.0));
    assert!(text.contains("an open loop offering 100 req/s"), "{text}");
    assert!(text.contains("| scenario | connections | requests | req/s | p50 | p99 |"));
}
