//! `x-idempotency-key` of payments 4.0.0 (POST /consents, POST /pix/payments, PATCH
//! /pix/payments/consents/{consentId}): a key is remembered for 24 hours per brand and client,
//! with the hash of the request it was first used for and the response that request got.
//!
//! How an endpoint uses it, all in **one transaction** with its business write:
//!
//! ```text
//! let key = IdempotencyKey::parse(header)?;            // 400 when missing or malformed
//! let hash = BodyHash::of_message("POST /pix/payments", claims.data());
//! let txn = db.begin().await?;
//! match idempotency::claim(&txn, brand, client_id, &key, &hash, now).await? {
//!     Claim::Fresh(ticket) => {
//!         /* business writes on &txn */
//!         ticket.complete(201, &payload).await?;       // or ticket.release() to keep nothing
//!         txn.commit().await?;
//!     }
//!     Claim::Replay { status, body } => /* answer status with body, signed afresh */,
//!     Claim::Mismatch => /* 422 ERRO_IDEMPOTENCIA */,
//!     Claim::InFlight { since } => /* wait a little and claim again, else 429 */,
//! }
//! ```
//!
//! Because the claim row and the business rows commit together, a crash between them leaves
//! neither. `claim` must be the first statement of the transaction: its insert is what takes
//! the write lock on SQLite, and on PostgreSQL a duplicate arriving while the first request is
//! still running **waits** on that row's uniqueness check, then sees the committed response
//! and replays it (or, if the first rolled back, proceeds as the first).
//!
//! [`Claim::InFlight`] is a row that has no response once its transaction ended: a claim
//! committed before its work is done ([`Ticket::detach`]: POST /pix/payments and PATCH
//! /pix/payments/consents/{consentId} commit it before calling the bank), whose request is
//! still running, or died. The spec's rule for a key seen before is "answer with the same
//! result" (requirements 4.2; the only refusal it defines is 422 `ERRO_IDEMPOTENCIA` for other
//! data), so the endpoints wait a few seconds for the first answer and replay it
//! (`aberta_payments::api`). The spec defines no answer for a first request that has not
//! finished by then; the platform answers 429 with `Retry-After` (the seconds until the
//! recovery of interrupted requests would have finished it), as a bank answers its limit on
//! concurrent requests: never 422, which is final for a payment. See [`Claim::refusal`].
//!
//! What to keep (requirements 4.2): a payment POST keeps its 201 and its 422 answers, a
//! payment-consent POST only its 201; anything else [`Ticket::release`]s the key (or rolls the
//! transaction back). A signed endpoint keeps the unsigned response payload and signs it again
//! on replay, so the replay carries a fresh `iat`.
//!
//! The key's format is the spec's header schema (1 to 40 characters, `^(?!\s)(.*)(\S)$`). A
//! missing or malformed key answers 400 with `PARAMETRO_NAO_INFORMADO` or
//! `PARAMETRO_INVALIDO`, as every malformed header does on this platform (`aberta-runtime`'s
//! error policy; the generated servers refuse it the same way before a handler runs).

use std::sync::LazyLock;

use http::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, TryInsertResult,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::RETENTION_SECONDS;
use crate::entity::idempotency;
use crate::error::PaymentsError;

/// The header schema of payments 4.0.0 (`#/components/parameters/XIdempotencyKey`).
const KEY_PATTERN: &str = r"^(?!\s)(.*)(\S)$";
const KEY_MAX_LENGTH: usize = 40;

static KEY_REGEX: LazyLock<regress::Regex> = LazyLock::new(|| {
    regress::Regex::new(KEY_PATTERN).expect("the spec's x-idempotency-key pattern compiles")
});

/// A well-formed `x-idempotency-key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key from the header's value (`None`: the header is absent).
    pub fn parse(header: Option<&str>) -> Result<Self, KeyRefusal> {
        match header {
            None | Some("") => Err(KeyRefusal::Missing),
            Some(value) => Self::try_from(value),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for IdempotencyKey {
    type Error = KeyRefusal;

    fn try_from(value: &str) -> Result<Self, KeyRefusal> {
        let length = value.chars().count();
        if length == 0 {
            return Err(KeyRefusal::Missing);
        }
        if length > KEY_MAX_LENGTH || KEY_REGEX.find(value).is_none() {
            return Err(KeyRefusal::Invalid);
        }
        Ok(Self(value.to_string()))
    }
}

/// Why a request's `x-idempotency-key` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("the x-idempotency-key header is missing")]
    Missing,
    #[error(
        "the x-idempotency-key header must have 1 to 40 characters and neither start nor end with white space"
    )]
    Invalid,
}

