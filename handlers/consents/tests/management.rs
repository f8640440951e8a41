//! The bank's management API: admin token, search by document, detail with history, revoke.

mod common;

use std::sync::Arc;

use aberta_auth::AuthServer;
use aberta_auth::config::{AuthConfig, BrandConfig};
use aberta_auth::consent::ConsentStore;
use aberta_auth::identity::StaticUsers;
use common::*;
use poem::http::{Method, StatusCode};
use poem::{Endpoint, Request};
use serde_json::Value;

const ADMIN: &str = "admin-secret";

async fn call(
    route: &poem::Route,
    method: Method,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri.parse().unwrap());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = route.get_response(request.finish()).await;
    let status = response.status();
    let bytes = response.into_body().into_vec().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn list_detail_and_revoke() {
    for backend in backends() {
        let env = env(backend).await;
        let brand = BrandConfig {
            id: BRAND.to_string(),
            issuer: "https://bank.test".into(),
            display_name: "Demo".into(),
            logo_url: String::new(),
            primary_colour: String::new(),
            accent_colour: String::new(),
            welcome_text: String::new(),
        };
        let auth = AuthServer::new(
            env.store.clone(),
            AuthConfig::new(vec![brand], "https://directory.test/jwks"),
            Arc::new(StaticUsers::new(vec![])),
            env.consents.clone(),
            reqwest::Client::new(),
        )
        .await
        .unwrap();
        let route = aberta_consents::management_routes(env.consents.clone(), auth, ADMIN.into());
        let cpf = format!("{:011}", uuid::Uuid::new_v4().as_u128() % 100_000_000_000);
        let mut new = personal(
            &["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", "RESOURCES_READ"],
            None,
        );
        new.logged_user_cpf = cpf.clone();
        let created = env.consents.create(BRAND, new).await.unwrap();
        let id = created.consent_id.clone();

        let list = format!("/consents?document={cpf}");
        assert_eq!(
            call(&route, Method::GET, &list, None).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&route, Method::GET, &list, Some("wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = call(&route, Method::GET, &list, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body[0]["consent_id"], id.as_str());
        assert!(!body.to_string().contains(&cpf));
        let bad = call(&route, Method::GET, "/consents?document=123", Some(ADMIN)).await;
        assert_eq!(bad.0, StatusCode::BAD_REQUEST);

        // The consent id holds ':' and is one path segment.
        let detail = format!("/consents/{id}");
        let (status, body) = call(&route, Method::GET, &detail, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["history"].as_array().unwrap().len(), 1);

        // Authorised, then revoked by the customer through the bank's channels.
        let mut end_user = user(CPF);
        end_user.cpf = cpf.clone();
        env.consents
            .authorise(BRAND, &id, &end_user, &[])
            .await
            .unwrap()
            .unwrap();
        let (status, body) = call(&route, Method::DELETE, &detail, Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rejected_by"], "USER");
        assert_eq!(body["rejection_reason"], "CUSTOMER_MANUALLY_REVOKED");
        let revoke = format!("/consents/{id}/revoke");
        assert_eq!(
            call(&route, Method::POST, &revoke, Some(ADMIN)).await.0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            events(&env.store, &id).await,
            ["consent.created", "consent.authorised", "consent.revoked"]
        );
        let (_, body) = call(&route, Method::GET, &detail, Some(ADMIN)).await;
        assert_eq!(body["history"].as_array().unwrap().len(), 3);
        assert_eq!(
            body["resources"].as_array().unwrap().len(),
            0,
            "{backend:?}"
        );

        // The bank's own revocation of another consent.
        let mut other = personal(
            &["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", "RESOURCES_READ"],
            None,
        );
        other.logged_user_cpf = cpf.clone();
        let other = env.consents.create(BRAND, other).await.unwrap();
        let (status, body) = call(
            &route,
            Method::POST,
            &format!("/consents/{}/revoke", other.consent_id),
            Some(ADMIN),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["rejected_by"], "ASPSP");
        assert_eq!(body["rejection_reason"], "INTERNAL_SECURITY_REASON");
        let missing = call(
            &route,
            Method::DELETE,
            "/consents/urn:demo:none",
            Some(ADMIN),
        )
        .await;
        assert_eq!(missing.0, StatusCode::NOT_FOUND);
    }
}
