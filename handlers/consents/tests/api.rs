//! The consents 3.3.1 operations driven through the `ConsentsApi` trait, with a real
//! `AuthServer` checking tokens minted under the brand's stored MAC key.

mod common;

use std::sync::Arc;

use aberta_auth::config::{AuthConfig, BrandConfig};
use aberta_auth::consent::ConsentStore;
use aberta_auth::identity::StaticUsers;
use aberta_auth::{AuthServer, TokenInfo};
use aberta_runtime::RequestContext;
use aberta_runtime::context::ClientCert;
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use ofb_consents_v3::params;
use ofb_consents_v3::server::*;
use poem::http::{HeaderMap, HeaderValue};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::{Value, json};

const AUTHORITY: &str = "bank.test";
const THUMBPRINT: &str = "test-thumbprint";

struct Api {
    env: Env,
    api: Arc<dyn ConsentsApi>,
    mac: Vec<u8>,
}

fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn api(backend: Backend) -> Api {
    let env = env(backend).await;
    let brand = BrandConfig {
        id: BRAND.to_string(),
        issuer: format!("https://{AUTHORITY}"),
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
    let mac_text = env
        .store
        .secret(BRAND, "access-token-mac")
        .await
        .unwrap()
        .unwrap();
    let mac = URL_SAFE_NO_PAD.decode(mac_text).unwrap();
    let api = aberta_consents::consents_api(env.consents.clone(), auth);
    Api { env, api, mac }
}

impl Api {
    fn mint(&self, info: &TokenInfo) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(info).unwrap());
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.mac);
        let tag = hmac::sign(&key, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn client_token(&self, client_id: &str) -> String {
        self.mint(&TokenInfo {
            brand: BRAND.into(),
            client_id: client_id.into(),
            scope: "consents".into(),
            thumbprint: THUMBPRINT.into(),
            exp: real_now() + 600,
            iat: real_now(),
            jti: uuid::Uuid::new_v4().to_string(),
            grant_id: None,
            subject: None,
            consent_id: None,
        })
    }

    /// An authorization-code token for `consent_id`, with its grant row.
    async fn customer_token(&self, client_id: &str, consent_id: &str) -> String {
        let grant_id = uuid::Uuid::new_v4().to_string();
        aberta_store::entity::grant::Model {
            grant_id: grant_id.clone(),
            brand: BRAND.into(),
            client_id: client_id.into(),
            subject: "user".into(),
            scope: format!("openid consent:{consent_id}"),
            consent_id: Some(consent_id.into()),
            refresh_hash: None,
            claims: "{}".into(),
            expires_at: real_now() + 3600,
            revoked: false,
            created_at: real_now(),
        }
        .into_active_model()
        .insert(self.env.store.connection())
        .await
        .unwrap();
        self.mint(&TokenInfo {
            brand: BRAND.into(),
            client_id: client_id.into(),
            scope: format!("openid consent:{consent_id}"),
            thumbprint: THUMBPRINT.into(),
            exp: real_now() + 600,
            iat: real_now(),
            jti: uuid::Uuid::new_v4().to_string(),
            grant_id: Some(grant_id),
            subject: Some("user".into()),
            consent_id: Some(consent_id.into()),
        })
    }

    async fn post(&self, token: &str, body: Value) -> (u16, Value) {
        let request = ConsentsPostConsentsRequest {
            authorization: params::Authorization(format!("Bearer {token}")),
            x_fapi_auth_date: None,
            x_fapi_customer_ip_address: None,
            x_fapi_interaction_id: interaction(),
            x_customer_user_agent: None,
            body: serde_json::from_value(body).unwrap(),
        };
        use ConsentsPostConsentsResponse as R;
        match self.api.consents_post_consents(ctx(token), request).await {
            R::Created(b, ..) => (201, to_json(&b.0)),
            R::Unauthorized(b) => (401, to_json(&b.0)),
            R::Forbidden(b) => (403, to_json(&b.0)),
            R::UnprocessableEntity(b) => (422, to_json(&b.0)),
            other => panic!("unexpected {other:?}"),
        }
    }

    async fn get(&self, token: &str, id: &str) -> (u16, Value) {
        let request = ConsentsGetConsentsConsentIdRequest {
            consent_id: params::ConsentId(id.into()),
            authorization: params::Authorization(format!("Bearer {token}")),
            x_fapi_auth_date: None,
            x_fapi_customer_ip_address: None,
            x_fapi_interaction_id: interaction(),
            x_customer_user_agent: None,
        };
        use ConsentsGetConsentsConsentIdResponse as R;
        match self
            .api
            .consents_get_consents_consent_id(ctx(token), request)
            .await
        {
            R::Ok(b, ..) => (200, to_json(&b.0)),
            R::Unauthorized(b) => (401, to_json(&b.0)),
            R::Forbidden(b) => (403, to_json(&b.0)),
            R::NotFound(b) => (404, to_json(&b.0)),
            other => panic!("unexpected {other:?}"),
        }
    }

    async fn delete(&self, token: &str, id: &str) -> (u16, Value) {
        let request = ConsentsDeleteConsentsConsentIdRequest {
            consent_id: params::ConsentId(id.into()),
            authorization: params::Authorization(format!("Bearer {token}")),
            x_fapi_auth_date: None,
            x_fapi_customer_ip_address: None,
            x_fapi_interaction_id: interaction(),
            x_customer_user_agent: None,
        };
        use ConsentsDeleteConsentsConsentIdResponse as R;
        match self
            .api
            .consents_delete_consents_consent_id(ctx(token), request)
            .await
        {
            R::NoContent(..) => (204, Value::Null),
            R::Unauthorized(b) => (401, to_json(&b.0)),
            R::Forbidden(b) => (403, to_json(&b.0)),
            R::NotFound(b) => (404, to_json(&b.0)),
            R::UnprocessableEntity(b) => (422, to_json(&b.0)),
            other => panic!("unexpected {other:?}"),
        }
    }

    async fn extend(&self, token: &str, id: &str, body: Value) -> (u16, Value) {
        let request = ConsentsPostConsentsConsentIdExtendsRequest {
            consent_id: params::ConsentId(id.into()),
            authorization: params::Authorization2(format!("Bearer {token}")),
            x_fapi_auth_date: None,
            x_fapi_customer_ip_address: params::XFapiCustomerIpAddress("172.217.22.14".into()),
            x_fapi_interaction_id: interaction(),
            x_customer_user_agent: params::XCustomerUserAgent("Mozilla/5.0".into()),
            body: serde_json::from_value(body).unwrap(),
        };
        use ConsentsPostConsentsConsentIdExtendsResponse as R;
        match self
            .api
            .consents_post_consents_consent_id_extends(ctx(token), request)
            .await
        {
            R::Created(b, ..) => (201, to_json(&b.0)),
            R::Unauthorized(b) => (401, to_json(&b.0)),
            R::Forbidden(b) => (403, to_json(&b.0)),
            R::NotFound(b) => (404, to_json(&b.0)),
            R::UnprocessableEntity(b) => (422, to_json(&b.0)),
            other => panic!("unexpected {other:?}"),
        }
    }

    async fn extensions(&self, token: &str, id: &str) -> (u16, Value) {
        let request = ConsentsGetConsentsConsentIdExtensionsRequest {
            consent_id: params::ConsentId(id.into()),
            authorization: params::Authorization2(format!("Bearer {token}")),
            x_fapi_auth_date: None,
            x_fapi_customer_ip_address: None,
            x_fapi_interaction_id: interaction(),
            x_customer_user_agent: None,
            page: None,
            page_size: None,
        };
        use ConsentsGetConsentsConsentIdExtensionsResponse as R;
        match self
            .api
            .consents_get_consents_consent_id_extensions(ctx(token), request)
            .await
        {
            R::Ok(b, ..) => (200, to_json(&b.0)),
            R::Unauthorized(b) => (401, to_json(&b.0)),
            R::Forbidden(b) => (403, to_json(&b.0)),
            R::NotFound(b) => (404, to_json(&b.0)),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn interaction() -> params::XFapiInteractionId {
    params::XFapiInteractionId(uuid::Uuid::new_v4().to_string())
}

fn ctx(token: &str) -> RequestContext {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(AUTHORITY));
    if !token.is_empty() {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
    }
    RequestContext {
        client_cert: Some(ClientCert {
            der: Arc::from(vec![0u8; 4]),
            thumbprint: THUMBPRINT.into(),
            subject: None,
        }),
        remote_addr: None,
        headers,
        authority: Some(AUTHORITY.into()),
        path: String::new(),
        operation_path: "",
        operation_id: "",
        verified: None,
    }
}

fn create_body(permissions: &[&str], business: Option<&str>, expiry: Option<&str>) -> Value {
    let mut data = json!({
        "loggedUser": {"document": {"identification": CPF, "rel": "CPF"}},
        "permissions": permissions,
    });
    if let Some(cnpj) = business {
        data["businessEntity"] = json!({"document": {"identification": cnpj, "rel": "CNPJ"}});
    }
    if let Some(expiry) = expiry {
        data["expirationDateTime"] = json!(expiry);
    }
    json!({ "data": data })
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap()
}

const EXPIRY: &str = "2028-01-01T00:00:00Z";

#[tokio::test]
async fn the_five_operations() {
    for backend in backends() {
        let t = api(backend).await;
        let client = format!("client-{}", uuid::Uuid::new_v4());
        let token = t.client_token(&client);
        let accounts = ["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", "RESOURCES_READ"];

        // No token, or a customer token: 401 and 403, with the error body and meta.
        let (status, body) = t.post("", create_body(&accounts, None, Some(EXPIRY))).await;
        assert_eq!(status, 401);
        assert!(body["meta"]["requestDateTime"].is_string());

        // Every permission: the products not offered here are dropped.
        let mut every: Vec<&str> = aberta_consents::PermissionGroup::ALL
            .iter()
            .flat_map(|g| g.permissions())
            .filter(|p| !p.starts_with("CUSTOMERS_BUSINESS"))
            .collect();
        every.dedup();
        let (status, created) = t
            .post(&token, create_body(&every, None, Some(EXPIRY)))
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["data"]["consentId"].as_str().unwrap().to_string();
        assert_eq!(created["data"]["status"], "AWAITING_AUTHORISATION");
        assert_eq!(created["data"]["expirationDateTime"], EXPIRY);
        let granted: Vec<&str> = created["data"]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(granted.contains(&"LOANS_READ") && granted.contains(&"RESOURCES_READ"));
        assert!(!granted.contains(&"EXCHANGES_READ") && !granted.contains(&"FUNDS_READ"));
        assert_eq!(
            created["links"]["self"],
            format!("https://{AUTHORITY}/open-banking/consents/v3/consents/{id}")
        );
        assert!(created["meta"]["requestDateTime"].is_string());

        let customer = t.customer_token(&client, &id).await;
        let (status, _) = t
            .post(&customer, create_body(&accounts, None, Some(EXPIRY)))
            .await;
        assert_eq!(status, 403);

        // Business rules: 422 with the spec's code, and nothing stored.
        let before = t
            .env
            .consents
            .find_by_document(CPF, None, None)
            .await
            .unwrap()
            .len();
        for (body, expected) in [
            (
                create_body(
                    &[
                        "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
                        "CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ",
                        "RESOURCES_READ",
                    ],
                    Some(CNPJ),
                    Some(EXPIRY),
                ),
                "PERMISSAO_PF_PJ_EM_CONJUNTO",
            ),
            (
                create_body(
                    &["ACCOUNTS_BALANCES_READ", "RESOURCES_READ"],
                    None,
                    Some(EXPIRY),
                ),
                "COMBINACAO_PERMISSOES_INCORRETA",
            ),
            (
                create_body(
                    &["CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ", "RESOURCES_READ"],
                    None,
                    None,
                ),
                "INFORMACOES_PJ_NAO_INFORMADAS",
            ),
            (
                create_body(&["EXCHANGES_READ", "RESOURCES_READ"], None, Some(EXPIRY)),
                "SEM_PERMISSOES_FUNCIONAIS_RESTANTES",
            ),
            (
                create_body(&accounts, None, Some("2020-01-01T00:00:00Z")),
                "DATA_EXPIRACAO_INVALIDA",
            ),
        ] {
            let (status, body) = t.post(&token, body).await;
            assert_eq!((status, code(&body)), (422, expected));
            assert!(body["meta"]["requestDateTime"].is_string());
        }
        let after = t
            .env
            .consents
            .find_by_document(CPF, None, None)
            .await
            .unwrap()
            .len();
        assert_eq!(before, after);

        // Reading: owner 200, another client 403, unknown 404.
        let (status, read) = t.get(&token, &id).await;
        assert_eq!(status, 200);
        assert_eq!(read["data"]["status"], "AWAITING_AUTHORISATION");
        assert!(read["data"].get("rejection").is_none());
        let stranger = t.client_token("someone-else");
        assert_eq!(t.get(&stranger, &id).await.0, 403);
        assert_eq!(t.delete(&stranger, &id).await.0, 403);
        assert_eq!(t.get(&token, "urn:demo:nope").await.0, 404);

        // The customer authorises at the portal.
        t.env
            .consents
            .authorise(BRAND, &id, &user(CPF), &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.get(&token, &id).await.1["data"]["status"], "AUTHORISED");

        // Renewal: customer token of this consent only, same user, a later date.
        let renewal = |date: &str, cpf: &str| {
            json!({"data": {
                "expirationDateTime": date,
                "loggedUser": {"document": {"identification": cpf, "rel": "CPF"}}
            }})
        };
        let later = "2029-01-01T00:00:00Z";
        assert_eq!(t.extend(&token, &id, renewal(later, CPF)).await.0, 403);
        let other_consent = t.customer_token(&client, "urn:demo:another").await;
        assert_eq!(
            t.extend(&other_consent, &id, renewal(later, CPF)).await.0,
            403
        );
        assert_eq!(
            t.extend(&customer, &id, renewal(later, OTHER_CPF)).await.0,
            403
        );
        let (status, body) = t.extend(&customer, &id, renewal(EXPIRY, CPF)).await;
        assert_eq!((status, code(&body)), (422, "DATA_EXPIRACAO_INVALIDA"));
        let (status, body) = t.extend(&customer, &id, renewal(later, CPF)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["data"]["expirationDateTime"], later);
        assert_eq!(
            t.get(&token, &id).await.1["data"]["expirationDateTime"],
            later
        );
        let (status, list) = t.extensions(&token, &id).await;
        assert_eq!(status, 200);
        assert_eq!(list["meta"]["totalRecords"], 1);
        assert_eq!(list["data"][0]["expirationDateTime"], later);
        assert_eq!(list["data"][0]["previousExpirationDateTime"], EXPIRY);
        assert_eq!(
            list["data"][0]["loggedUser"]["document"]["identification"],
            CPF
        );
        assert_eq!(list["data"][0]["xFapiCustomerIpAddress"], "172.217.22.14");

        // Deleting revokes it and its tokens; a second delete is 422.
        assert_eq!(t.delete(&token, &id).await.0, 204);
        let (_, read) = t.get(&token, &id).await;
        assert_eq!(read["data"]["status"], "REJECTED");
        assert_eq!(read["data"]["rejection"]["rejectedBy"], "USER");
        assert_eq!(
            read["data"]["rejection"]["reason"]["code"],
            "CUSTOMER_MANUALLY_REVOKED"
        );
        assert_eq!(
            t.extend(&customer, &id, renewal("2030-01-01T00:00:00Z", CPF))
                .await
                .0,
            401
        );
        let (status, body) = t.delete(&token, &id).await;
        assert_eq!(
            (status, code(&body)),
            (422, "CONSENTIMENTO_EM_STATUS_REJEITADO"),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn an_expired_consent_reads_rejected_and_cannot_be_deleted() {
    let t = api(Backend::Sqlite).await;
    let client = format!("client-{}", uuid::Uuid::new_v4());
    let token = t.client_token(&client);
    let (_, created) = t
        .post(
            &token,
            create_body(
                &[
                    "ACCOUNTS_READ",
                    "ACCOUNTS_TRANSACTIONS_READ",
                    "RESOURCES_READ",
                ],
                None,
                None,
            ),
        )
        .await;
    let id = created["data"]["consentId"].as_str().unwrap();
    assert!(created["data"].get("expirationDateTime").is_none());
    t.env.clock.advance(3600);
    let (_, read) = t.get(&token, id).await;
    assert_eq!(read["data"]["rejection"]["rejectedBy"], "ASPSP");
    assert_eq!(
        read["data"]["rejection"]["reason"]["code"],
        "CONSENT_EXPIRED"
    );
    assert_eq!(t.delete(&token, id).await.0, 422);
}
