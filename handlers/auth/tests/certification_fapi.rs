//! Negative (and edge) tests named after the OpenID Foundation FAPI1-Advanced-Final (Brazil)
//! test modules of requirements §3.3, each asserting the exact status and `error`; every one
//! runs on SQLite and PostgreSQL.

mod common;

use common::*;
use serde_json::{Value, json};

/// A change to a request object's claims.
type Change = Box<dyn Fn(&mut serde_json::Map<String, Value>)>;

async fn par_with(
    tpp: &Tpp,
    change: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> (u16, Value) {
    let mut claims = tpp.request_claims("openid accounts", &verifier());
    change(&mut claims);
    tpp.par(claims).await
}

#[tokio::test]
async fn fapi1_advanced_final_discovery_end_point_verification() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let doc: Value = tpp
            .http
            .get(&sandbox.contract.discovery_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let issuer = sandbox.issuer();
        assert_eq!(doc["issuer"], issuer);
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "registration_endpoint",
            "pushed_authorization_request_endpoint",
        ] {
            assert!(doc[field].as_str().unwrap().starts_with(issuer), "{field}");
        }
        assert_eq!(doc["response_types_supported"], json!(["code id_token"]));
        assert_eq!(doc["require_pushed_authorization_requests"], true);
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            doc["request_object_signing_alg_values_supported"],
            json!(["PS256"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["private_key_jwt"])
        );
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"],
            json!(["PS256"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["PS256"])
        );
        assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
        assert_eq!(doc["claims_parameter_supported"], true);
        assert!(
            doc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("acr"))
        );
        assert_eq!(
            doc["acr_values_supported"],
            json!(["urn:brasil:openbanking:loa2", "urn:brasil:openbanking:loa3"])
        );
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "client_credentials", "refresh_token"])
        );
        assert_eq!(doc["subject_types_supported"], json!(["public"]));
        for scope in ["openid", "consents", "resources", "payments"] {
            assert!(
                doc["scopes_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(scope)),
                "{scope}"
            );
        }
        for alias in [
            "token_endpoint",
            "registration_endpoint",
            "userinfo_endpoint",
            "pushed_authorization_request_endpoint",
        ] {
            assert!(doc["mtls_endpoint_aliases"][alias].is_string(), "{alias}");
        }
        let jwks: Value = tpp
            .http
            .get(doc["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"][0]["alg"], "PS256");
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "private key material published"
        );
    }
}

