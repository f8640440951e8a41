//! The OFB error body for requests refused before they reach a handler.
//!
//! Policy: a body or parameter that breaks the spec answers 422 with the violation's code
//! (`PARAMETRO_NAO_INFORMADO` or `PARAMETRO_INVALIDO`) when the operation's 422 schema admits
//! that code, and 400 with the same code otherwise (the 400 covers a malformed request or one
//! that omits required attributes, and its schema takes any code); a missing or malformed header always answers 400 (the
//! certification suite expects 400 for a missing `x-fapi-interaction-id`); malformed JSON
//! answers 400; a JWS that does not verify answers 400 `BAD_SIGNATURE`; a wrong media type keeps
//! poem's 415/406. The detail names the field, never its value.

use poem::Response;
use poem::http::StatusCode;
use poem_openapi::error::ContentTypeError;
use poem_openapi::error::ParseParamError;

use crate::jws::JwsError;
use crate::param;
use crate::payload::BodyRejected;
use crate::shared::{ErrorItem, MetaSingle, ResponseError};

/// A refusal: the status and the body to send.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub status: StatusCode,
    pub body: ResponseError,
}

impl Rejection {
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ResponseError {
                errors: vec![ErrorItem {
                    code: code.to_string(),
                    title: title.to_string(),
                    detail: detail.into(),
                }],
                meta: Some(MetaSingle {
                    request_date_time: now(),
                }),
            },
        }
    }

    /// Classifies an extractor error; `codes_422` are the validation codes the operation's 422
    /// schema admits (none when it lists no 422, both when its `code` is a free string).
    pub fn from_error(err: &poem::Error, codes_422: &[&str]) -> Self {
        let validation_status = |code: &str| {
            if codes_422.contains(&code) {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_REQUEST
            }
        };
        if let Some(rejected) = err.downcast_ref::<BodyRejected>() {
            return match rejected {
                BodyRejected::Invalid(violations) => {
                    let first = &violations.0[0];
                    Self::new(
                        validation_status(violations.code().as_str()),
                        violations.code().as_str(),
                        title_of(violations.code().as_str()),
                        format!("'{}': {}", first.pointer, first.rule),
                    )
                }
                BodyRejected::MalformedJson => Self::new(
                    StatusCode::BAD_REQUEST,
                    "PARAMETRO_INVALIDO",
                    "Parâmetro inválido",
                    "the body is not valid JSON",
                ),
                BodyRejected::Jws(JwsError::BadSignature(_)) => Self::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_SIGNATURE",
                    "Assinatura inválida",
                    "the body signature does not verify",
                ),
                BodyRejected::Jws(JwsError::Claims(detail)) => Self::new(
                    StatusCode::FORBIDDEN,
                    "INVALID_CLIENT",
                    "Cliente inválido",
                    detail.clone(),
                ),
                BodyRejected::Jws(other) => Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "Erro interno",
                    other.to_string(),
                ),
                BodyRejected::TooLarge => Self::new(
                    StatusCode::BAD_REQUEST,
                    "PARAMETRO_INVALIDO",
                    "Parâmetro inválido",
                    rejected.to_string(),
                ),
                BodyRejected::NoCodec => Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "Erro interno",
                    "signed bodies are not configured",
                ),
            };
        }
        if let Some(param_err) = err.downcast_ref::<ParseParamError>() {
            // poem-openapi reports an absent required parameter as "expects an input value".
            let missing = param_err.reason.starts_with(param::MISSING)
                || param_err.reason.contains("expects an input value");
            let code = if missing {
                "PARAMETRO_NAO_INFORMADO"
            } else {
                "PARAMETRO_INVALIDO"
            };
            let is_header = param_err.name.starts_with("x-") || param_err.name == "Authorization";
            let status = if is_header {
                StatusCode::BAD_REQUEST
            } else {
                validation_status(code)
            };
            return Self::new(
                status,
                code,
                title_of(code),
                format!("parameter '{}': {}", param_err.name, param_err.reason),
            );
        }
        if err.is::<ContentTypeError>() {
            return Self::new(
                err.status(),
                "CONTENT_TYPE_INVALIDO",
                "Tipo de conteúdo inválido",
                "the request media type is not the one the spec names",
            );
        }
        let status = err.status();
        Self::new(
            status,
            "PARAMETRO_INVALIDO",
            "Requisição inválida",
            status.to_string(),
        )
    }

    /// The body as the operation's own error type (its 400/422 schema), when that schema
    /// accepts it.
    ///
    /// Some APIs type the error's `meta` as the paged `Meta` (with `totalRecords` and
    /// `totalPages`): the body is offered with those counts (one error, one page) next, and
    /// without `meta` last.
    pub fn body_as<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        let mut value = serde_json::to_value(&self.body).ok()?;
        if let Ok(body) = serde_json::from_value(value.clone()) {
            return Some(body);
        }
        if let Some(meta) = value.get_mut("meta").and_then(|m| m.as_object_mut()) {
            meta.insert("totalRecords".into(), 1.into());
            meta.insert("totalPages".into(), 1.into());
            if let Ok(body) = serde_json::from_value(value.clone()) {
                return Some(body);
            }
        }
        if let Some(object) = value.as_object_mut() {
            object.remove("meta");
        }
        serde_json::from_value(value).ok()
    }

    pub fn into_response(self) -> Response {
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8")
            .body(bytes)
    }
}

fn title_of(code: &str) -> &'static str {
    match code {
        "PARAMETRO_NAO_INFORMADO" => "Parâmetro não informado",
        _ => "Parâmetro inválido",
    }
}

/// `requestDateTime` as the specs write it: UTC, seconds, `Z`.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A 500 in the OFB format, for failures after the handler (serialising, signing).
pub fn internal(detail: &str) -> Response {
    Rejection::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_SERVER_ERROR",
        "Erro interno",
        detail,
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct PagedMeta {
        #[serde(rename = "totalRecords")]
        total_records: i32,
        #[serde(rename = "requestDateTime")]
        request_date_time: String,
    }

    #[derive(serde::Deserialize)]
    struct PagedError {
        meta: Option<PagedMeta>,
    }

    #[test]
    fn validation_answers_422_only_with_a_code_the_422_admits() {
        let invalid = || {
            poem::Error::from(BodyRejected::Invalid(crate::Violations::single(
                "/data/x",
                crate::ErrorCode::ParametroInvalido,
                "maxLength 1",
            )))
        };
        let both = ["PARAMETRO_INVALIDO", "PARAMETRO_NAO_INFORMADO"];
        let r = Rejection::from_error(&invalid(), &both);
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = Rejection::from_error(&invalid(), &["PARAMETRO_NAO_INFORMADO"]);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body.errors[0].code, "PARAMETRO_INVALIDO");
        let r = Rejection::from_error(&invalid(), &[]);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_rejection_fits_an_error_schema_with_paged_meta() {
        let r = Rejection::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PARAMETRO_INVALIDO",
            "t",
            "d",
        );
        let shared: Option<ResponseError> = r.body_as();
        assert!(shared.is_some());
        let paged: PagedError = r.body_as().expect("fits with counts");
        let meta = paged.meta.expect("meta kept");
        assert_eq!(meta.total_records, 1);
        assert!(meta.request_date_time.ends_with('Z'));
    }
}
