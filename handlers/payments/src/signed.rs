//! Signed message bodies of payments 4.0.0 (`application/jwt`): requests are checked by
//! [`verify_request`], responses made by [`sign_response`].
//!
//! Error policy, from the payments 4.0.0 description (items 1.2.3, 1.2.4 and 2.1.3, 2.1.4):
//! anything wrong with the signature itself (not a compact JWS, `alg` other than PS256, no
//! `kid`, `typ` other than `JWT`, a `kid` the sending organisation does not publish, a
//! signature that does not verify, a payload that is not a claim set) answers **400
//! `BAD_SIGNATURE`**; a signed message whose claims are wrong (`aud`, `iss`, `iat`, `jti`
//! missing or invalid) answers **403 `INVALID_CLIENT`**, and so does a reused `jti`. A failure
//! of our side (keystore unreachable, database) answers 500. [`MessageError::answer`] is the
//! one place that says so. Details name the rule that failed, never a token or key.
//!
//! The checks run in that order and the `jti` is recorded last, so a message that fails any
//! other rule does not burn its `jti`.

use std::sync::Arc;

use aberta_store::Store;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use josekit::jws::{JwsHeader, JwsSigner, JwsVerifier};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, TryInsertResult,
};
use serde_json::{Map, Value};

use crate::RETENTION_SECONDS;
use crate::entity::jti;
use crate::error::PaymentsError;

/// How far `iat` may be from the server's clock, either way.
pub const IAT_LEEWAY_SECONDS: i64 = 60;
/// The longest `jti` accepted (the spec asks for a UUID, 36 characters).
pub const MAX_JTI_LENGTH: usize = 128;

/// What a request to one endpoint must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The brand called (the scope of the `jti` ledger).
    pub brand: String,
    /// `aud`: the URL of the endpoint called.
    pub audience: String,
    /// `iss`: the organisation id of the client, from its registration; its keys are the
    /// only ones that may have signed the message.
    pub issuer: String,
}

/// The verified claims of a request: the whole claim set, business payload under `data`.
/// `Debug` shows the `iss` and `jti` only (the payload holds personal data).
#[derive(Clone, PartialEq)]
pub struct Claims(pub Value);

impl Claims {
    /// The business payload.
    pub fn data(&self) -> Option<&Value> {
        self.0.get("data")
    }

    pub fn jti(&self) -> Option<&str> {
        self.0.get("jti").and_then(Value::as_str)
    }

    pub fn into_inner(self) -> Value {
        self.0
    }
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.0.get("iss"))
            .field("jti", &self.jti())
            .finish_non_exhaustive()
    }
}

/// Where the signing keys of organisations come from.
#[async_trait]
pub trait OrganisationKeys: Send + Sync {
    /// The PS256 verifier of `org_id`'s key `kid`; `None` when the organisation publishes no
    /// such key.
    async fn key(
        &self,
        org_id: &str,
        kid: &str,
    ) -> Result<Option<Arc<dyn JwsVerifier>>, PaymentsError>;
}