#[tokio::test]
async fn fapi1_advanced_final_user_rejects_authentication() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let (cpf, password) = sandbox.user();
        let consent_id = sandbox.consent(&tpp, &cpf).await;
        let claims = tpp.request_claims(
            &format!("openid accounts consent:{consent_id}"),
            &verifier(),
        );
        let state = claims["state"].as_str().unwrap().to_string();
        let (_, par) = tpp.par(claims).await;
        let fragment = authorize_as_user(
            &sandbox,
            &tpp,
            par["request_uri"].as_str().unwrap(),
            (&cpf, &password),
            false,
        )
        .await;
        assert_eq!(
            fragment.get("error").map(String::as_str),
            Some("access_denied")
        );
        assert_eq!(fragment.get("state"), Some(&state));
        assert!(!fragment.contains_key("code"));
        let consent = sandbox
            .holder
            .server
            .store()
            .consent(&sandbox.contract.holder.brand, &consent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(consent.status, "REJECTED");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_multiple_aud_succeeds() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let issuer = tpp.issuer.clone();
        let (status, body) = par_with(&tpp, |c| {
            c.insert("aud".into(), json!([issuer, "https://other.example"]));
        })
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_authorization_request_without_state_success() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let verifier = verifier();
        let mut claims = tpp.request_claims("openid accounts", &verifier);
        claims.remove("state");
        let (_, par) = tpp.par(claims).await;
        let (cpf, password) = sandbox.user();
        let fragment = authorize_as_user(
            &sandbox,
            &tpp,
            par["request_uri"].as_str().unwrap(),
            (&cpf, &password),
            true,
        )
        .await;
        assert!(!fragment.contains_key("state"));
        let id_token = tpp.open_id_token(&fragment["id_token"]).await;
        assert!(id_token.get("s_hash").is_none());
        assert_eq!(exchange(&tpp, &fragment["code"], &verifier).await.0, 200);
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_other_scope_order_succeeds() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let (status, body) = par_with(&tpp, |c| {
            c.insert("scope".into(), json!("accounts openid"));
        })
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_response_mode_query() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let result = par_with(&tpp, |c| {
            c.insert("response_mode".into(), json!("query"));
        })
        .await;
        assert_error(&result, 400, "invalid_request_object");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_registered_redirect_uri() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let result = par_with(&tpp, |c| {
            c.insert("redirect_uri".into(), json!("https://attacker.example/cb"));
        })
        .await;
        assert_error(&result, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_request_object_claim_rules() {
    // One test per module name would repeat the set-up; each case names its module.
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let issuer = tpp.issuer.clone();
        let cases: Vec<(&str, Change)> = vec![
            (
                "ensure-request-object-without-exp-fails",
                Box::new(|c| {
                    c.remove("exp");
                }),
            ),
            (
                "ensure-request-object-without-nbf-fails",
                Box::new(|c| {
                    c.remove("nbf");
                }),
            ),
            (
                "ensure-expired-request-object-fails",
                Box::new(|c| {
                    c.insert("exp".into(), json!(now() - 10));
                    c.insert("nbf".into(), json!(now() - 600));
                }),
            ),
            (
                "ensure-request-object-with-bad-aud-fails",
                Box::new(|c| {
                    c.insert("aud".into(), json!("https://other.example"));
                }),
            ),
            (
                "ensure-request-object-with-exp-over-60-fails",
                Box::new(|c| {
                    c.insert("exp".into(), json!(now() + 3700));
                }),
            ),
            (
                "ensure-request-object-with-nbf-over-60-fails",
                Box::new(|c| {
                    c.insert("nbf".into(), json!(now() - 3700));
                }),
            ),
            (
                "ensure-request-object-without-scope-fails",
                Box::new(|c| {
                    c.remove("scope");
                }),
            ),
            (
                "ensure-request-object-without-nonce-fails",
                Box::new(|c| {
                    c.remove("nonce");
                }),
            ),
            (
                "ensure-request-object-without-redirect-uri-fails",
                Box::new(|c| {
                    c.remove("redirect_uri");
                }),
            ),
            (
                "ensure-response-type-code-fails",
                Box::new(|c| {
                    c.insert("response_type".into(), json!("code"));
                }),
            ),
            (
                "par-authorization-request-containing-request_uri",
                Box::new(|c| {
                    c.insert(
                        "request_uri".into(),
                        json!("urn:ietf:params:oauth:request_uri:x"),
                    );
                }),
            ),
            (
                "par-pushed-authorization-url-as-audience-in-request-object",
                Box::new(move |c| {
                    c.insert("aud".into(), json!(format!("{issuer}/par")));
                }),
            ),
        ];
        for (module, change) in cases {
            let result = par_with(&tpp, |c| change(c)).await;
            assert_eq!(
                (result.0, result.1["error"].as_str()),
                (400, Some("invalid_request_object")),
                "{module}: {}",
                result.1
            );
        }
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_signed_request_object_with_rs256_fails() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let files = aberta_ecosystem::registry::Registry::new(sandbox.dir.path())
            .key_files(&tpp.org_id, &tpp.software_id)
            .unwrap();
        let mut jwk = aberta_ecosystem::keys::load(&files.signing_jwk).unwrap();
        jwk.set_algorithm("RS256");
        let signer = josekit::jws::RS256.signer_from_jwk(&jwk).unwrap();
        let mut header = josekit::jws::JwsHeader::new();
        header.set_key_id(jwk.key_id().unwrap());
        let payload =
            josekit::jwt::JwtPayload::from_map(tpp.request_claims("openid", &verifier())).unwrap();
        let request = josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        let result = tpp.par_form(vec![("request".into(), request)]).await;
        assert_error(&result, 400, "invalid_request_object");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_signature_algorithm_is_not_none() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let claims = Value::Object(tpp.request_claims("openid", &verifier()));
        let request = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(claims.to_string().as_bytes())
        );
        let result = tpp.par_form(vec![("request".into(), request)]).await;
        assert_error(&result, 400, "invalid_request_object");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_request_object_with_invalid_signature_fails() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let request = tpp
            .signer
            .sign_jwt(tpp.request_claims("openid", &verifier()))
            .unwrap();
        let (head, _) = request.rsplit_once('.').unwrap();
        let tampered = format!("{head}.{}", b64(&[7u8; 256]));
        let result = tpp.par_form(vec![("request".into(), tampered)]).await;
        assert_error(&result, 400, "invalid_request_object");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_matching_key_in_authorization_request() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let other = sandbox.new_tpp(&["DADOS"]);
        let request = other
            .signer
            .sign_jwt(tpp.request_claims("openid", &verifier()))
            .unwrap();
        let result = tpp.par_form(vec![("request".into(), request)]).await;
        assert_error(&result, 400, "invalid_request_object");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_authorization_request_without_request_object_fails() {
    for backend in backends() {
        let (_sandbox, tpp) = ready(backend).await;
        let result = tpp
            .par_form(vec![
                ("scope".into(), "openid".into()),
                ("response_type".into(), "code id_token".into()),
            ])
            .await;
        assert_error(&result, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_client_id_in_token_endpoint() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let other = sandbox.new_tpp(&["DADOS"]);
        let (code, verifier, _) = authorised_code(&sandbox, &tpp).await;
        let result = tpp
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("client_id", &other.software_id),
            ])
            .await;
        assert_error(&result, 400, "invalid_client");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_authorization_code_is_bound_to_client() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let mut other = sandbox.new_tpp(&["DADOS"]);
        sandbox.register(&mut other).await;
        let (code, verifier, _) = authorised_code(&sandbox, &tpp).await;
        let result = other
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_error(&result, 400, "invalid_grant");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_attempt_reuse_authorisation_code_after_one_second() {
    // The suite waits a second first; what matters is the second use, so this does not wait.
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let (code, verifier, _) = authorised_code(&sandbox, &tpp).await;
        let (status, tokens) = exchange(&tpp, &code, &verifier).await;
        assert_eq!(status, 200);
        assert_error(
            &exchange(&tpp, &code, &verifier).await,
            400,
            "invalid_grant",
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let result = tpp
            .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await;
        assert_error(&result, 400, "invalid_grant");
        let access = tokens["access_token"].as_str().unwrap();
        let info = sandbox
            .holder
            .server
            .introspect_token(&sandbox.contract.holder.brand, access)
            .await
            .unwrap();
        assert!(info.is_none(), "the replay revoked the access token");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_mtls_holder_of_key_required() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let form = [
            ("grant_type", "client_credentials".to_string()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", tpp.assertion()),
        ];
        let resp = browser(&sandbox.contract)
            .post(format!("{}/token", sandbox.issuer()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_error(&(status, body), 400, "invalid_client");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_client_assertion_rules() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let id = tpp.client_id().to_string();
        let issuer = sandbox.issuer().to_string();
        let base = |aud: Value| json!({ "iss": id, "sub": id, "aud": aud, "jti": uuid::Uuid::new_v4().to_string(), "iat": now(), "exp": now() + 60 });
        let mut cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
            (
                "ensure-client-assertion-with-iss-aud-succeeds",
                base(json!(issuer)),
                200,
                None,
            ),
            (
                "ensure-client-assertion-in-token-endpoint",
                base(json!(format!("{issuer}/token"))),
                200,
                None,
            ),
            (
                "client-assertion-aud-as-array",
                base(json!(["https://x.example", issuer])),
                200,
                None,
            ),
            (
                "ensure-client-assertion-with-wrong-aud-fails",
                base(json!("https://other.example")),
                400,
                Some("invalid_client"),
            ),
        ];
        let mut expired = base(json!(issuer));
        expired["exp"] = json!(now() - 300);
        cases.push((
            "ensure-client-assertion-with-exp-is-5-minutes-in-past-fails",
            expired,
            400,
            Some("invalid_client"),
        ));
        let mut no_sub = base(json!(issuer));
        no_sub.as_object_mut().unwrap().remove("sub");
        cases.push((
            "ensure-client-assertion-with-no-sub-fails",
            no_sub,
            400,
            Some("invalid_client"),
        ));
        let mut wrong_iss = base(json!(issuer));
        wrong_iss["iss"] = json!("someone-else");
        cases.push((
            "ensure-client-assertion-with-wrong-iss-fails",
            wrong_iss,
            400,
            Some("invalid_client"),
        ));
        let mut wrong_sub = base(json!(issuer));
        wrong_sub["sub"] = json!("someone-else");
        cases.push((
            "ensure-client-assertion-with-wrong-sub-fails",
            wrong_sub,
            400,
            Some("invalid_client"),
        ));
        for (module, claims, want_status, want_error) in cases {
            let form = [
                ("grant_type", "client_credentials".to_string()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                ),
                ("client_assertion", tpp.sign(claims)),
            ];
            let pairs: Vec<(String, String)> = form
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            let (status, body) = tpp.post_form("/token", &pairs).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (want_status, want_error),
                "{module}: {body}"
            );
        }
        // RS256-signed assertion.
        let files = aberta_ecosystem::registry::Registry::new(sandbox.dir.path())
            .key_files(&tpp.org_id, &tpp.software_id)
            .unwrap();
        let mut jwk = aberta_ecosystem::keys::load(&files.signing_jwk).unwrap();
        jwk.set_algorithm("RS256");
        let signer = josekit::jws::RS256.signer_from_jwk(&jwk).unwrap();
        let Value::Object(map) = base(json!(issuer)) else {
            unreachable!()
        };
        let assertion = josekit::jwt::encode_with_signer(
            &josekit::jwt::JwtPayload::from_map(map).unwrap(),
            &josekit::jws::JwsHeader::new(),
            &signer,
        )
        .unwrap();
        let pairs = vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            (
                "client_assertion_type".to_string(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion".to_string(), assertion),
        ];
        assert_error(
            &tpp.post_form("/token", &pairs).await,
            400,
            "invalid_client",
        );
    }
}

#[tokio::test]
async fn fapi1_advanced_final_refresh_token() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let mut other = sandbox.new_tpp(&["DADOS"]);
        sandbox.register(&mut other).await;
        let (code, verifier, _) = authorised_code(&sandbox, &tpp).await;
        let (status, tokens) = exchange(&tpp, &code, &verifier).await;
        assert_eq!(status, 200);
        let refresh = tokens["refresh_token"]
            .as_str()
            .expect("a refresh token is mandatory in Brazil");
        let result = other
            .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await;
        assert_error(&result, 400, "invalid_grant");
        let (status, again) = tpp
            .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await;
        assert_eq!(status, 200);
        assert_eq!(again["refresh_token"], refresh, "no rotation");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_ensure_server_handles_non_matching_intent_id() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let mut other = sandbox.new_tpp(&["DADOS"]);
        sandbox.register(&mut other).await;
        let (cpf, _) = sandbox.user();
        let consent_id = sandbox.consent(&tpp, &cpf).await;
        let claims = other.request_claims(
            &format!("openid accounts consent:{consent_id}"),
            &verifier(),
        );
        assert_error(&other.par(claims).await, 400, "invalid_request");
    }
}

#[tokio::test]
async fn fapi1_advanced_final_consent_of_another_user_is_access_denied() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let other_user = &sandbox.contract.users[1];
        let (cpf, password) = sandbox.user();
        let consent_id = sandbox.consent(&tpp, &other_user.cpf).await;
        let (_, par) = tpp
            .par(tpp.request_claims(
                &format!("openid accounts consent:{consent_id}"),
                &verifier(),
            ))
            .await;
        let fragment = authorize_as_user(
            &sandbox,
            &tpp,
            par["request_uri"].as_str().unwrap(),
            (&cpf, &password),
            true,
        )
        .await;
        assert_eq!(
            fragment.get("error").map(String::as_str),
            Some("access_denied")
        );
    }
}

#[tokio::test]
async fn fapi1_advanced_final_acr_reflects_the_login() {
    for backend in backends() {
        let (sandbox, tpp) = ready(backend).await;
        let (cpf, password) = sandbox.user();
        // Accepting loa2 or loa3 from a single-factor login: loa2.
        let mut claims = tpp.request_claims("openid", &verifier());
        claims.insert(
            "claims".into(),
            json!({ "id_token": { "acr": { "essential": true, "values": [LOA2, "urn:brasil:openbanking:loa3"] } } }),
        );
        let (_, par) = tpp.par(claims).await;
        let fragment = authorize_as_user(
            &sandbox,
            &tpp,
            par["request_uri"].as_str().unwrap(),
            (&cpf, &password),
            true,
        )
        .await;
        assert_eq!(tpp.open_id_token(&fragment["id_token"]).await["acr"], LOA2);
        // Accepting loa3 only: the sandbox's one-factor login cannot give it.
        let mut claims = tpp.request_claims("openid", &verifier());
        claims.insert(
            "claims".into(),
            json!({ "id_token": { "acr": { "essential": true, "values": ["urn:brasil:openbanking:loa3"] } } }),
        );
        let (_, par) = tpp.par(claims).await;
        let fragment = authorize_as_user(
            &sandbox,
            &tpp,
            par["request_uri"].as_str().unwrap(),
            (&cpf, &password),
            true,
        )
        .await;
        assert_eq!(
            fragment.get("error").map(String::as_str),
            Some("access_denied")
        );
    }
}
