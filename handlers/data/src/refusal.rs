//! Refusals and how they become each operation's declared error variant.
//!
//! Policy: the token layer refuses with 401; a missing scope, permission or resource with 403
//! (an unavailable resource with the `STATUS_RESOURCE_*` code of the customers/credit-cards
//! guidance); a query the spec forbids with 422; an exhausted operational limit with 423; a
//! backend that did not answer with 504; anything of our own with 500. Codes are those of
//! requirements §1.15 bodies; the detail never carries personal data.

use std::borrow::Cow;

use aberta_runtime::connector::ConnectorError;
use aberta_runtime::error_body::Rejection;

/// Why a request gets no data: the status, the OFB code and a title/detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: Cow<'static, str>,
    pub title: &'static str,
    pub detail: String,
}

pub mod code {
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NAO_ENCONTRADO";
    pub const INVALID_PARAMETER: &str = "PARAMETRO_INVALIDO";
    pub const MISSING_PARAMETER: &str = "PARAMETRO_NAO_INFORMADO";
    pub const RESOURCE_UNAVAILABLE: &str = "STATUS_RESOURCE_UNAVAILABLE";
    pub const RESOURCE_TEMPORARILY_UNAVAILABLE: &str = "STATUS_RESOURCE_TEMPORARILY_UNAVAILABLE";
    pub const RESOURCE_PENDING_AUTHORISATION: &str = "STATUS_RESOURCE_PENDING_AUTHORISATION";
    /// No spec names the 423 code; this is the platform's.
    pub const OPERATIONAL_LIMIT: &str = "LIMITE_OPERACIONAL_EXCEDIDO";
    pub const GATEWAY_TIMEOUT: &str = "GATEWAY_TIMEOUT";
    pub const INTERNAL: &str = "INTERNAL_SERVER_ERROR";
}

impl Refusal {
    pub fn new(
        status: u16,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            title,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, code::UNAUTHORIZED, "Não autorizado", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, code::FORBIDDEN, "Acesso negado", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, code::NOT_FOUND, "Recurso não encontrado", detail)
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(422, code::INVALID_PARAMETER, "Parâmetro inválido", detail)
    }

    pub fn missing(detail: impl Into<String>) -> Self {
        Self::new(
            422,
            code::MISSING_PARAMETER,
            "Parâmetro não informado",
            detail,
        )
    }

    pub fn locked() -> Self {
        Self::new(
            423,
            code::OPERATIONAL_LIMIT,
            "Limite operacional atingido",
            "the monthly operational limit of this endpoint is exhausted",
        )
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, code::INTERNAL, "Erro interno", detail)
    }

    /// The 403 for a linked resource whose status forbids sharing it now; `None` for
    /// `AVAILABLE` (or an unknown status, which the caller treats as not shared).
    pub fn for_resource_status(status: &str) -> Option<Self> {
        use crate::consent::{PENDING_AUTHORISATION, TEMPORARILY_UNAVAILABLE, UNAVAILABLE};
        let (code, title) = match status {
            UNAVAILABLE => (code::RESOURCE_UNAVAILABLE, "Recurso indisponível"),
            TEMPORARILY_UNAVAILABLE => (
                code::RESOURCE_TEMPORARILY_UNAVAILABLE,
                "Recurso temporariamente indisponível",
            ),
            PENDING_AUTHORISATION => (
                code::RESOURCE_PENDING_AUTHORISATION,
                "Aguardando autorização de múltiplas alçadas",
            ),
            _ => return None,
        };
        Some(Self::new(
            403,
            code,
            title,
            "the resource cannot be shared now",
        ))
    }

    /// How a backend failure reaches the caller.
    pub fn from_connector(err: &ConnectorError) -> Self {
        match err {
            ConnectorError::NotFound => Self::not_found("the resource does not exist"),
            ConnectorError::Unavailable(status) => Self::for_resource_status(status)
                .unwrap_or_else(|| {
                    Self::new(
                        403,
                        code::RESOURCE_UNAVAILABLE,
                        "Recurso indisponível",
                        "the resource cannot be shared now",
                    )
                }),
            ConnectorError::Refused { code, detail } => Self {
                status: 422,
                code: Cow::Owned(code.clone()),
                title: "Requisição recusada",
                detail: detail.clone(),
            },
            ConnectorError::Timeout | ConnectorError::Pending => Self::new(
                504,
                code::GATEWAY_TIMEOUT,
                "Tempo esgotado",
                "the backend did not answer in time",
            ),
            ConnectorError::Backend(_) => Self::internal("the backend failed"),
        }
    }
}

/// The OFB error the generated response enums are built from (`From<Rejection>`), so each
/// refusal lands on the operation's declared variant with its own error body type.
impl From<Refusal> for Rejection {
    fn from(refusal: Refusal) -> Self {
        Rejection::new(
            poem::http::StatusCode::from_u16(refusal.status)
                .unwrap_or(poem::http::StatusCode::INTERNAL_SERVER_ERROR),
            &refusal.code,
            refusal.title,
            refusal.detail,
        )
    }
}
