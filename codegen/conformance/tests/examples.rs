//! Every value the official documents show (body, schema and parameter examples) parses into
//! its generated model or parameter type and passes its checks.

use aberta_conformance::{generated_documents, shown_values};

#[test]
fn every_example_parses_and_validates() {
    let mut failures = Vec::new();
    let mut uncovered = Vec::new();
    let mut checked = 0;
    for (api, doc) in generated_documents() {
        for shown in shown_values(&doc.value) {
            let json = serde_json::to_vec(&shown.value).expect("a JSON value serialises");
            let outcome = (api.parse_at)(&shown.schema, &json)
                .or_else(|| (api.check_property)(&shown.schema, &json))
                .or_else(|| (api.check_parameter)(&shown.schema, &json));
            let here = format!("{} {} #{}", api.name, api.version, shown.at);
            match outcome {
                Some(Ok(())) => checked += 1,
                Some(Err(violations)) => failures.push(format!("{here}: {violations}")),
                None => uncovered.push(format!(
                    "{here} ({:?}, schema #{})",
                    shown.kind, shown.schema
                )),
            }
        }
    }
    assert!(checked > 1000, "only {checked} examples were checked");
    assert!(
        failures.is_empty() && uncovered.is_empty(),
        "{} examples fail their generated model:\n{}\n{} examples have no generated model or check:\n{}",
        failures.len(),
        failures.join("\n"),
        uncovered.len(),
        uncovered.join("\n")
    );
}