impl KeyRefusal {
    /// The HTTP status, the OFB error code and the detail to answer with.
    pub fn answer(&self) -> (StatusCode, &'static str, String) {
        let code = match self {
            Self::Missing => "PARAMETRO_NAO_INFORMADO",
            Self::Invalid => "PARAMETRO_INVALIDO",
        };
        (StatusCode::BAD_REQUEST, code, self.to_string())
    }
}

/// SHA-256 of a request, what a key's later uses are compared against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BodyHash([u8; 32]);

impl BodyHash {
    /// Over the raw body (for unsigned bodies).
    pub fn of_bytes(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }

    /// Over the operation and the signed message's `data` claim, in a canonical form (object
    /// members sorted). The right hash for signed bodies: a retry is signed again with a new
    /// `jti` and `iat` (requirements 4.2), so the raw bodies differ while the request is the
    /// same; and a key reused on another operation is a different request.
    pub fn of_message(operation: &str, data: Option<&Value>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(operation.as_bytes());
        hasher.update([0]);
        canonical(&mut hasher, data.unwrap_or(&Value::Null));
        Self(hasher.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for BodyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BodyHash({})", self.to_hex())
    }
}

/// JSON with object members in key order, no white space.
fn canonical(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                hasher.update(Value::String(name.clone()).to_string().as_bytes());
                hasher.update(b":");
                canonical(hasher, member);
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                canonical(hasher, item);
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim<'c, C: ConnectionTrait> {
    /// The key is this request's: do the work, then [`Ticket::complete`] it.
    Fresh(Ticket<'c, C>),
    /// The same request was answered before: answer the same.
    Replay { status: u16, body: String },
    /// The key was used for a different request: 422 `ERRO_IDEMPOTENCIA`, nothing changes.
    Mismatch,
    /// The first request with this key, claimed at `since` (Unix seconds), has no answer yet
    /// (see the module).
    InFlight { since: i64 },
}

impl<C: ConnectionTrait> Claim<'_, C> {
    /// The answer of a refusing claim: status, OFB error code and detail. `None` for
    /// [`Claim::Fresh`] and [`Claim::Replay`].
    pub fn refusal(&self) -> Option<(StatusCode, &'static str, String)> {
        match self {
            Self::Mismatch => Some((
                StatusCode::UNPROCESSABLE_ENTITY,
                "ERRO_IDEMPOTENCIA",
                "Conteúdo da mensagem (claim data) diverge do conteúdo associado a esta chave de \
                 idempotência (x-idempotency-key)."
                    .to_string(),
            )),
            Self::InFlight { .. } => Some((
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "a request with this x-idempotency-key is still being processed; retry later"
                    .to_string(),
            )),
            Self::Fresh(_) | Self::Replay { .. } => None,
        }
    }
}

/// The right to answer a key, held by the request that claimed it.
#[must_use = "complete the ticket, release it, or roll the transaction back"]
pub struct Ticket<'c, C: ConnectionTrait> {
    conn: &'c C,
    brand: String,
    client_id: String,
    key: String,
    hash: String,
}

