//! The whole journey of a TPP against the sandbox over real TLS, on SQLite and PostgreSQL:
//! DCR with a fresh SSA, PAR, login and approval through the portal's forms, code exchange,
//! id_token decryption and validation, userinfo, introspection, refresh, DCM (PUT with a
//! changed redirect URI), DELETE.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn full_journey_sqlite() {
    journey(Backend::Sqlite).await;
}

#[tokio::test]
async fn full_journey_postgres() {
    backends();
    journey(Backend::Postgres).await;
}

async fn journey(backend: Backend) {
    let sandbox = start(backend).await;
    let mut tpp = sandbox.new_tpp(&["DADOS", "PAGTO"]);

    // Discovery.
    let discovery: Value = tpp
        .http
        .get(&sandbox.contract.discovery_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], sandbox.issuer());
    assert_eq!(discovery["require_pushed_authorization_requests"], true);

    // DCR.
    let registered = sandbox.register(&mut tpp).await;
    assert_eq!(registered["redirect_uris"], json!([tpp.redirect_uris[0]]));
    assert!(registered["scope"].as_str().unwrap().contains("accounts"));
    let client_uri = registered["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        client_uri,
        format!("{}/register/{}", sandbox.issuer(), tpp.client_id())
    );

    // PAR.
    let (cpf, password) = sandbox.user();
    let consent_id = sandbox.consent(&tpp, &cpf).await;
    let verifier = format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let claims = tpp.request_claims(&format!("openid accounts consent:{consent_id}"), &verifier);
    let state = claims["state"].as_str().unwrap().to_string();
    let nonce = claims["nonce"].as_str().unwrap().to_string();
    let (status, par) = tpp.par(claims).await;
    assert_eq!(status, 201, "{par}");
    assert!(par["expires_in"].as_i64().unwrap() >= 60);
    let request_uri = par["request_uri"].as_str().unwrap();

    // Portal.
    let fragment = authorize_as_user(&sandbox, &tpp, request_uri, (&cpf, &password), true).await;
    assert_eq!(fragment.get("state"), Some(&state));
    let code = fragment["code"].clone();
    let id_token = tpp.open_id_token(&fragment["id_token"]).await;
    assert_eq!(id_token["iss"], sandbox.issuer());
    assert_eq!(id_token["aud"], tpp.client_id());
    assert_eq!(id_token["nonce"], nonce.as_str());
    assert_eq!(id_token["acr"], LOA2);
    assert_eq!(id_token["c_hash"], half_hash(&code).as_str());
    assert_eq!(id_token["s_hash"], half_hash(&state).as_str());
    assert!(
        !id_token["sub"].as_str().unwrap().contains(&cpf),
        "sub must not be the CPF"
    );

    // Code exchange.
    let (status, tokens) = tpp
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &tpp.redirect_uris[0]),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(status, 200, "{tokens}");
    let expires_in = tokens["expires_in"].as_i64().unwrap();
    assert!((300..=900).contains(&expires_in));
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let back = tpp
        .verify_id_token(tokens["id_token"].as_str().unwrap())
        .await;
    assert_eq!(back["sub"], id_token["sub"]);

    // Userinfo with the bound token; refused from another certificate.
    let resp = tpp
        .http
        .get(format!("{}/userinfo", sandbox.issuer()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let info: Value = resp.json().await.unwrap();
    assert_eq!(info["sub"], id_token["sub"]);
    let other = sandbox.new_tpp(&["DADOS"]);
    let resp = other
        .http
        .get(format!("{}/userinfo", sandbox.issuer()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "token used with another certificate");

    // Introspection.
    let (status, intro) = tpp
        .post_form(
            "/introspect",
            &[
                ("token".into(), access.clone()),
                (
                    "client_assertion_type".into(),
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ),
                ("client_assertion".into(), tpp.assertion()),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(intro["active"], true);
    assert_eq!(intro["consent_id"], consent_id.as_str());

    // Refresh without rotation.
    let (status, refreshed) = tpp
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["refresh_token"], refresh.as_str());
    assert_ne!(refreshed["access_token"], access.as_str());

    // client_credentials.
    let (status, cc) = tpp
        .token(&[("grant_type", "client_credentials"), ("scope", "consents")])
        .await;
    assert_eq!(status, 200, "{cc}");
    assert_eq!(cc["scope"], "consents");

    // Consent revocation revokes the refresh token and the access tokens of the grant.
    sandbox
        .holder
        .server
        .revoke_consent(&sandbox.contract.holder.brand, &consent_id)
        .await
        .unwrap();
    let (status, body) = tpp
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // DCM: GET returns the same registration access token; PUT changes the redirect URI.
    let rat = tpp.rat.clone().unwrap();
    let resp = tpp
        .http
        .get(&client_uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got: Value = resp.json().await.unwrap();
    assert_eq!(got["registration_access_token"], rat.as_str());
    assert_eq!(got["client_id"], tpp.client_id());
    let ssa = sandbox.ssa(&tpp).await;
    let mut body = registration_body(&ssa, &tpp);
    body["redirect_uris"] = json!([tpp.redirect_uris[1]]);
    let resp = tpp
        .http
        .put(&client_uri)
        .bearer_auth(&rat)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["redirect_uris"], json!([tpp.redirect_uris[1]]));
    assert_eq!(updated["registration_access_token"], rat.as_str());
    tpp.redirect_uris.swap(0, 1);
    let claims = tpp.request_claims("openid", &verifier);
    let (status, par) = tpp.par(claims).await;
    assert_eq!(status, 201, "the new redirect URI works: {par}");

    // DELETE; then GET is 401 and the token endpoint refuses the client.
    let resp = tpp
        .http
        .delete(&client_uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = tpp
        .http
        .get(&client_uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, body) = tpp.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    sandbox.holder.listener.shutdown().await;
}

/// The portal's session is bound to the browser that opened `/authorize`: another browser
/// given the same session link (an attacker's, say) gets an error page at every step, and the
/// first browser still completes.
#[tokio::test]
async fn a_portal_session_belongs_to_the_browser_that_opened_it() {
    for backend in common::backends() {
        let (sandbox, tpp) = common::ready(backend).await;
        let (status, par) = tpp
            .par(tpp.request_claims("openid accounts", &common::verifier()))
            .await;
        assert_eq!(status, 201, "{par}");
        let base = sandbox.issuer().to_string();
        let opener = common::browser(&sandbox.contract);
        let resp = opener
            .get(format!("{base}/authorize"))
            .query(&[
                ("client_id", tpp.client_id()),
                ("request_uri", par["request_uri"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            cookie.starts_with("aberta_portal=")
                && cookie.contains("HttpOnly")
                && cookie.contains("Secure")
                && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let login = common::location(&resp);
        let session = login.split("session=").nth(1).unwrap().to_string();
        let (cpf, password) = sandbox.user();
        let form = serde_urlencoded::to_string([
            ("session", session.as_str()),
            ("username", cpf.as_str()),
            ("password", password.as_str()),
        ])
        .unwrap();

        // Another browser: the page and the form post are refused, nothing logs in.
        let stranger = common::browser(&sandbox.contract);
        let page = stranger.get(format!("{base}{login}")).send().await.unwrap();
        assert_eq!(page.status(), 400, "another browser's login page");
        let post = stranger
            .post(format!("{base}/portal/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 400, "another browser's login post");

        // The opener goes on.
        let page = opener.get(format!("{base}{login}")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let post = opener
            .post(format!("{base}/portal/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 303, "the opener logs in");
        let consent = common::location(&post);
        let stolen = stranger
            .get(format!("{base}{consent}"))
            .send()
            .await
            .unwrap();
        assert_eq!(stolen.status(), 400, "another browser's consent page");
    }
}
