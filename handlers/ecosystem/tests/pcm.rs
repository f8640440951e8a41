//! The PCM simulator over real mutual TLS: per-item 207, durable storage, outage window, and
//! the generated routes for the other operations.

mod common;

use serde_json::{Value, json};

use common::{start, token, tpp_client};

fn server_report(org: &str) -> Value {
    json!({
        "fapiInteractionId": uuid::Uuid::new_v4().to_string(),
        "endpoint": "/open-banking/accounts/v2/accounts",
        "statusCode": 200,
        "httpMethod": "GET",
        "timestamp": "2025-01-10T12:00:00.123Z",
        "processTimespan": 120,
        "clientOrgId": org,
        "serverOrgId": org,
        "role": "SERVER",
    })
}

async fn pcm_token(eco: &common::Eco) -> (reqwest::Client, String) {
    let client = tpp_client(&eco.contract);
    let access = token(&client, &eco.contract.pcm.token_url, "report").await;
    (client, access)
}

fn report_url(eco: &common::Eco) -> String {
    format!("{}/report-api/v1/private/report", eco.contract.pcm.base_url)
}

async fn stored(eco: &common::Eco) -> Vec<Value> {
    let resp = tpp_client(&eco.contract)
        .get(format!("{}/admin/reports", eco.contract.pcm.base_url))
        .bearer_auth(eco.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_batch_with_one_invalid_item_gets_207_and_the_valid_ones_are_stored() {
    let eco = start().await;
    let (client, access) = pcm_token(&eco).await;
    let org = eco.contract.tpp.org_id.clone();
    let mut bad = server_report(&org);
    bad["fapiInteractionId"] = json!("not-a-uuid");
    let batch = json!([server_report(&org), bad, server_report(&org)]);
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&access)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 207);
    let results: Vec<ofb_pcm_v1::models::ReportResponse> = resp.json().await.unwrap();
    use ofb_pcm_v1::models::ReportStatus;
    let statuses: Vec<ReportStatus> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            ReportStatus::Accepted,
            ReportStatus::Discarded,
            ReportStatus::Accepted
        ]
    );
    assert!(
        results[1]
            .message
            .as_deref()
            .unwrap()
            .contains("/fapiInteractionId")
    );

    let all = stored(&eco).await;
    assert_eq!(all.len(), 2);
    let ids: Vec<&str> = all
        .iter()
        .map(|r| r["report_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&results[0].report_id.as_str()));
    assert!(ids.contains(&results[2].report_id.as_str()));

    // And the generated GET route reads one back.
    let resp = client
        .get(format!("{}/{}", report_url(&eco), results[0].report_id))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let model: Value = resp.json().await.unwrap();
    assert_eq!(model["reportId"], json!(results[0].report_id));
    assert_eq!(model["status"], "ACCEPTED");
}

#[tokio::test]
async fn an_all_valid_batch_gets_200() {
    let eco = start().await;
    let (client, access) = pcm_token(&eco).await;
    let org = eco.contract.tpp.org_id.clone();
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&access)
        .json(&json!([server_report(&org)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn bad_batches_get_the_documented_errors() {
    let eco = start().await;
    let (client, access) = pcm_token(&eco).await;
    let resp = client
        .post(report_url(&eco))
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "no token");
    let directory_token = token(
        &client,
        &eco.contract.directory.token_url,
        "directory:software",
    )
    .await;
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&directory_token)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "a directory token is not a PCM token");
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&access)
        .json(&json!({"not": "an array"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let too_many: Vec<Value> = (0..5001).map(|_| json!({})).collect();
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&access)
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let resp = client
        .get(format!("{}/{}", report_url(&eco), uuid::Uuid::new_v4()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn an_outage_window_answers_503_and_loses_nothing() {
    let eco = start().await;
    let (client, access) = pcm_token(&eco).await;
    let org = eco.contract.tpp.org_id.clone();
    let outage = format!("{}/admin/outage", eco.contract.pcm.base_url);
    let resp = client
        .post(&outage)
        .bearer_auth(eco.admin_token())
        .json(&json!({"seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let batch = json!([server_report(&org)]);
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&access)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(
        stored(&eco).await.is_empty(),
        "nothing is stored during the outage"
    );

    let resp = client
        .delete(&outage)
        .bearer_auth(eco.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&access)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(stored(&eco).await.len(), 1);
}

#[tokio::test]
async fn stored_reports_and_tokens_survive_a_restart() {
    let mut eco = start().await;
    let (client, access) = pcm_token(&eco).await;
    let org = eco.contract.tpp.org_id.clone();
    let resp = client
        .post(report_url(&eco))
        .bearer_auth(&access)
        .json(&json!([server_report(&org)]))
        .send()
        .await
        .unwrap();
    let results: Vec<Value> = resp.json().await.unwrap();
    let report_id = results[0]["reportId"].as_str().unwrap().to_string();

    eco.restart_pcm().await;

    let resp = tpp_client(&eco.contract)
        .get(format!("{}/{}", report_url(&eco), report_id))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the old token verifies and the report is still there"
    );
}

#[tokio::test]
async fn hybrid_flow_reports_go_through_the_generated_routes() {
    let eco = start().await;
    let (client, access) = pcm_token(&eco).await;
    let url = format!(
        "{}/report-api/v2/hybrid-flow/server/authenticated",
        eco.contract.pcm.base_url
    );
    let resp = client
        .post(&url)
        .bearer_auth(&access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_client_error(),
        "an empty report is refused"
    );
    let resp = client.post(&url).json(&json!({})).send().await.unwrap();
    assert!(resp.status().is_client_error());
}
