//! The directory simulator over real mutual TLS: participants, token, SSA, keystore, admin
//! calls, and the documented errors for bad input.

mod common;

use josekit::jwk::JwkSet;
use josekit::jws::PS256;
use serde_json::{Value, json};

use common::{anonymous_client, holder_client, ssa_url, start, token, tpp_client};

#[tokio::test]
async fn participants_payload_parses_with_the_generated_model() {
    let eco = start().await;
    let resp = tpp_client(&eco.contract)
        .get(&eco.contract.directory.participants_url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    let orgs = aberta_runtime::parse_json::<
        Vec<ofb_participants_v1::models::OrganisationExportOpenData>,
    >(&bytes)
    .unwrap();
    assert_eq!(orgs.len(), 2);
    let holder = orgs
        .iter()
        .find(|o| {
            o.organisation_id.as_ref().map(|i| i.0.as_str())
                == Some(eco.contract.holder.org_id.as_str())
        })
        .expect("the demo bank is listed");
    let servers = &holder.authorisation_servers.as_ref().unwrap().0;
    assert_eq!(servers.len(), 1);
    assert_eq!(
        servers[0].open_id_discovery_document.as_deref(),
        Some(eco.contract.discovery_url.as_str())
    );
    let families: Vec<&str> = servers[0]
        .api_resources
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|r| r.api_family_type.as_ref().map(|f| f.0.as_str()))
        .collect();
    assert!(families.contains(&"consents") && families.contains(&"payments-pix"));
    let tpp = orgs
        .iter()
        .find(|o| {
            o.organisation_id.as_ref().map(|i| i.0.as_str())
                == Some(eco.contract.tpp.org_id.as_str())
        })
        .expect("the TPP is listed");
    let roles: Vec<&str> = tpp
        .org_domain_role_claims
        .as_ref()
        .unwrap()
        .0
        .iter()
        .filter_map(|c| c.role.as_deref())
        .collect();
    assert_eq!(roles, ["DADOS", "PAGTO"]);
}

#[tokio::test]
async fn ssa_fetched_over_mtls_verifies_against_the_directory_jwks() {
    let eco = start().await;
    let c = &eco.contract;
    let client = tpp_client(c);
    let access = token(&client, &c.directory.token_url, "directory:software").await;
    let resp = client
        .get(ssa_url(c, &c.tpp.org_id, &c.tpp.software_id))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/jwt");
    let ssa = resp.text().await.unwrap();

    let jwks_text = client
        .get(&c.directory.directory_jwks_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks = JwkSet::from_bytes(jwks_text.as_bytes()).unwrap();
    let header = josekit::jwt::decode_header(&ssa).unwrap();
    assert_eq!(header.claim("alg"), Some(&json!("PS256")));
    let kid = header.claim("kid").unwrap().as_str().unwrap().to_string();
    let jwk = jwks.get(&kid)[0];
    let verifier = PS256.verifier_from_jwk(jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(&ssa, &verifier).unwrap();
    let claims = payload.claims_set();

    assert_eq!(claims["software_id"], json!(c.tpp.software_id));
    assert_eq!(claims["org_id"], json!(c.tpp.org_id));
    assert_eq!(claims["software_roles"], json!(["DADOS", "PAGTO"]));
    assert_eq!(claims["software_redirect_uris"], json!(c.tpp.redirect_uris));
    assert_eq!(
        claims["software_api_webhook_uris"],
        json!(c.tpp.webhook_uris)
    );
    assert_eq!(
        claims["software_jwks_uri"],
        json!(format!(
            "{}/{}/{}/application.jwks",
            c.directory.keystore_url, c.tpp.org_id, c.tpp.software_id
        ))
    );
    for claim in [
        "iss",
        "iat",
        "jti",
        "software_mode",
        "software_statement_roles",
        "software_client_name",
        "org_status",
        "software_client_id",
        "software_jwks_inactive_uri",
        "software_jwks_transport_uri",
        "software_jwks_transport_inactive_uri",
        "org_number",
        "org_name",
        "software_environment",
        "software_version",
        "organisation_competent_authority_claims",
    ] {
        assert!(claims.contains_key(claim), "SSA lacks {claim}");
    }
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - iat).abs() < 300,
        "iat is fresh"
    );
}

