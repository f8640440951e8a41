//! Signed request bodies: every rule of `verify_request` fails on its own with the spec's
//! answer, the jti ledger holds across instances and under concurrency, `DirectoryKeys` reads
//! a real keystore over HTTP with its cache, and `sign_response` makes what the certification
//! suite checks. Each database-backed test runs on SQLite and PostgreSQL.

mod common;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aberta_payments::DirectoryKeys;
use aberta_payments::signed::{
    Claims, Expectations, JtiLedger, MessageError, sign_response, verify_request,
};
use common::*;
use josekit::jws::{PS256, RS256};
use serde_json::{Value, json};

static KEY: LazyLock<OrgKey> = LazyLock::new(|| OrgKey::generate("k1"));
/// Another key published under nobody's name, with the same kid as `KEY`.
static IMPOSTOR: LazyLock<OrgKey> = LazyLock::new(|| OrgKey::generate("k1"));
static ROTATED: LazyLock<OrgKey> = LazyLock::new(|| OrgKey::generate("k2"));

/// A refused message: its name, the message, and which refusal it must get.
type Case = (&'static str, String, fn(&MessageError) -> bool);

struct Setup {
    db: Db,
    keystore: Keystore,
    keys: DirectoryKeys,
    ledger: JtiLedger,
    expect: Expectations,
}

async fn setup(backend: Backend) -> Setup {
    let keystore = Keystore::start().await;
    keystore.publish(ORG, &[&KEY.public]);
    let keys = DirectoryKeys::new(
        reqwest::Client::new(),
        &keystore.base,
        Duration::from_secs(300),
    );
    let db = Db::new(backend).await;
    let ledger = JtiLedger::open(&db.store).await.unwrap();
    Setup {
        db,
        keystore,
        keys,
        ledger,
        expect: Expectations {
            brand: unique("brand"),
            audience: ENDPOINT.to_string(),
            issuer: ORG.to_string(),
        },
    }
}

fn jti() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Setup {
    async fn verify(&self, jwt: &str, now: i64) -> Result<Claims, MessageError> {
        verify_request(jwt, &self.expect, &self.keys, &self.ledger, now).await
    }

    /// The (status, code) a refused message gets.
    async fn refused(&self, jwt: &str) -> (u16, &'static str, MessageError) {
        let err = self
            .verify(jwt, T0)
            .await
            .expect_err("the message should be refused");
        let (status, code, _) = err.answer();
        (status.as_u16(), code, err)
    }
}

#[tokio::test]
async fn a_valid_request_verifies() {
    for backend in backends() {
        let s = setup(backend).await;
        let claims = s
            .verify(&KEY.sign(&request_claims(&jti(), T0)), T0)
            .await
            .unwrap();
        assert_eq!(claims.data().unwrap()["payment"]["amount"], "100.00");
        // `aud` may also be an array naming the endpoint; `typ` may be absent.
        let mut c = request_claims(&jti(), T0);
        c["aud"] = json!(["https://elsewhere.example", ENDPOINT]);
        let header = json!({ "alg": "PS256", "kid": "k1" });
        let jwt = raw_jws(KEY.signer().as_ref(), &header, c.to_string().as_bytes());
        s.verify(&jwt, T0).await.unwrap();
        // Debug never shows the payload.
        assert!(!format!("{claims:?}").contains("100.00"));
    }
}

#[tokio::test]
async fn signature_rules_answer_400_bad_signature() {
    for backend in backends() {
        let s = setup(backend).await;
        let claims = request_claims(&jti(), T0);
        let body = claims.to_string();
        let rs256 = rs256_signer();
        let signed = KEY.sign(&claims);
        let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
        let mut tampered_claims = claims.clone();
        tampered_claims["data"]["payment"]["amount"] = json!("999.00");
        parts[1] = base64_url(tampered_claims.to_string().as_bytes());
        let tampered = parts.join(".");
        let cases: Vec<Case> = vec![
            ("not a JWS", "not-a-jws".into(), |e| {
                matches!(e, MessageError::Malformed(_))
            }),
            ("five parts (a JWE)", "a.b.c.d.e".into(), |e| {
                matches!(e, MessageError::Malformed(_))
            }),
            (
                "header not JSON",
                format!("{}.e30.c2ln", base64_url(b"{nope")),
                |e| matches!(e, MessageError::Malformed(_)),
            ),
            (
                "alg RS256",
                raw_jws(
                    &rs256,
                    &json!({"alg":"RS256","kid":"k1","typ":"JWT"}),
                    body.as_bytes(),
                ),
                |e| matches!(e, MessageError::Algorithm),
            ),
            (
                "alg none",
                format!(
                    "{}.{}.c2ln",
                    base64_url(json!({"alg":"none","kid":"k1"}).to_string().as_bytes()),
                    base64_url(body.as_bytes())
                ),
                |e| matches!(e, MessageError::Algorithm),
            ),
            (
                "no kid",
                raw_jws(
                    KEY.signer().as_ref(),
                    &json!({"alg":"PS256","typ":"JWT"}),
                    body.as_bytes(),
                ),
                |e| matches!(e, MessageError::MissingKid),
            ),
            (
                "typ JOSE",
                raw_jws(
                    KEY.signer().as_ref(),
                    &json!({"alg":"PS256","kid":"k1","typ":"JOSE"}),
                    body.as_bytes(),
                ),
                |e| matches!(e, MessageError::Type),
            ),
            (
                "kid the organisation does not publish",
                raw_jws(
                    ROTATED.signer().as_ref(),
                    &json!({"alg":"PS256","kid":"k2","typ":"JWT"}),
                    body.as_bytes(),
                ),
                |e| matches!(e, MessageError::UnknownKey),
            ),
            (
                "signed by another key with the same kid",
                IMPOSTOR.sign(&claims),
                |e| matches!(e, MessageError::Signature),
            ),
            ("payload changed after signing", tampered, |e| {
                matches!(e, MessageError::Signature)
            }),
            (
                "payload not a claim set",
                raw_jws(
                    KEY.signer().as_ref(),
                    &json!({"alg":"PS256","kid":"k1","typ":"JWT"}),
                    b"[1,2]",
                ),
                |e| matches!(e, MessageError::Payload),
            ),
        ];
        for (name, jwt, is_expected) in cases {
            let (status, code, err) = s.refused(&jwt).await;
            assert!(is_expected(&err), "{backend:?} {name}: got {err:?}");
            assert_eq!((status, code), (400, "BAD_SIGNATURE"), "{backend:?} {name}");
        }
    }
}

/// The same RSA key, as an RS256 signer.
fn rs256_signer() -> impl josekit::jws::JwsSigner {
    let mut jwk = KEY.private.clone();
    jwk.set_algorithm("RS256");
    RS256.signer_from_jwk(&jwk).unwrap()
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn claim_rules_answer_403_invalid_client() {
    for backend in backends() {
        let s = setup(backend).await;
        let with = |edit: fn(&mut Value)| {
            let mut claims = request_claims(&jti(), T0);
            edit(&mut claims);
            KEY.sign(&claims)
        };
        let cases: Vec<Case> = vec![
            (
                "aud missing",
                with(|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
                |e| matches!(e, MessageError::Audience(_)),
            ),
            (
                "aud another endpoint",
                with(|c| {
                    c["aud"] = json!("https://127.0.0.1:8443/open-banking/payments/v4/consents")
                }),
                |e| matches!(e, MessageError::Audience(_)),
            ),
            ("aud not a string", with(|c| c["aud"] = json!(42)), |e| {
                matches!(e, MessageError::Audience(_))
            }),
            (
                "iss missing",
                with(|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
                |e| matches!(e, MessageError::Issuer(_)),
            ),
            (
                "iss another organisation",
                with(|c| c["iss"] = json!(OUR_ORG)),
                |e| matches!(e, MessageError::Issuer(_)),
            ),
            (
                "iat missing",
                with(|c| {
                    c.as_object_mut().unwrap().remove("iat");
                }),
                |e| matches!(e, MessageError::IssuedAt(_)),
            ),
            (
                "iat a string",
                with(|c| c["iat"] = json!("1800000000")),
                |e| matches!(e, MessageError::IssuedAt(_)),
            ),
            ("iat 61 s old", with(|c| c["iat"] = json!(T0 - 61)), |e| {
                matches!(e, MessageError::IssuedAt(_))
            }),
            ("iat 61 s ahead", with(|c| c["iat"] = json!(T0 + 61)), |e| {
                matches!(e, MessageError::IssuedAt(_))
            }),
            (
                "jti missing",
                with(|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
                |e| matches!(e, MessageError::Jti(_)),
            ),
            ("jti empty", with(|c| c["jti"] = json!("")), |e| {
                matches!(e, MessageError::Jti(_))
            }),
            ("jti a number", with(|c| c["jti"] = json!(7)), |e| {
                matches!(e, MessageError::Jti(_))
            }),
            (
                "jti too long",
                with(|c| c["jti"] = json!("x".repeat(129))),
                |e| matches!(e, MessageError::Jti(_)),
            ),
        ];
        for (name, jwt, is_expected) in cases {
            let (status, code, err) = s.refused(&jwt).await;
            assert!(is_expected(&err), "{backend:?} {name}: got {err:?}");
            assert_eq!(
                (status, code),
                (403, "INVALID_CLIENT"),
                "{backend:?} {name}"
            );
        }
        // The edges of the iat window are inside it.
        for iat in [T0 - 60, T0 + 60] {
            s.verify(&KEY.sign(&request_claims(&jti(), iat)), T0)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_reused_jti_is_refused_across_instances() {
    for backend in backends() {
        let s = setup(backend).await;
        let id = jti();
        s.verify(&KEY.sign(&request_claims(&id, T0)), T0)
            .await
            .unwrap();
        // The same message replayed on this instance.
        let (status, code, err) = s.refused(&KEY.sign(&request_claims(&id, T0))).await;
        assert!(matches!(err, MessageError::JtiReused), "{err:?}");
        assert_eq!((status, code), (403, "INVALID_CLIENT"));
        // A second instance: its own Store handle on the same database.
        let other = JtiLedger::open(&s.db.second().await).await.unwrap();
        let err = verify_request(
            &KEY.sign(&request_claims(&id, T0 + 5)),
            &s.expect,
            &s.keys,
            &other,
            T0 + 5,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, MessageError::JtiReused),
            "{backend:?}: {err:?}"
        );
        // A jti is per brand: another brand has not seen it.
        let elsewhere = Expectations {
            brand: unique("brand"),
            ..s.expect.clone()
        };
        verify_request(
            &KEY.sign(&request_claims(&id, T0)),
            &elsewhere,
            &s.keys,
            &other,
            T0,
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_refused_message_does_not_burn_its_jti() {
    for backend in backends() {
        let s = setup(backend).await;
        let id = jti();
        let mut wrong = request_claims(&id, T0);
        wrong["aud"] = json!("https://elsewhere.example");
        s.refused(&KEY.sign(&wrong)).await;
        s.refused(&IMPOSTOR.sign(&request_claims(&id, T0))).await;
        s.verify(&KEY.sign(&request_claims(&id, T0)), T0)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_jti_is_free_again_after_24_hours_and_purge_forgets_it() {
    for backend in backends() {
        let s = setup(backend).await;
        // Ten days before the other tests' clock: purge is global and must not take their
        // rows from the shared database.
        const B: i64 = T0 - 10 * 86_400;
        let id = jti();
        let brand = &s.expect.brand;
        assert!(s.ledger.record(brand, ORG, &id, B).await.unwrap());
        assert!(!s.ledger.record(brand, ORG, &id, B + 86_399).await.unwrap());
        assert!(s.ledger.record(brand, ORG, &id, B + 86_400).await.unwrap());
        assert!(!s.ledger.record(brand, ORG, &id, B + 86_401).await.unwrap());
        // Purge forgets what is older than 24 h, and only that.
        let old = jti();
        assert!(s.ledger.record(brand, ORG, &old, B).await.unwrap());
        let purged = s.ledger.purge(B + 86_400).await.unwrap();
        assert!(purged >= 1);
        assert!(!s.ledger.record(brand, ORG, &id, B + 86_400).await.unwrap());
        assert!(s.ledger.record(brand, ORG, &old, B + 86_400).await.unwrap());
    }
}

#[tokio::test]
async fn concurrent_uses_of_one_jti_admit_exactly_one() {
    for backend in backends() {
        let s = Arc::new(setup(backend).await);
        let jwt = Arc::new(KEY.sign(&request_claims(&jti(), T0)));
        // Warm the key cache so every task races on the ledger, not the keystore.
        s.keys_warm().await;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (s, jwt) = (s.clone(), jwt.clone());
            tasks.push(tokio::spawn(async move { s.verify(&jwt, T0).await }));
        }
        let mut admitted = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => admitted += 1,
                Err(MessageError::JtiReused) => {}
                Err(other) => panic!("{backend:?}: {other:?}"),
            }
        }
        assert_eq!(admitted, 1, "{backend:?}");
    }
}

impl Setup {
    async fn keys_warm(&self) {
        use aberta_payments::signed::OrganisationKeys;
        assert!(self.keys.key(ORG, "k1").await.unwrap().is_some());
    }
}

#[tokio::test]
async fn directory_keys_are_cached_for_their_ttl() {
    let s = setup(Backend::Sqlite).await;
    for _ in 0..3 {
        s.verify(&KEY.sign(&request_claims(&jti(), T0)), T0)
            .await
            .unwrap();
    }
    assert_eq!(s.keystore.fetches(), 1, "one fetch serves the TTL");
    // With no TTL every lookup fetches.
    let uncached = DirectoryKeys::new(reqwest::Client::new(), &s.keystore.base, Duration::ZERO);
    for _ in 0..2 {
        verify_request(
            &KEY.sign(&request_claims(&jti(), T0)),
            &s.expect,
            &uncached,
            &s.ledger,
            T0,
        )
        .await
        .unwrap();
    }
    assert_eq!(s.keystore.fetches(), 3);
}

#[tokio::test]
async fn a_new_kid_is_picked_up_after_a_rotation_but_not_hammered() {
    let s = setup(Backend::Sqlite).await;
    s.verify(&KEY.sign(&request_claims(&jti(), T0)), T0)
        .await
        .unwrap();
    assert_eq!(s.keystore.fetches(), 1);
    // The organisation rotates to k2; right after a fetch, an unknown kid does not refetch.
    s.keystore.publish(ORG, &[&KEY.public, &ROTATED.public]);
    let (_, _, err) = s.refused(&ROTATED.sign(&request_claims(&jti(), T0))).await;
    assert!(matches!(err, MessageError::UnknownKey), "{err:?}");
    assert_eq!(s.keystore.fetches(), 1);
    // Five seconds later the unknown kid refetches the set once and is found.
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    s.verify(&ROTATED.sign(&request_claims(&jti(), T0)), T0)
        .await
        .unwrap();
    assert_eq!(s.keystore.fetches(), 2);
    s.verify(&KEY.sign(&request_claims(&jti(), T0)), T0)
        .await
        .unwrap();
    assert_eq!(s.keystore.fetches(), 2);
}

#[tokio::test]
async fn unknown_organisations_and_keystore_failures() {
    let s = setup(Backend::Sqlite).await;
    use aberta_payments::signed::OrganisationKeys;
    // An organisation the directory does not know (404): no key, so BAD_SIGNATURE.
    let stranger = Expectations {
        issuer: "1d2c3b4a-0000-4000-8000-000000000000".into(),
        ..s.expect.clone()
    };
    let err = verify_request(
        &KEY.sign(&request_claims(&jti(), T0)),
        &stranger,
        &s.keys,
        &s.ledger,
        T0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, MessageError::UnknownKey), "{err:?}");
    assert_eq!(err.answer().0.as_u16(), 400);
    // An organisation id that could not be one is never fetched.
    let before = s.keystore.fetches();
    assert!(
        s.keys
            .key("../openbanking.jwks", "k1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.keys.key("", "k1").await.unwrap().is_none());
    assert_eq!(s.keystore.fetches(), before);
    // The keystore failing is our side's problem: 500, no key material in the detail.
    s.keys_warm().await;
    s.keystore.fail_with(503);
    let fresh = DirectoryKeys::new(
        reqwest::Client::new(),
        &s.keystore.base,
        Duration::from_secs(300),
    );
    let err = verify_request(
        &KEY.sign(&request_claims(&jti(), T0)),
        &s.expect,
        &fresh,
        &s.ledger,
        T0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, MessageError::Internal(_)), "{err:?}");
    let (status, code, detail) = err.answer();
    assert_eq!((status.as_u16(), code), (500, "INTERNAL_SERVER_ERROR"));
    assert!(!detail.contains(&s.keystore.base));
    // A set already cached keeps serving while the keystore is down.
    s.verify(&KEY.sign(&request_claims(&jti(), T0)), T0)
        .await
        .unwrap();
}

#[test]
fn sign_response_makes_what_the_suite_checks() {
    let payload = json!({ "data": { "paymentId": "p-1", "status": "RCVD" }, "links": { "self": ENDPOINT }, "meta": { "requestDateTime": "2027-01-15T08:00:00Z" } });
    let jwt = sign_response(
        payload.clone(),
        KEY.signer().as_ref(),
        "k1",
        ORG,
        OUR_ORG,
        T0,
    )
    .unwrap();
    let verifier = PS256.verifier_from_jwk(&KEY.public).unwrap();
    let (claims, header) = josekit::jwt::decode_with_verifier(&jwt, &verifier).unwrap();
    assert_eq!(header.algorithm(), Some("PS256"));
    assert_eq!(header.key_id(), Some("k1"));
    assert_eq!(header.token_type(), Some("JWT"));
    let claims = claims.claims_set();
    assert_eq!(claims["aud"], ORG);
    assert_eq!(claims["iss"], OUR_ORG);
    assert_eq!(claims["iat"], T0);
    let id = uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(claims["data"], payload["data"]);
    assert_eq!(claims["links"], payload["links"]);
    // Two responses never share a jti.
    let again = sign_response(
        payload.clone(),
        KEY.signer().as_ref(),
        "k1",
        ORG,
        OUR_ORG,
        T0,
    )
    .unwrap();
    let (again, _) = josekit::jwt::decode_with_verifier(&again, &verifier).unwrap();
    assert_ne!(again.claims_set()["jti"], claims["jti"]);
    // Refusals: not an object, not PS256, a signer whose own kid differs.
    assert!(sign_response(json!([1]), KEY.signer().as_ref(), "k1", ORG, OUR_ORG, T0).is_err());
    let rs256 = rs256_signer();
    assert!(sign_response(payload.clone(), &rs256, "k1", ORG, OUR_ORG, T0).is_err());
    assert!(sign_response(payload, KEY.signer().as_ref(), "k9", ORG, OUR_ORG, T0).is_err());
}
