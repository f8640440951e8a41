//! Signed messages per second: `verify_request` (header, directory key from a warm cache,
//! PS256 verify, claims, jti recorded in the database) on SQLite, and on PostgreSQL when
//! `ABERTA_TEST_DATABASE_URL` is set; and `sign_response`. Run with
//! `cargo bench -p aberta-payments --bench signed`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use aberta_payments::DirectoryKeys;
use aberta_payments::signed::{Expectations, JtiLedger, sign_response, verify_request};
use common::{Backend, Db, ENDPOINT, Keystore, ORG, OUR_ORG, OrgKey, T0, request_claims, unique};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let key = OrgKey::generate("bench-key");
    let keystore = runtime.block_on(Keystore::start());
    keystore.publish(ORG, &[&key.public]);
    let keys = DirectoryKeys::new(
        reqwest::Client::new(),
        &keystore.base,
        Duration::from_secs(3600),
    );
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("ABERTA_TEST_DATABASE_URL").is_ok() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let db = runtime.block_on(Db::new(backend));
        let ledger = runtime.block_on(JtiLedger::open(&db.store)).unwrap();
        let expect = Expectations {
            brand: unique("bench"),
            audience: ENDPOINT.to_string(),
            issuer: ORG.to_string(),
        };
        // Warm the key cache, and check the benchmarked call succeeds.
        let first = key.sign(&request_claims(&uuid::Uuid::new_v4().to_string(), T0));
        runtime
            .block_on(verify_request(&first, &expect, &keys, &ledger, T0))
            .expect("the benchmarked message must verify");
        c.bench_function(&format!("verify_request ({backend:?})"), |b| {
            b.to_async(&runtime).iter_batched(
                || key.sign(&request_claims(&uuid::Uuid::new_v4().to_string(), T0)),
                |jwt| {
                    let (expect, keys, ledger) = (&expect, &keys, &ledger);
                    async move {
                        verify_request(&jwt, expect, keys, ledger, T0)
                            .await
                            .unwrap();
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    let signer = key.signer();
    let payload = json!({
        "data": { "paymentId": "p-1", "endToEndId": "E9040088820210128000800123873170", "status": "RCVD",
                  "payment": { "amount": "100.00", "currency": "BRL" } },
        "links": { "self": ENDPOINT },
        "meta": { "requestDateTime": "2027-01-15T08:00:00Z" }
    });
    c.bench_function("sign_response", |b| {
        b.iter(|| {
            sign_response(payload.clone(), signer.as_ref(), &key.kid, ORG, OUR_ORG, T0).unwrap()
        })
    });
}

criterion_group! {
    name = signed;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(signed);
