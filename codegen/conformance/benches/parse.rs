//! The hot path of every regulated request: parsing a body into its generated model and
//! checking every constraint of the spec. Inputs: the four largest object examples the official
//! documents show (most documents show examples only per field).
//!
//! `cargo bench -p aberta-conformance --bench parse`

use aberta_conformance::{generated_documents, shown_values};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn parse(c: &mut Criterion) {
    let mut inputs = Vec::new();
    for (api, doc) in generated_documents() {
        for shown in shown_values(&doc.value)
            .into_iter()
            .filter(|s| s.value.is_object())
        {
            let json = serde_json::to_vec(&shown.value).unwrap();
            if matches!((api.parse_at)(&shown.schema, &json), Some(Ok(()))) {
                inputs.push((api.name, api.parse_at, shown.schema, json));
            }
        }
    }
    inputs.sort_by_key(|(_, _, _, json)| std::cmp::Reverse(json.len()));
    let mut group = c.benchmark_group("parse_and_validate");
    for (name, parse_at, schema, json) in inputs.into_iter().take(4) {
        group.throughput(Throughput::Bytes(json.len() as u64));
        let label = format!(
            "{name} {} ({} bytes)",
            schema.rsplit('/').next().unwrap_or_default(),
            json.len()
        );
        group.bench_function(label, |b| {
            b.iter(|| parse_at(&schema, std::hint::black_box(&json)))
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
