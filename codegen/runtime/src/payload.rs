//! Request and response bodies of generated servers.
//!
//! Unlike poem-openapi's own `Json`, these parse with serde plus [`Validate`], so that a bad body
//! is rejected with the JSON pointer and OFB code of the first broken constraint, and they
//! declare the exact media type the spec names (`application/json`, `application/json;
//! charset=utf-8` or `application/jwt`).

use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::jws::{JwsError, JwsHandle};
use crate::{RequestContext, Validate, Violations};

/// Why a body was refused before it reached the handler.
#[derive(Debug, thiserror::Error)]
pub enum BodyRejected {
    #[error("{0}")]
    Invalid(#[from] Violations),
    #[error("malformed JSON")]
    MalformedJson,
    #[error("{0}")]
    Jws(#[from] JwsError),
    #[error("no JWS codec is mounted for this route")]
    NoCodec,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
}

impl poem::error::ResponseError for BodyRejected {
    fn status(&self) -> poem::http::StatusCode {
        match self {
            Self::NoCodec => poem::http::StatusCode::INTERNAL_SERVER_ERROR,
            _ => poem::http::StatusCode::BAD_REQUEST,
        }
    }
}

/// The largest request body read: a payment request of 60 payments, signed, is well under it.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The body, refused unread beyond [`MAX_BODY_BYTES`].
async fn read_body(body: &mut RequestBody) -> poem::Result<Vec<u8>> {
    let body = body.take()?;
    match body.into_bytes_limit(MAX_BODY_BYTES).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(BodyRejected::TooLarge.into()),
        Err(err) => Err(err.into()),
    }
}

fn parse_body<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, BodyRejected> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
        return Err(BodyRejected::MalformedJson);
    }
    Ok(crate::parse_json(bytes)?)
}

fn json_response<T: Serialize>(value: &T, content_type: &'static str) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => Response::builder().content_type(content_type).body(bytes),
        Err(_) => crate::error_body::internal("response could not be serialised"),
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

macro_rules! json_payload {
    ($(#[$doc:meta])* $name:ident, $content_type:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name<T>(pub T);

        impl<T: Type> Payload for $name<T> {
            const CONTENT_TYPE: &'static str = $content_type;

            fn check_content_type(content_type: &str) -> bool {
                is_json(content_type)
            }

            fn schema_ref() -> MetaSchemaRef {
                T::schema_ref()
            }

            fn register(registry: &mut Registry) {
                T::register(registry);
            }
        }

        impl<T: Type + DeserializeOwned + Validate + Send> ParsePayload for $name<T> {
            const IS_REQUIRED: bool = true;

            async fn from_request(_: &Request, body: &mut RequestBody) -> poem::Result<Self> {
                let bytes = read_body(body).await?;
                Ok(Self(parse_body(&bytes)?))
            }
        }

        impl<T: Serialize + Send> IntoResponse for $name<T> {
            fn into_response(self) -> Response {
                json_response(&self.0, $content_type)
            }
        }

        poem_openapi::impl_apirequest_for_payload!(
            $name<T>,
            T: Type + DeserializeOwned + Validate + Send
        );
    };
}

json_payload!(
    /// A body of media type `application/json`.
    Json,
    "application/json"
);
json_payload!(
    /// A body of media type `application/json; charset=utf-8`.
    JsonUtf8,
    "application/json; charset=utf-8"
);

/// A body of media type `application/jwt`: a compact JWS whose payload is `T`.
///
/// As a request, it is verified by the route's [`crate::jws::JwsCodec`] before `T` is parsed.
/// As a response, the handler returns [`Jwt::unsigned`] and the generated route signs it
/// after the handler returns, so no handler can forget to.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt<T> {
    pub value: T,
    signed: Option<String>,
}

impl<T> Jwt<T> {
    pub fn unsigned(value: T) -> Self {
        Self {
            value,
            signed: None,
        }
    }

    /// The compact serialisation, once signed (or as received).
    pub fn compact(&self) -> Option<&str> {
        self.signed.as_deref()
    }
}

impl<T: Serialize> Jwt<T> {
    /// Signs the payload with the route's codec; a failure leaves it unsigned, which
    /// answers 500 rather than an unsigned body.
    pub fn sign(&mut self, handle: &JwsHandle, ctx: &RequestContext) {
        let Ok(payload) = serde_json::to_value(&self.value) else {
            return;
        };
        self.signed = handle.0.sign(ctx, payload).ok();
    }
}

impl<T: Type> Payload for Jwt<T> {
    const CONTENT_TYPE: &'static str = "application/jwt";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/jwt")
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + DeserializeOwned + Validate + Send> ParsePayload for Jwt<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = read_body(body).await?;
        let compact = String::from_utf8(bytes).map_err(|_| BodyRejected::MalformedJson)?;
        let handle = request.data::<JwsHandle>().ok_or(BodyRejected::NoCodec)?;
        let ctx = RequestContext::from_request(request, "", "");
        let payload = handle
            .0
            .verify(&ctx, compact.trim())
            .await
            .map_err(BodyRejected::from)?;
        let value = crate::validate::from_value(payload).map_err(BodyRejected::from)?;
        Ok(Self {
            value,
            signed: Some(compact),
        })
    }
}

impl<T: Send> IntoResponse for Jwt<T> {
    fn into_response(self) -> Response {
        match self.signed {
            Some(compact) => Response::builder()
                .content_type("application/jwt")
                .body(compact),
            None => crate::error_body::internal("response body could not be signed"),
        }
    }
}

poem_openapi::impl_apirequest_for_payload!(Jwt<T>, T: Type + DeserializeOwned + Validate + Send);

/// A body the spec marks as not required: absent (no media type) is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Optional<P>(pub Option<P>);

impl<'a, P> poem_openapi::ApiExtractor<'a> for Optional<P>
where
    P: ParsePayload + Payload + Send,
{
    const TYPES: &'static [poem_openapi::ApiExtractorType] =
        &[poem_openapi::ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        P::register(registry);
    }

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: P::CONTENT_TYPE,
                schema: P::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            None => Ok(Self(None)),
            Some(content_type) if P::check_content_type(content_type) => {
                Ok(Self(Some(P::from_request(request, body).await?)))
            }
            Some(content_type) => Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: content_type.to_string(),
            }
            .into()),
        }
    }
}