#[tokio::test]
async fn software_keystore_holds_the_signing_and_encryption_keys() {
    let eco = start().await;
    let c = &eco.contract;
    let url = format!(
        "{}/{}/{}/application.jwks",
        c.directory.keystore_url, c.tpp.org_id, c.tpp.software_id
    );
    let set: Value = tpp_client(c)
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = set["keys"].as_array().unwrap();
    let sig: Value = serde_json::from_slice(&std::fs::read(&c.tpp.signing_jwk).unwrap()).unwrap();
    let enc: Value =
        serde_json::from_slice(&std::fs::read(&c.tpp.encryption_jwk).unwrap()).unwrap();
    assert!(
        sig.get("d").is_some() && enc.get("d").is_some(),
        "the files hold private keys"
    );
    let by_kid = |kid: &Value| keys.iter().find(|k| &k["kid"] == kid).cloned().unwrap();
    let served_sig = by_kid(&sig["kid"]);
    assert_eq!(served_sig["use"], "sig");
    assert_eq!(served_sig["alg"], "PS256");
    assert_eq!(served_sig["n"], sig["n"]);
    assert!(served_sig.get("d").is_none(), "no private part is served");
    assert!(served_sig["x5c"].as_array().is_some_and(|c| c.len() == 2));
    let served_enc = by_kid(&enc["kid"]);
    assert_eq!(served_enc["use"], "enc");
    assert_eq!(served_enc["alg"], "RSA-OAEP");

    let transport = format!(
        "{}/{}/{}/transport.jwks",
        c.directory.keystore_url, c.tpp.org_id, c.tpp.software_id
    );
    let set: Value = tpp_client(c)
        .get(transport)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["keys"][0]["use"], "tls");
    let inactive = format!(
        "{}/{}/{}/inactive/application.jwks",
        c.directory.keystore_url, c.tpp.org_id, c.tpp.software_id
    );
    let set: Value = tpp_client(c)
        .get(inactive)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["keys"], json!([]));
    let org = format!(
        "{}/{}/application.jwks",
        c.directory.keystore_url, c.tpp.org_id
    );
    let set: Value = tpp_client(c)
        .get(org)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn participants_keystore_and_discovery_are_served_without_a_certificate() {
    let eco = start().await;
    let c = &eco.contract;
    let client = anonymous_client(c);
    let resp = client
        .get(&c.directory.participants_url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let orgs: Value = resp.json().await.unwrap();
    assert_eq!(orgs.as_array().unwrap().len(), 2);
    let resp = client
        .get(&c.directory.directory_jwks_url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = JwkSet::from_bytes(resp.bytes().await.unwrap()).unwrap();
    assert_eq!(set.keys().len(), 1);
    let resp = client
        .get(format!(
            "{}/{}/{}/transport.jwks",
            c.directory.keystore_url, c.tpp.org_id, c.tpp.software_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client
        .get(format!(
            "{}/.well-known/openid-configuration",
            c.directory.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn calls_that_need_mutual_tls_refuse_a_client_without_a_certificate() {
    let eco = start().await;
    let c = &eco.contract;
    let client = anonymous_client(c);
    let resp = client
        .post(&c.directory.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=directory%3Asoftware")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // A token taken with the certificate is of no use without it.
    let access = token(&tpp_client(c), &c.directory.token_url, "directory:software").await;
    let resp = client
        .get(ssa_url(c, &c.tpp.org_id, &c.tpp.software_id))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The admin calls too, even with the admin token.
    let resp = client
        .post(format!("{}/admin/organisations", c.directory.base_url))
        .bearer_auth(eco.admin_token())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let eco = start().await;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["rogue".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).unwrap();
    let client = common::client_with(
        &eco.contract,
        &dir.path().join("c.pem"),
        &dir.path().join("k.pem"),
    );
    let result = client
        .get(&eco.contract.directory.participants_url)
        .send()
        .await;
    assert!(
        result.is_err(),
        "an untrusted client certificate must fail the handshake"
    );
}

#[tokio::test]
async fn an_expired_certificate_from_the_sandbox_ca_is_refused() {
    let eco = start().await;
    // Issued by the sandbox's own issuing CA, with the right attributes' shape, but expired.
    let pki = std::path::Path::new(&eco.contract.ca_bundle)
        .parent()
        .unwrap();
    let ca_pem = std::fs::read_to_string(pki.join("issuing-ca.pem")).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(pki.join("issuing-ca.key.pem")).unwrap())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "expired TPP");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).unwrap();
    let client = common::client_with(
        &eco.contract,
        &dir.path().join("c.pem"),
        &dir.path().join("k.pem"),
    );
    let result = client
        .get(&eco.contract.directory.participants_url)
        .send()
        .await;
    assert!(
        result.is_err(),
        "an expired client certificate must fail the handshake"
    );
}

#[tokio::test]
async fn unknown_organisation_or_software_is_a_404_json_error() {
    let eco = start().await;
    let c = &eco.contract;
    let client = tpp_client(c);
    let access = token(&client, &c.directory.token_url, "directory:software").await;
    for url in [
        ssa_url(
            c,
            "00000000-0000-0000-0000-000000000000",
            &c.tpp.software_id,
        ),
        ssa_url(c, &c.tpp.org_id, "00000000-0000-0000-0000-000000000000"),
        ssa_url(c, "a.b", &c.tpp.software_id),
        format!("{}/no/such/route", c.directory.base_url),
        format!("{}/unknown-org/application.jwks", c.directory.keystore_url),
        format!(
            "{}/{}/unknown/transport.jwks",
            c.directory.keystore_url, c.tpp.org_id
        ),
    ] {
        let resp = client.get(&url).bearer_auth(&access).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "NOT_FOUND", "{url}");
    }
}

#[tokio::test]
async fn ssa_requests_without_a_valid_token_are_refused() {
    let eco = start().await;
    let c = &eco.contract;
    let client = tpp_client(c);
    let url = ssa_url(c, &c.tpp.org_id, &c.tpp.software_id);

    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401, "no token");

    let access = token(&client, &c.directory.token_url, "directory:software").await;
    let mut tampered = access.clone().into_bytes();
    let middle = access.find('.').unwrap() + 5;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let resp = client
        .get(&url)
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "tampered token");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    let resp = holder_client(c)
        .get(&url)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "token presented with another certificate"
    );

    let holder = holder_client(c);
    let holder_token = token(&holder, &c.directory.token_url, "directory:software").await;
    let resp = holder
        .get(&url)
        .bearer_auth(&holder_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        403,
        "another organisation's software statement"
    );
}

#[tokio::test]
async fn token_endpoint_refuses_bad_requests() {
    let eco = start().await;
    let c = &eco.contract;
    let client = tpp_client(c);
    let post = |body: &'static str| {
        client
            .post(&c.directory.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let resp = post("grant_type=password").await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let resp = post("grant_type=client_credentials&scope=openid")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let resp = post("grant_type=client_credentials&client_id=someone-else")
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn a_rotated_out_certificate_no_longer_gets_tokens() {
    let eco = start().await;
    let c = eco.contract.clone();
    let old = eco.dir.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::copy(&c.tpp.transport_cert, old.join("cert.pem")).unwrap();
    std::fs::copy(&c.tpp.transport_key, old.join("key.pem")).unwrap();

    let data = eco.data().to_path_buf();
    let (org, sw) = (c.tpp.org_id.clone(), c.tpp.software_id.clone());
    tokio::task::spawn_blocking(move || {
        let pki = aberta_ecosystem::pki::Pki::open_or_create(&data).unwrap();
        aberta_ecosystem::registry::Registry::new(&data)
            .rotate_software_keys(&pki, &org, &sw)
            .unwrap();
    })
    .await
    .unwrap();

    let old_client = common::client_with(&c, &old.join("cert.pem"), &old.join("key.pem"));
    let resp = old_client
        .post(&c.directory.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    token(
        &tpp_client(&c),
        &c.directory.token_url,
        "directory:software",
    )
    .await;

    let inactive = format!(
        "{}/{}/{}/inactive/transport.jwks",
        c.directory.keystore_url, c.tpp.org_id, c.tpp.software_id
    );
    let set: Value = tpp_client(&c)
        .get(inactive)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn admin_calls_register_an_organisation_and_a_software_statement() {
    let eco = start().await;
    let c = &eco.contract;
    let client = tpp_client(c);
    let admin = eco.admin_token();
    let url = format!("{}/organisations", c.directory.admin_url);
    let org = json!({"name": "Outra Fintech", "cnpj": "33444555000190", "roles": ["PAGTO"]});

    let resp = client.post(&url).json(&org).send().await.unwrap();
    assert_eq!(resp.status(), 401, "no admin token");
    let resp = client
        .post(&url)
        .bearer_auth(&admin)
        .json(&json!({"name": "x", "cnpj": "12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "bad CNPJ");

    let resp = client
        .post(&url)
        .bearer_auth(&admin)
        .json(&org)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let org_id = created["org_id"].as_str().unwrap().to_string();

    let sw_url = format!(
        "{}/organisations/{org_id}/softwarestatements",
        c.directory.admin_url
    );
    let software = json!({"client_name": "Outra App", "roles": ["PAGTO"], "redirect_uris": ["https://outra.localhost/cb"]});
    let resp = client
        .post(&sw_url)
        .bearer_auth(&admin)
        .json(&software)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let software_id = created["software"]["software_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cert = std::path::PathBuf::from(created["keys"]["transport_cert"].as_str().unwrap());
    let key = std::path::PathBuf::from(created["keys"]["transport_key"].as_str().unwrap());

    let bad_role = json!({"client_name": "x", "roles": ["DADOS"], "redirect_uris": []});
    let resp = client
        .post(&sw_url)
        .bearer_auth(&admin)
        .json(&bad_role)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "a role the organisation does not hold");
    let unknown = format!(
        "{}/organisations/nope/softwarestatements",
        c.directory.admin_url
    );
    let resp = client
        .post(&unknown)
        .bearer_auth(&admin)
        .json(&software)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let new_client = common::client_with(c, &cert, &key);
    let access = token(&new_client, &c.directory.token_url, "directory:software").await;
    let resp = new_client
        .get(ssa_url(c, &org_id, &software_id))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_directory_publishes_its_discovery_document() {
    let eco = start().await;
    let c = &eco.contract;
    let client = tpp_client(c);
    let resp = client
        .get(format!(
            "{}/.well-known/openid-configuration",
            c.directory.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(doc["issuer"], json!(c.directory.base_url));
    assert_eq!(doc["token_endpoint"], json!(c.directory.token_url));
    assert_eq!(
        doc["mtls_endpoint_aliases"]["token_endpoint"],
        json!(c.directory.token_url)
    );
    assert_eq!(doc["jwks_uri"], json!(c.directory.directory_jwks_url));
    // What it names works: a token from the token endpoint it gives.
    let access = token(
        &client,
        doc["token_endpoint"].as_str().unwrap(),
        "directory:software",
    )
    .await;
    assert!(!access.is_empty());
}
