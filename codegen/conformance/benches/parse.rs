//! The hot path of every regulated request: parsing a body into its generated model and
//! checking every constraint of the spec. Bodies are the official examples.
//!
//! `cargo bench -p aberta-conformance --bench parse`

use aberta_conformance::{ShownKind, generated_documents, shown_values};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BODIES: [(&str, &str); 4] = [
    ("consents", "/components/schemas/CreateConsent"),
    ("payments", "/components/schemas/CreatePixPayment"),
    (
        "accounts",
        "/components/schemas/ResponseAccountTransactions",
    ),
    (
        "credit-cards",
        "/components/schemas/ResponseCreditCardAccountsTransactions",
    ),
];

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_and_validate");
    for (api, doc) in generated_documents() {
        for (name, pointer) in BODIES {
            if api.name != name {
                continue;
            }
            let example = shown_values(&doc.value)
                .into_iter()
                .find(|s| s.kind == ShownKind::Body && s.schema == pointer)
                .unwrap_or_else(|| panic!("{name} has a body example for {pointer}"));
            let json = serde_json::to_vec(&example.value).unwrap();
            assert!(matches!((api.parse_at)(pointer, &json), Some(Ok(()))));
            group.throughput(Throughput::Bytes(json.len() as u64));
            let parse_at = api.parse_at;
            group.bench_function(
                format!("{name} {}", pointer.rsplit('/').next().unwrap()),
                |b| b.iter(|| parse_at(pointer, std::hint::black_box(&json))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
