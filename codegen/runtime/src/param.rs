//! Path, query and header parameters of generated servers.
//!
//! Each distinct parameter schema of a spec becomes a generated newtype that implements
//! [`poem_openapi::types::Type`] (so the served document shows the spec's schema) and parses
//! through [`parse_param`], which applies the spec's constraints and reports failures in a form
//! the error mapping understands.

use poem_openapi::types::ParseError;

use crate::{Validate, Validator};

/// Parses a parameter value of type `T` from text and checks `T`'s constraints.
pub fn parse_param<T, R>(
    text: Option<&str>,
    raw: impl FnOnce(&str) -> Option<R>,
    wrap: impl FnOnce(R) -> T,
) -> Result<T, ParseError<T>>
where
    T: Validate + poem_openapi::types::Type,
{
    let text = text.ok_or_else(|| ParseError::custom(MISSING))?;
    let value = raw(text)
        .map(wrap)
        .ok_or_else(|| ParseError::custom(MALFORMED))?;
    let mut v = Validator::new();
    value.validate(&mut v);
    match v.finish() {
        Ok(()) => Ok(value),
        Err(violations) => Err(ParseError::custom(format!(
            "{INVALID}: {}",
            violations
                .0
                .iter()
                .map(|v| v.rule.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Reason prefixes the error mapping reads back (poem-openapi carries only a message).
pub const MISSING: &str = "missing";
pub const MALFORMED: &str = "malformed";
pub const INVALID: &str = "invalid";

/// Declares a parameter newtype over `$raw`, with its schema and checks.
#[macro_export]
macro_rules! parameter {
    ($(#[$doc:meta])* $name:ident($raw:ty), $schema:expr, |$value:ident, $v:ident| $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name(pub $raw);

        impl $crate::Validate for $name {
            #[allow(unused_variables)]
            fn validate(&self, $v: &mut $crate::Validator) {
                let $value = &self.0;
                $check
            }
        }

        impl $crate::reexport::poem_openapi::types::Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }

            fn schema_ref() -> $crate::schema::MetaSchemaRef {
                $crate::schema::inline($schema)
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(::std::iter::once(self))
            }
        }

        impl $crate::reexport::poem_openapi::types::ParseFromParameter for $name {
            fn parse_from_parameter(
                text: &str,
            ) -> $crate::reexport::poem_openapi::types::ParseResult<Self> {
                $crate::param::parse_param(Some(text), |t| t.parse::<$raw>().ok(), $name)
            }
        }
    };
}
