//! The PAR and PKCE modules of the FAPI1-Advanced-Final (Brazil) plan (requirements §3.3),
//! each asserting the exact status and `error`, on SQLite and PostgreSQL.

mod common;

use aberta_store::entity::par;
use common::*;
use serde_json::Value;

async fn pushed(tpp: &Tpp) -> String {
    let (status, body) = tpp
        .par(tpp.request_claims("openid accounts", &verifier()))
        .await;
    assert_eq!(status, 201, "{body}");
    body["request_uri"].as_str().unwrap().to_string()
}

async fn authorize(sandbox: &Sandbox, client_id: &str, request_uri: &str) -> reqwest::Response {
    browser(&sandbox.contract)
        .get(format!("{}/authorize", sandbox.issuer()))
        .query(&[("client_id", client_id), ("request_uri", request_uri)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn fapi1_advanced_final_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let request_uri = pushed(&tpp).await;
        assert_eq!(
            authorize(&sandbox, tpp.client_id(), &request_uri)
                .await
                .status(),
            303
        );
        assert_eq!(
            authorize(&sandbox, tpp.client_id(), &request_uri)
                .await
                .status(),
            303
        );
        let (cpf, password) = sandbox.user();
        let fragment =
            authorize_as_user(&sandbox, &tpp, &request_uri, (&cpf, &password), true).await;
        assert!(fragment.contains_key("code"));
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_reuse_request_uri() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let request_uri = pushed(&tpp).await;
        let (cpf, password) = sandbox.user();
        authorize_as_user(&sandbox, &tpp, &request_uri, (&cpf, &password), true).await;
        let resp = authorize(&sandbox, tpp.client_id(), &request_uri).await;
        assert_eq!(resp.status(), 400, "a used request_uri gets the error page");
        assert!(resp.text().await.unwrap().contains("invalid_request_uri"));
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_to_use_expired_request_uri() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", uuid::Uuid::new_v4());
        sandbox
            .holder
            .server
            .store()
            .insert_par(par::Model {
                request_uri: request_uri.clone(),
                brand: sandbox.contract.holder.brand.clone(),
                client_id: tpp.client_id().into(),
                params: "{}".into(),
                expires_at: now() - 1,
                consumed: false,
            })
            .await
            .unwrap();
        let resp = authorize(&sandbox, tpp.client_id(), &request_uri).await;
        assert_eq!(resp.status(), 400);
        assert!(resp.text().await.unwrap().contains("invalid_request_uri"));
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_to_use_request_uri_for_different_client() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let mut other = sandbox.new_tpp(&["DADOS"]);
        sandbox.register(&mut other).await;
        let request_uri = pushed(&tpp).await;
        let resp = authorize(&sandbox, other.client_id(), &request_uri).await;
        assert_eq!(resp.status(), 400);
        assert!(resp.text().await.unwrap().contains("invalid_request_uri"));
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_authorization_request_containing_request_uri_form_param() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let request = tpp
            .signer
            .sign_jwt(tpp.request_claims("openid", &verifier()))
            .unwrap();
        let result = tpp
            .par_form(vec![
                ("request".into(), request),
                (
                    "request_uri".into(),
                    "urn:ietf:params:oauth:request_uri:abc".into(),
                ),
            ])
            .await;
        assert_error(&result, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_invalid_http_method() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let resp = tpp
            .http
            .get(format!("{}/par", sandbox.issuer()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_attempt_invalid_redirect_uri() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let mut claims = tpp.request_claims("openid", &verifier());
        claims.insert(
            "redirect_uri".into(),
            Value::from("https://evil.example/cb"),
        );
        assert_error(&tpp.par(claims).await, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_without_duplicate_parameters() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let request = tpp
            .signer
            .sign_jwt(tpp.request_claims("openid", &verifier()))
            .unwrap();
        let result = tpp
            .par_form(vec![
                ("request".into(), request.clone()),
                ("request".into(), request),
            ])
            .await;
        assert_error(&result, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_ensure_pkce_required() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let mut claims = tpp.request_claims("openid", &verifier());
        claims.remove("code_challenge");
        claims.remove("code_challenge_method");
        assert_error(&tpp.par(claims).await, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_plain_pkce_rejected() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let mut claims = tpp.request_claims("openid", &verifier());
        claims.insert("code_challenge_method".into(), Value::from("plain"));
        assert_error(&tpp.par(claims).await, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_ensure_pkce_code_verifier_required() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let (code, _, _) = authorised_code(&sandbox, &tpp).await;
        let result = tpp
            .token(&[("grant_type", "authorization_code"), ("code", &code)])
            .await;
        assert_error(&result, 400, "invalid_grant");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_par_incorrect_pkce_code_verifier_rejected() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let (code, _, _) = authorised_code(&sandbox, &tpp).await;
        assert_error(
            &exchange(&tpp, &code, &verifier()).await,
            400,
            "invalid_grant",
        );
    }
}