/// Why a signed request was refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("not a compact JWS: {0}")]
    Malformed(&'static str),
    #[error("the header alg must be PS256")]
    Algorithm,
    #[error("the header has no kid")]
    MissingKid,
    #[error("the header typ must be JWT")]
    Type,
    #[error("the sending organisation publishes no key with this kid")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the signed payload is not a JSON claim set")]
    Payload,
    #[error("aud {0}")]
    Audience(&'static str),
    #[error("iss {0}")]
    Issuer(&'static str),
    #[error("iat {0}")]
    IssuedAt(&'static str),
    #[error("jti {0}")]
    Jti(&'static str),
    #[error("jti was already used")]
    JtiReused,
    /// Keystore or database failure: not the client's fault.
    #[error(transparent)]
    Internal(#[from] PaymentsError),
}

impl MessageError {
    /// The HTTP status, the OFB error code and the detail to answer with.
    pub fn answer(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Malformed(_)
            | Self::Algorithm
            | Self::MissingKid
            | Self::Type
            | Self::UnknownKey
            | Self::Signature
            | Self::Payload => (StatusCode::BAD_REQUEST, "BAD_SIGNATURE", self.to_string()),
            Self::Audience(_)
            | Self::Issuer(_)
            | Self::IssuedAt(_)
            | Self::Jti(_)
            | Self::JtiReused => (StatusCode::FORBIDDEN, "INVALID_CLIENT", self.to_string()),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "the message could not be checked".to_string(),
            ),
        }
    }

    /// The `title` of the error body.
    pub fn title(&self) -> &'static str {
        match self.answer().1 {
            "BAD_SIGNATURE" => "Assinatura inválida",
            "INVALID_CLIENT" => "Cliente inválido",
            _ => "Erro interno",
        }
    }
}

/// Checks a signed request body and returns its claims; see the module for the rules and
/// the answers.
pub async fn verify_request(
    jwt: &str,
    expect: &Expectations,
    keys: &dyn OrganisationKeys,
    jti: &JtiLedger,
    now: i64,
) -> Result<Claims, MessageError> {
    let kid = read_header(jwt)?;
    let verifier = keys
        .key(&expect.issuer, &kid)
        .await?
        .ok_or(MessageError::UnknownKey)?;
    let claims = read_payload(jwt, verifier.as_ref())?;
    let id = check_claims(&claims, expect, now)?;
    if !jti.record(&expect.brand, &expect.issuer, id, now).await? {
        tracing::info!(brand = %expect.brand, issuer = %expect.issuer, "signed request with a reused jti");
        return Err(MessageError::JtiReused);
    }
    Ok(Claims(Value::Object(claims)))
}

/// The header's `kid`, once `alg`, `kid` and `typ` pass.
fn read_header(jwt: &str) -> Result<String, MessageError> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MessageError::Malformed(
            "expected three dot-separated parts",
        ));
    };
    if payload.is_empty() || signature.is_empty() {
        return Err(MessageError::Malformed("empty payload or signature"));
    }
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| MessageError::Malformed("the header is not base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&header)
        .map_err(|_| MessageError::Malformed("the header is not a JSON object"))?;
    if header.get("alg").and_then(Value::as_str) != Some("PS256") {
        return Err(MessageError::Algorithm);
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ == "JWT" => {}
        Some(_) => return Err(MessageError::Type),
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => Ok(kid.to_string()),
        _ => Err(MessageError::MissingKid),
    }
}

fn read_payload(jwt: &str, verifier: &dyn JwsVerifier) -> Result<Map<String, Value>, MessageError> {
    let (payload, _) =
        josekit::jws::deserialize_compact(jwt, verifier).map_err(|_| MessageError::Signature)?;
    serde_json::from_slice(&payload).map_err(|_| MessageError::Payload)
}

/// Checks `aud`, `iss`, `iat` and the shape of `jti`; returns the `jti`.
fn check_claims<'c>(
    claims: &'c Map<String, Value>,
    expect: &Expectations,
    now: i64,
) -> Result<&'c str, MessageError> {
    let audience_ok = match claims.get("aud") {
        None => return Err(MessageError::Audience("is missing")),
        Some(Value::String(aud)) => aud == &expect.audience,
        Some(Value::Array(auds)) => auds
            .iter()
            .any(|a| a.as_str() == Some(expect.audience.as_str())),
        Some(_) => false,
    };
    if !audience_ok {
        return Err(MessageError::Audience("does not name the endpoint called"));
    }
    match claims.get("iss") {
        None => return Err(MessageError::Issuer("is missing")),
        Some(Value::String(iss)) if iss == &expect.issuer => {}
        Some(_) => {
            return Err(MessageError::Issuer(
                "is not the organisation id of the client",
            ));
        }
    }
    let Some(iat) = claims.get("iat").and_then(Value::as_f64) else {
        return Err(MessageError::IssuedAt("is missing or not a NumericDate"));
    };
    if (iat - now as f64).abs() > IAT_LEEWAY_SECONDS as f64 {
        return Err(MessageError::IssuedAt("is more than 60 seconds from now"));
    }
    match claims.get("jti").and_then(Value::as_str) {
        None => Err(MessageError::Jti("is missing")),
        Some("") => Err(MessageError::Jti("is empty")),
        Some(id) if id.len() > MAX_JTI_LENGTH => Err(MessageError::Jti("is too long")),
        Some(id) => Ok(id),
    }
}

