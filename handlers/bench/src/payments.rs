//! The payment scenarios. Every answer of payments 4.0.0 is a signed JWT, so each call costs
//! the server one PS256 signature, and a POST one verification of the request besides: the
//! report sets their rates beside the machine's sign rate.
//!
//! A payment consumes its consent, so POST /pix/payments runs on a pool of consents created
//! and authorised (through the portal, as the first test user) before the window; the window
//! ends when the pool does. GET /pix/payments/{id} reads one payment over and over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::report::{self, ScenarioResult};
use crate::{AuthorizationFlow, Options, Tpp, drive, expect, now, progress};

const BASE: &str = "/open-banking/payments/v4";
/// Authorised consents prepared per connection for the POST window.
const CONSENTS_PER_CONNECTION: usize = 24;
/// The amount of every bench payment: small, so the demo balance covers them all.
const AMOUNT: &str = "1.00";
/// The initiator's CNPJ written into each payment.
const CNPJ_INITIATOR: &str = "22333444000105";

fn creditor_account() -> Value {
    json!({ "ispb": "12345678", "issuer": "1774", "number": "1234567890", "accountType": "CACC" })
}

fn today_in_brasilia() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(3))
        .date_naive()
        .to_string()
}

/// A signed body for `path`.
fn signed(tpp: &Tpp, path: &str, data: Value) -> Result<String> {
    tpp.sign(json!({
        "aud": tpp.url(path),
        "iss": tpp.org_id,
        "iat": now(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "data": data,
    }))
}

fn payment_items(consent_id: &str) -> Value {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M");
    let tail = &uuid::Uuid::new_v4().simple().to_string()[..11];
    json!([{
        "endToEndId": format!("E99999004{stamp}{tail}"),
        "localInstrument": "DICT",
        "payment": { "amount": AMOUNT, "currency": "BRL" },
        "creditorAccount": creditor_account(),
        "proxy": "cliente-a00001@pix.bcb.gov.br",
        "cnpjInitiator": CNPJ_INITIATOR,
        "consentId": consent_id,
    }])
}

async fn send_jwt(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: Option<(String, String)>,
    want: u16,
) -> Result<reqwest::Response> {
    let mut request = match &body {
        Some(_) => client.post(url),
        None => client.get(url),
    }
    .bearer_auth(token)
    .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
    .header("accept", "application/jwt");
    if let Some((jwt, key)) = body {
        request = request
            .header("content-type", "application/jwt")
            .header("x-idempotency-key", key)
            .body(jwt);
    }
    let resp = expect(request.send().await?, want, url).await?;
    let signed = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/jwt"));
    ensure!(signed, "{url}: the answer is not a signed JWT");
    Ok(resp)
}

/// The `data` of a signed answer, read without verifying (the tests verify).
async fn jwt_data(resp: reqwest::Response) -> Result<Value> {
    use base64::Engine;
    let text = resp.text().await?;
    let payload = text.split('.').nth(1).context("not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?;
    let claims: Value = serde_json::from_slice(&bytes)?;
    Ok(claims["data"].clone())
}

/// A payment consent created and authorised: (consent id, the customer's access token).
async fn authorised_consent(
    tpp: &Tpp,
    flow: &AuthorizationFlow,
    client: &reqwest::Client,
    cc_token: &str,
) -> Result<(String, String)> {
    let path = format!("{BASE}/consents");
    let data = json!({
        "loggedUser": { "document": { "identification": tpp.user.0, "rel": "CPF" } },
        "creditor": { "personType": "PESSOA_NATURAL", "cpfCnpj": "12345678901", "name": "Recebedor Bench" },
        "payment": {
            "type": "PIX", "date": today_in_brasilia(), "currency": "BRL", "amount": AMOUNT,
            "details": { "localInstrument": "DICT", "proxy": "cliente-a00001@pix.bcb.gov.br",
                         "creditorAccount": creditor_account() },
        },
    });
    let body = signed(tpp, &path, data)?;
    let key = uuid::Uuid::new_v4().to_string();
    let resp = send_jwt(client, &tpp.url(&path), cc_token, Some((body, key)), 201).await?;
    let consent_id = jwt_data(resp).await?["consentId"]
        .as_str()
        .context("a consent without consentId")?
        .to_string();
    let job = flow.job_with_scope(tpp, &format!("openid payments consent:{consent_id}"))?;
    let token = flow.authorise_with(client, &job, true).await?;
    Ok((consent_id, token))
}

/// Prepares `count` authorised consents over every client at once.
async fn authorised_consents(
    tpp: &Arc<Tpp>,
    flow: &Arc<AuthorizationFlow>,
    clients: &[reqwest::Client],
    cc_token: &str,
    count: usize,
) -> Result<Vec<(String, String)>> {
    let per_client = count.div_ceil(clients.len());
    let mut tasks = Vec::new();
    for client in clients {
        let (tpp, flow, client, cc) = (
            tpp.clone(),
            flow.clone(),
            client.clone(),
            cc_token.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                made.push(authorised_consent(&tpp, &flow, &client, &cc).await?);
            }
            anyhow::Ok(made)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await??);
    }
    all.truncate(count);
    Ok(all)
}

fn result(
    name: &'static str,
    clients: usize,
    verifies: u32,
    run: crate::Run,
    presigned: usize,
    presign_time: Duration,
) -> ScenarioResult {
    let mut latencies = run.latencies;
    latencies.sort_unstable();
    ScenarioResult {
        name,
        connections: clients,
        http_requests: 1,
        server_signs: 1,
        server_verifies: verifies,
        ok: latencies.len(),
        p50: report::percentile(&latencies, 0.50),
        p99: report::percentile(&latencies, 0.99),
        failures: run.failures,
        first_error: run.first_error,
        elapsed: run.elapsed,
        exhausted: run.exhausted,
        presigned,
        presign_time,
        offered: None,
        cpu: None,
    }
}

/// POST /pix/payments on a pool of authorised consents, then GET /pix/payments/{id}.
pub(crate) async fn scenarios(
    tpp: &Arc<Tpp>,
    clients: &[reqwest::Client],
    opts: &Options,
    quiet: bool,
) -> Result<Vec<ScenarioResult>> {
    let (cc_token, _) = crate::client_token(tpp, &clients[0], "payments").await?;
    let flow = Arc::new(AuthorizationFlow {
        issuer: tpp.issuer.clone(),
        client_id: tpp.client_id.clone(),
        redirect_uri: tpp.redirect_uri.clone(),
        user: tpp.user.clone(),
    });
    let count = clients.len() * CONSENTS_PER_CONNECTION + 1;
    progress(
        quiet,
        &format!("payments: creating and authorising {count} payment consents"),
    );
    let mut consents = authorised_consents(tpp, &flow, clients, &cc_token, count).await?;

    // One payment to read back.
    let (consent_id, token) = consents.pop().context("no consent prepared")?;
    let path = format!("{BASE}/pix/payments");
    let body = signed(tpp, &path, payment_items(&consent_id))?;
    let key = uuid::Uuid::new_v4().to_string();
    let resp = send_jwt(&clients[0], &tpp.url(&path), &token, Some((body, key)), 201).await?;
    let payment_id = jwt_data(resp).await?[0]["paymentId"]
        .as_str()
        .context("a payment without paymentId")?
        .to_string();

    progress(quiet, "payments: signing the payment requests");
    let signing = Instant::now();
    let jobs = consents
        .iter()
        .map(|(consent_id, token)| {
            Ok((
                token.clone(),
                signed(tpp, &path, payment_items(consent_id))?,
                uuid::Uuid::new_v4().to_string(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let presign_time = signing.elapsed();
    let presigned = jobs.len();
    progress(quiet, "payments: POST /pix/payments");
    let url = tpp.url(&path);
    let post = drive(
        clients,
        jobs,
        opts.duration,
        None,
        move |client, jobs, i| {
            let url = url.clone();
            async move {
                let (token, body, key) = &jobs[i];
                send_jwt(&client, &url, token, Some((body.clone(), key.clone())), 201).await?;
                Ok(())
            }
        },
    )
    .await;
    let post = result(
        "POST /pix/payments (signed, own consent each)",
        clients.len(),
        1,
        post,
        presigned,
        presign_time,
    );

    progress(quiet, "payments: GET /pix/payments/{id}");
    let url = tpp.url(&format!("{path}/{payment_id}"));
    // The window, not the pool, ends the run: more jobs than any machine serves.
    let reads = vec![(); 50_000_000];
    let get = drive(clients, reads, opts.duration, None, move |client, _, _| {
        let (url, token) = (url.clone(), cc_token.clone());
        async move {
            send_jwt(&client, &url, &token, None, 200).await?;
            Ok(())
        }
    })
    .await;
    let get = result(
        "GET /pix/payments/{id} (signed answer)",
        clients.len(),
        0,
        get,
        0,
        Duration::ZERO,
    );
    Ok(vec![post, get])
}
