//! The Brazil DCR plan modules (requirements §3.4) and the functional DCR checks, each
//! asserting the exact status and `error`, on SQLite and PostgreSQL.

mod common;

use common::*;
use serde_json::{Value, json};

async fn post(tpp: &Tpp, body: &Value) -> (u16, Value) {
    tpp.post_register(body).await
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_happy_flow() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let mut tpp = sandbox.new_tpp(&["DADOS", "PAGTO"]);
        let created = sandbox.register(&mut tpp).await;
        assert!(created["registration_client_uri"].is_string());
        assert!(
            created["scope"]
                .as_str()
                .unwrap()
                .split(' ')
                .any(|s| s == "payments")
        );
        let resp = tpp
            .http
            .get(created["registration_client_uri"].as_str().unwrap())
            .bearer_auth(tpp.rat.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let got: Value = resp.json().await.unwrap();
        assert_eq!(got["client_id"], created["client_id"]);
        assert_eq!(got["redirect_uris"], created["redirect_uris"]);
        assert_eq!(
            got["registration_client_uri"],
            created["registration_client_uri"]
        );
        assert_eq!(
            got["registration_access_token"], created["registration_access_token"],
            "not rotated"
        );
        // The query form of RFC 7592 Appendix B.
        let resp = tpp
            .http
            .get(format!("{}/register", sandbox.issuer()))
            .query(&[("client_id", tpp.client_id())])
            .bearer_auth(tpp.rat.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_invalid_registration_access_token() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let uri = format!("{}/register/{}", sandbox.issuer(), tpp.client_id());
        let resp = tpp
            .http
            .get(&uri)
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let resp = tpp
            .http
            .delete(&uri)
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let resp = tpp.http.get(&uri).send().await.unwrap();
        assert_eq!(resp.status(), 401);
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazil_dcr_invalid_software_statement_signature() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        let (head, _) = ssa.rsplit_once('.').unwrap();
        let tampered = format!("{head}.{}", b64(&[1u8; 256]));
        let result = post(&tpp, &registration_body(&tampered, &tpp)).await;
        assert_error(&result, 400, "invalid_software_statement");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_no_software_statement() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let mut body = registration_body("x", &tpp);
        body.as_object_mut().unwrap().remove("software_statement");
        assert_error(&post(&tpp, &body).await, 400, "invalid_software_statement");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_software_statement_older_than_five_minutes() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut claims = aberta_auth_test_claims(&ssa);
        claims["iat"] = json!(now() - 301);
        let key = aberta_ecosystem::keys::load(&aberta_ecosystem::directory::signing_key_path(
            sandbox.dir.path(),
        ))
        .unwrap();
        let signer = aberta_ecosystem::keys::Ps256Key::from_jwk(&key).unwrap();
        let old = signer
            .sign_jwt(claims.as_object().unwrap().clone())
            .unwrap();
        assert_error(
            &post(&tpp, &registration_body(&old, &tpp)).await,
            400,
            "invalid_software_statement",
        );
    }
}

fn aberta_auth_test_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    use base64::Engine;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_no_mtls() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let fresh = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&fresh).await;
        let anonymous = browser(&sandbox.contract);
        let resp = anonymous
            .post(format!("{}/register", sandbox.issuer()))
            .json(&registration_body(&ssa, &fresh))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let uri = format!("{}/register/{}", sandbox.issuer(), tpp.client_id());
        let resp = anonymous
            .get(&uri)
            .bearer_auth(tpp.rat.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let resp = anonymous
            .delete(&uri)
            .bearer_auth(tpp.rat.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_bad_mtls() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let other = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        // The certificate of another software statement presents this SSA.
        let result = other.post_register(&registration_body(&ssa, &tpp)).await;
        assert_error(&result, 400, "unapproved_software_statement");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_invalid_redirect_uri() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut body = registration_body(&ssa, &tpp);
        body["redirect_uris"] = json!(["https://evil.example/cb"]);
        assert_error(&post(&tpp, &body).await, 400, "invalid_redirect_uri");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_no_redirect_uri() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut body = registration_body(&ssa, &tpp);
        body.as_object_mut().unwrap().remove("redirect_uris");
        assert_error(&post(&tpp, &body).await, 400, "invalid_redirect_uri");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_invalid_jwks_uri() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut body = registration_body(&ssa, &tpp);
        body["jwks_uri"] = json!("https://evil.example/jwks");
        assert_error(&post(&tpp, &body).await, 400, "invalid_client_metadata");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_invalid_jwks_by_value() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut body = registration_body(&ssa, &tpp);
        body["jwks"] = json!({ "keys": [] });
        assert_error(&post(&tpp, &body).await, 400, "invalid_client_metadata");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_brazildcr_update_client_config_rules() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let uri = format!("{}/register/{}", sandbox.issuer(), tpp.client_id());
        let rat = tpp.rat.clone().unwrap();
        let ssa = sandbox.ssa(&tpp).await;
        let put = |body: Value| {
            let (http, uri, rat) = (tpp.http.clone(), uri.clone(), rat.clone());
            async move {
                let resp = http
                    .put(&uri)
                    .bearer_auth(&rat)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let mut bad_jwks = registration_body(&ssa, &tpp);
        bad_jwks["jwks_uri"] = json!("https://evil.example/jwks");
        assert_error(&put(bad_jwks).await, 400, "invalid_client_metadata");
        let mut by_value = registration_body(&ssa, &tpp);
        by_value["jwks"] = json!({ "keys": [] });
        assert_error(&put(by_value).await, 400, "invalid_client_metadata");
        let mut bad_redirect = registration_body(&ssa, &tpp);
        bad_redirect["redirect_uris"] = json!(["https://evil.example/cb"]);
        assert_error(&put(bad_redirect).await, 400, "invalid_client_metadata");
        let mut no_ssa = registration_body(&ssa, &tpp);
        no_ssa.as_object_mut().unwrap().remove("software_statement");
        assert_eq!(put(no_ssa).await.0, 400);
        let resp = tpp
            .http
            .put(&uri)
            .bearer_auth("wrong")
            .json(&registration_body(&ssa, &tpp))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        // Nothing changed.
        let got: Value = tpp
            .http
            .get(&uri)
            .bearer_auth(&rat)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["redirect_uris"], json!([tpp.redirect_uris[0]]));
    }
}

#[tokio::test]
async fn dcr_api_dados_unauthorized_client_test_module_v2() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["PAGTO"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut body = registration_body(&ssa, &tpp);
        body["scope"] = json!("openid payments resources");
        assert_error(&post(&tpp, &body).await, 400, "invalid_scope");
    }
}