/// Signs a response payload (`data`, `links`, `meta`) for the client of organisation `aud`,
/// adding `aud`, `iss` (our organisation id), `iat` and a fresh `jti`, with `kid` and
/// `typ: JWT` in the header. The signer must be PS256.
pub fn sign_response(
    claims: Value,
    signer: &dyn JwsSigner,
    kid: &str,
    aud: &str,
    iss: &str,
    now: i64,
) -> Result<String, PaymentsError> {
    let Value::Object(mut claims) = claims else {
        return Err(PaymentsError::Signing(
            "the response payload must be a JSON object".into(),
        ));
    };
    if signer.algorithm().name() != "PS256" {
        return Err(PaymentsError::Signing(
            "payment messages are signed with PS256".into(),
        ));
    }
    // josekit writes a signer's own kid into the header; it must be the one asked for.
    if signer.key_id().is_some_and(|own| own != kid) {
        return Err(PaymentsError::Signing(
            "the signer's key id is not the kid asked for".into(),
        ));
    }
    claims.insert("aud".into(), aud.into());
    claims.insert("iss".into(), iss.into());
    claims.insert("iat".into(), now.into());
    claims.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(kid);
    let payload = serde_json::to_vec(&claims).map_err(|e| PaymentsError::Signing(e.to_string()))?;
    josekit::jws::serialize_compact(&payload, &header, signer)
        .map_err(|e| PaymentsError::Signing(e.to_string()))
}

/// The `jti`s seen in the last 24 hours, per brand, in the database: a reuse is refused by
/// every instance sharing it.
#[derive(Debug, Clone)]
pub struct JtiLedger {
    db: DatabaseConnection,
}

impl JtiLedger {
    /// The ledger in `store`'s database (its tables migrated).
    pub async fn open(store: &Store) -> Result<Self, PaymentsError> {
        crate::migrate(store.connection()).await?;
        Ok(Self {
            db: store.connection().clone(),
        })
    }

    /// Records a `jti`; `false` when the brand saw it in the last 24 hours. A `jti` last seen
    /// longer ago is taken again.
    pub async fn record(
        &self,
        brand: &str,
        issuer: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, PaymentsError> {
        let row = jti::Model {
            brand: brand.to_string(),
            jti: id.to_string(),
            issuer: issuer.to_string(),
            seen_at: now,
        };
        let inserted = jti::Entity::insert(row.into_active_model())
            .on_conflict_do_nothing()
            .exec_without_returning(&self.db)
            .await?;
        if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            return Ok(true);
        }
        // Seen before: usable again only when that was more than 24 hours ago. The
        // condition makes two concurrent takers of an old jti settle on one.
        let retaken = jti::Entity::update_many()
            .col_expr(jti::Column::SeenAt, Expr::value(now))
            .col_expr(jti::Column::Issuer, Expr::value(issuer.to_string()))
            .filter(jti::Column::Brand.eq(brand))
            .filter(jti::Column::Jti.eq(id))
            .filter(jti::Column::SeenAt.lte(now - RETENTION_SECONDS))
            .exec(&self.db)
            .await?;
        Ok(retaken.rows_affected == 1)
    }

    /// Forgets the `jti`s seen more than 24 hours before `now`; returns how many.
    pub async fn purge(&self, now: i64) -> Result<u64, PaymentsError> {
        Ok(jti::Entity::delete_many()
            .filter(jti::Column::SeenAt.lte(now - RETENTION_SECONDS))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}
