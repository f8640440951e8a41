//! Shapes that every OFB spec repeats, written once.
//!
//! The generator refers to these instead of emitting a copy: a string field whose spec pattern
//! is exactly the one named here becomes the newtype, and a component schema whose structure
//! (descriptions and examples aside) equals the one recorded in `codegen/shared.yml` becomes
//! the struct. Personal data redacts itself in `Debug`. In served documents these carry an `Ofb`
//! prefix, so they never share a component name with a spec's own (different) schema.

use poem_openapi::registry::MetaSchema;
use serde::{Deserialize, Serialize};

use crate::validate::{Pattern, Validate, Validator};

macro_rules! constrained_string {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, redact = $redact:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = crate::Violations;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                let candidate = Self(value);
                candidate.check()?;
                Ok(candidate)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Violations;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::try_from(s.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                if $redact {
                    write!(f, "{}(***{})", stringify!($name), self.0.len())
                } else {
                    write!(f, "{}({:?})", stringify!($name), self.0)
                }
            }
        }

        impl Validate for $name {
            fn validate(&self, v: &mut Validator) {
                static PATTERN: Pattern = Pattern::new($pattern);
                v.pattern(&self.0, &PATTERN);
            }
        }

        impl poem_openapi::types::Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed("string")
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                crate::schema::inline(MetaSchema {
                    pattern: Some($pattern.to_string()),
                    ..MetaSchema::new("string")
                })
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }
    };
}

constrained_string!(
    /// A CPF: eleven digits (`^\d{11}$`). Personal data.
    Cpf,
    r"^\d{11}$",
    redact = true
);
constrained_string!(
    /// A CNPJ: fourteen digits (`^\d{14}$`). Identifies a business; redacted like a CPF
    /// because it also names sole proprietors.
    Cnpj,
    r"^\d{14}$",
    redact = true
);
constrained_string!(
    /// A payment amount in reais: up to sixteen integer digits and two decimals.
    Amount,
    r"^((\d{1,16}\.\d{2}))$",
    redact = false
);

/// `meta` of a paginated response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "totalRecords")]
    pub total_records: i32,
    #[serde(rename = "totalPages")]
    pub total_pages: i32,
    #[serde(rename = "requestDateTime")]
    pub request_date_time: String,
}

impl Validate for Meta {
    fn validate(&self, v: &mut Validator) {
        v.field("requestDateTime", |v| {
            v.max_length(&self.request_date_time, 20);
            v.date_time(&self.request_date_time);
        });
    }
}

crate::openapi_type!(Meta, "OfbMeta", |registry| MetaSchema {
    required: vec!["totalRecords", "totalPages", "requestDateTime"],
    properties: vec![
        ("totalRecords", int32()),
        ("totalPages", int32()),
        ("requestDateTime", request_date_time()),
    ],
    ..MetaSchema::new("object")
});

/// `meta` of a single-resource response and of error bodies: the request time alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaSingle {
    #[serde(rename = "requestDateTime")]
    pub request_date_time: String,
}

impl Validate for MetaSingle {
    fn validate(&self, v: &mut Validator) {
        v.field("requestDateTime", |v| {
            v.max_length(&self.request_date_time, 20);
            v.date_time(&self.request_date_time);
        });
    }
}

crate::openapi_type!(MetaSingle, "OfbMetaSingle", |registry| MetaSchema {
    required: vec!["requestDateTime"],
    properties: vec![("requestDateTime", request_date_time())],
    ..MetaSchema::new("object")
});

/// Pagination links (`maxLength` 2000 each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

impl Validate for Links {
    fn validate(&self, v: &mut Validator) {
        v.field("self", |v| v.max_length(&self.self_, 2000));
        for (name, link) in [
            ("first", &self.first),
            ("prev", &self.prev),
            ("next", &self.next),
            ("last", &self.last),
        ] {
            if let Some(link) = link {
                v.field(name, |v| v.max_length(link, 2000));
            }
        }
    }
}

crate::openapi_type!(Links, "OfbLinks", |registry| {
    let link = || {
        crate::schema::inline(MetaSchema {
            format: Some("url"),
            max_length: Some(2000),
            ..MetaSchema::new("string")
        })
    };
    MetaSchema {
        required: vec!["self"],
        properties: vec![
            ("self", link()),
            ("first", link()),
            ("prev", link()),
            ("next", link()),
            ("last", link()),
        ],
        ..MetaSchema::new("object")
    }
});

/// One entry of an error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorItem {
    pub code: String,
    pub title: String,
    pub detail: String,
}

/// The error body of the specs that share it: `errors` (1..13) and an optional `meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseError {
    pub errors: Vec<ErrorItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<MetaSingle>,
}

impl Validate for ResponseError {
    fn validate(&self, v: &mut Validator) {
        v.field("errors", |v| {
            v.min_items(self.errors.len(), 1);
            v.max_items(self.errors.len(), 13);
            for (i, item) in self.errors.iter().enumerate() {
                v.field(i, |v| {
                    v.field("code", |v| v.max_length(&item.code, 255));
                    v.field("title", |v| v.max_length(&item.title, 255));
                    v.field("detail", |v| v.max_length(&item.detail, 2048));
                });
            }
        });
        v.field("meta", |v| self.meta.validate(v));
    }
}

crate::openapi_type!(ResponseError, "OfbResponseError", |registry| {
    let text = |max| {
        crate::schema::inline(MetaSchema {
            pattern: Some(r"[\w\W\s]*".to_string()),
            max_length: Some(max),
            ..MetaSchema::new("string")
        })
    };
    let item = MetaSchema {
        required: vec!["code", "title", "detail"],
        properties: vec![
            ("code", text(255)),
            ("title", text(255)),
            ("detail", text(2048)),
        ],
        ..MetaSchema::new("object")
    };
    MetaSchema {
        required: vec!["errors"],
        properties: vec![
            (
                "errors",
                crate::schema::inline(MetaSchema {
                    min_items: Some(1),
                    max_items: Some(13),
                    ..crate::schema::array(crate::schema::inline(item))
                }),
            ),
            ("meta", crate::schema::of::<MetaSingle>(registry)),
        ],
        ..MetaSchema::new("object")
    }
});

fn int32() -> poem_openapi::registry::MetaSchemaRef {
    crate::schema::inline(MetaSchema::new_with_format("integer", "int32"))
}

fn request_date_time() -> poem_openapi::registry::MetaSchemaRef {
    crate::schema::inline(MetaSchema {
        format: Some("date-time"),
        max_length: Some(20),
        ..MetaSchema::new("string")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_redacted_in_debug() {
        let cpf: Cpf = "12345678901".parse().unwrap();
        assert!(!format!("{cpf:?}").contains("12345678901"));
        assert!("1234567890a".parse::<Cpf>().is_err());
    }
}