#[tokio::test]
async fn dcr_api_dcm_pagto_wrong_webhook_test_module() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["PAGTO"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut body = registration_body(&ssa, &tpp);
        body["webhook_uris"] = json!(["https://evil.example/webhook"]);
        assert_error(&post(&tpp, &body).await, 400, "invalid_webhook_uris");
    }
}

#[tokio::test]
async fn dcr_multiple_clients_one_client_per_software_statement() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let ssa = sandbox.ssa(&tpp).await;
        let result = post(&tpp, &registration_body(&ssa, &tpp)).await;
        assert_error(&result, 400, "unapproved_software_statement");
    }
}

#[tokio::test]
async fn dcr_api_fvp_unhappy_tls_client_auth_test_module() {
    for backend in backends() {
        let sandbox = start(backend).await;
        let tpp = sandbox.new_tpp(&["DADOS"]);
        let ssa = sandbox.ssa(&tpp).await;
        let mut body = registration_body(&ssa, &tpp);
        body["token_endpoint_auth_method"] = json!("tls_client_auth");
        assert_error(&post(&tpp, &body).await, 400, "invalid_client_metadata");
    }
}

#[tokio::test]
async fn brands_do_not_share_clients_or_tokens() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let second = &sandbox.contract.brands[1];
        let doc: Value = tpp
            .http
            .get(&second.discovery_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], second.issuer.as_str());
        let (status, cc) = tpp.token(&[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200);
        let mut elsewhere = tpp.clone_for(&second.issuer);
        elsewhere.client_id = tpp.client_id.clone();
        let (status, body) = elsewhere
            .token(&[("grant_type", "client_credentials")])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client")),
            "{body}"
        );
        let info = sandbox
            .holder
            .server
            .introspect_token(&second.brand, cc["access_token"].as_str().unwrap())
            .await
            .unwrap();
        assert!(
            info.is_none(),
            "a token of one brand is not valid at another"
        );
    }
}