impl<C: ConnectionTrait> std::fmt::Debug for Ticket<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("brand", &self.brand)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl<C: ConnectionTrait> Ticket<'_, C> {
    /// Stores the answer that later uses of the key replay.
    pub async fn complete(self, status: u16, body: &str) -> Result<(), PaymentsError> {
        let stored = idempotency::Entity::update_many()
            .col_expr(idempotency::Column::Status, Expr::value(i32::from(status)))
            .col_expr(idempotency::Column::Response, Expr::value(body.to_string()))
            .filter(self.this_claim())
            .exec(self.conn)
            .await?;
        if stored.rows_affected != 1 {
            return Err(PaymentsError::Corrupt(
                "the idempotency claim vanished before completion".into(),
            ));
        }
        Ok(())
    }

    /// Gives the key up without an answer: the next request with it starts afresh.
    pub async fn release(self) -> Result<(), PaymentsError> {
        idempotency::Entity::delete_many()
            .filter(self.this_claim())
            .exec(self.conn)
            .await?;
        Ok(())
    }

    fn this_claim(&self) -> sea_orm::Condition {
        claim_condition(&self.brand, &self.client_id, &self.key, &self.hash)
    }

    /// Keeps the right to answer past this transaction: commit the claim now (the key shows
    /// as in flight to others) and store the answer later, in another transaction, with
    /// [`DetachedTicket::complete_in`]. For work that cannot run inside the claim's
    /// transaction, such as a call to a bank that writes to the same database.
    pub fn detach(self) -> DetachedTicket {
        DetachedTicket {
            brand: self.brand,
            client_id: self.client_id,
            key: self.key,
            hash: self.hash,
        }
    }
}

/// A claim committed without its answer yet; see [`Ticket::detach`].
#[must_use = "complete the ticket"]
#[derive(Debug)]
pub struct DetachedTicket {
    brand: String,
    client_id: String,
    key: String,
    hash: String,
}

impl DetachedTicket {
    /// The ticket of a claim made earlier (by an instance that stopped before answering):
    /// its brand, client, key and request hash (hex).
    pub fn resume(brand: &str, client_id: &str, key: &str, request_hash: &str) -> Self {
        Self {
            brand: brand.to_string(),
            client_id: client_id.to_string(),
            key: key.to_string(),
            hash: request_hash.to_string(),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Gives the key up without an answer (the work failed on our side): the next request
    /// with it starts afresh.
    pub async fn release_in<C: ConnectionTrait>(self, conn: &C) -> Result<(), PaymentsError> {
        idempotency::Entity::delete_many()
            .filter(claim_condition(
                &self.brand,
                &self.client_id,
                &self.key,
                &self.hash,
            ))
            .exec(conn)
            .await?;
        Ok(())
    }

    pub fn request_hash(&self) -> &str {
        &self.hash
    }

    /// Stores the answer through `conn` (the transaction of the work's results).
    pub async fn complete_in<C: ConnectionTrait>(
        self,
        conn: &C,
        status: u16,
        body: &str,
    ) -> Result<(), PaymentsError> {
        let stored = idempotency::Entity::update_many()
            .col_expr(idempotency::Column::Status, Expr::value(i32::from(status)))
            .col_expr(idempotency::Column::Response, Expr::value(body.to_string()))
            .filter(claim_condition(
                &self.brand,
                &self.client_id,
                &self.key,
                &self.hash,
            ))
            .exec(conn)
            .await?;
        if stored.rows_affected != 1 {
            return Err(PaymentsError::Corrupt(
                "the idempotency claim vanished before completion".into(),
            ));
        }
        Ok(())
    }
}

fn claim_condition(brand: &str, client_id: &str, key: &str, hash: &str) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(idempotency::Column::Brand.eq(brand))
        .add(idempotency::Column::ClientId.eq(client_id))
        .add(idempotency::Column::IdempotencyKey.eq(key))
        .add(idempotency::Column::RequestHash.eq(hash))
        .add(idempotency::Column::Status.is_null())
}

/// Claims `key` for the request hashed `hash`. Pass the transaction that will hold the
/// business writes, and call this first in it (see the module). A key first used more than
/// 24 hours ago is free again.
pub async fn claim<'c, C: ConnectionTrait>(
    conn: &'c C,
    brand: &str,
    client_id: &str,
    key: &IdempotencyKey,
    hash: &BodyHash,
    now: i64,
) -> Result<Claim<'c, C>, PaymentsError> {
    let hash = hash.to_hex();
    let ticket = || {
        Claim::Fresh(Ticket {
            conn,
            brand: brand.to_string(),
            client_id: client_id.to_string(),
            key: key.as_str().to_string(),
            hash: hash.clone(),
        })
    };
    // A row can vanish (released, purged) or be retaken between our statements; a few
    // rounds always settle.
    for _ in 0..3 {
        let row = idempotency::Model {
            brand: brand.to_string(),
            client_id: client_id.to_string(),
            idempotency_key: key.as_str().to_string(),
            request_hash: hash.clone(),
            status: None,
            response: None,
            created_at: now,
        };
        let inserted = idempotency::Entity::insert(row.into_active_model())
            .on_conflict_do_nothing()
            .exec_without_returning(conn)
            .await?;
        if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            return Ok(ticket());
        }
        let Some(existing) = idempotency::Entity::find_by_id((
            brand.to_string(),
            client_id.to_string(),
            key.as_str().to_string(),
        ))
        .one(conn)
        .await?
        else {
            continue;
        };
        if existing.created_at > now - RETENTION_SECONDS {
            return Ok(classify(existing, &hash));
        }
        // Expired: take it over, unless another request just did.
        let retaken = idempotency::Entity::update_many()
            .col_expr(idempotency::Column::RequestHash, Expr::value(hash.clone()))
            .col_expr(
                idempotency::Column::Status,
                Expr::value(Option::<i32>::None),
            )
            .col_expr(
                idempotency::Column::Response,
                Expr::value(Option::<String>::None),
            )
            .col_expr(idempotency::Column::CreatedAt, Expr::value(now))
            .filter(idempotency::Column::Brand.eq(brand))
            .filter(idempotency::Column::ClientId.eq(client_id))
            .filter(idempotency::Column::IdempotencyKey.eq(key.as_str()))
            .filter(idempotency::Column::CreatedAt.eq(existing.created_at))
            .exec(conn)
            .await?;
        if retaken.rows_affected == 1 {
            return Ok(ticket());
        }
    }
    Err(PaymentsError::Corrupt(
        "the idempotency row kept changing while it was claimed".into(),
    ))
}

fn classify<'c, C: ConnectionTrait>(row: idempotency::Model, hash: &str) -> Claim<'c, C> {
    if row.request_hash != hash {
        return Claim::Mismatch;
    }
    match (row.status, row.response) {
        (Some(status), Some(body)) => match u16::try_from(status) {
            Ok(status) => Claim::Replay { status, body },
            Err(_) => Claim::InFlight {
                since: row.created_at,
            },
        },
        _ => Claim::InFlight {
            since: row.created_at,
        },
    }
}

/// Forgets the keys first used more than 24 hours before `now`; returns how many.
pub async fn purge<C: ConnectionTrait>(conn: &C, now: i64) -> Result<u64, PaymentsError> {
    Ok(idempotency::Entity::delete_many()
        .filter(idempotency::Column::CreatedAt.lte(now - RETENTION_SECONDS))
        .exec(conn)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_format_follows_the_header_schema() {
        for good in ["a", "abc-123", "a b", &"x".repeat(40), "ção"] {
            assert!(IdempotencyKey::try_from(good).is_ok(), "{good:?}");
        }
        for bad in [" a", "a ", " ", "\ta", "a\n", &"x".repeat(41), "a\nb"] {
            assert_eq!(
                IdempotencyKey::try_from(bad),
                Err(KeyRefusal::Invalid),
                "{bad:?}"
            );
        }
        assert_eq!(IdempotencyKey::parse(None), Err(KeyRefusal::Missing));
        assert_eq!(IdempotencyKey::parse(Some("")), Err(KeyRefusal::Missing));
        assert_eq!(KeyRefusal::Missing.answer().0, StatusCode::BAD_REQUEST);
        assert_eq!(KeyRefusal::Invalid.answer().1, "PARAMETRO_INVALIDO");
    }

    #[test]
    fn message_hash_ignores_member_order_but_not_content_or_operation() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":{"b":[1,2],"a":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":{"a":"s","b":[1,2]},"x":1}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"y":{"a":"s","b":[2,1]},"x":1}"#).unwrap();
        let op = "POST /pix/payments";
        assert_eq!(
            BodyHash::of_message(op, Some(&a)),
            BodyHash::of_message(op, Some(&b))
        );
        assert_ne!(
            BodyHash::of_message(op, Some(&a)),
            BodyHash::of_message(op, Some(&c))
        );
        assert_ne!(
            BodyHash::of_message(op, Some(&a)),
            BodyHash::of_message("POST /consents", Some(&a))
        );
        assert_eq!(BodyHash::of_bytes(b"").to_hex().len(), 64);
    }
}
