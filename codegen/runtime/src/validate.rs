//! Constraint checks for generated models.
//!
//! Parsing is two steps: serde builds the typed value (a missing field or a wrong type stops it
//! there, with the path of the field), then [`Validate`] walks the value and checks every
//! constraint the spec states (pattern, lengths, bounds, item counts, date formats). Every
//! failure is a [`Violation`] carrying the JSON pointer of the field and the OFB error code:
//! `PARAMETRO_NAO_INFORMADO` when a required field is absent, `PARAMETRO_INVALIDO` otherwise.

use std::fmt;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

/// The OFB error code a violation maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A required field or parameter is absent.
    ParametroNaoInformado,
    /// A field or parameter is present but breaks the spec.
    ParametroInvalido,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParametroNaoInformado => "PARAMETRO_NAO_INFORMADO",
            Self::ParametroInvalido => "PARAMETRO_INVALIDO",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken constraint: where (a JSON pointer into the parsed document), which OFB code, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pointer: String,
    pub code: ErrorCode,
    /// The constraint that failed, e.g. `maxLength 20`; never the offending value, which may
    /// be personal data.
    pub rule: String,
}

/// Every violation found in one value, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct Violations(pub Vec<Violation>);

fn render(list: &[Violation]) -> String {
    list.iter()
        .map(|v| format!("{} at '{}': {}", v.code, v.pointer, v.rule))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Violations {
    /// The code the response should carry: a missing field wins over a malformed one.
    pub fn code(&self) -> ErrorCode {
        if self
            .0
            .iter()
            .any(|v| v.code == ErrorCode::ParametroNaoInformado)
        {
            ErrorCode::ParametroNaoInformado
        } else {
            ErrorCode::ParametroInvalido
        }
    }

    pub fn single(pointer: impl Into<String>, code: ErrorCode, rule: impl Into<String>) -> Self {
        Self(vec![Violation {
            pointer: pointer.into(),
            code,
            rule: rule.into(),
        }])
    }
}

/// An ECMA-262 pattern from the spec, compiled on first use and kept for the process.
///
/// The specs use look-ahead (`^(?!\s)...`), which the `regex` crate rejects, and ECMA semantics
/// (ASCII `\d`, `\w`), so patterns run on `regress`. The generator compiles every pattern
/// when it runs, so a pattern that reaches this type is known to compile.
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Option<regress::Regex>>,
}

impl Pattern {
    pub const fn new(source: &'static str) -> Self {
        Self {
            source,
            compiled: OnceLock::new(),
        }
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// ECMA `RegExp.prototype.test`: the pattern matches somewhere in the text.
    pub fn is_match(&self, text: &str) -> bool {
        let compiled = self
            .compiled
            .get_or_init(|| regress::Regex::new(self.source).ok());
        match compiled {
            Some(re) => re.find(text).is_some(),
            // Unreachable for generated code (the generator rejects such patterns); a value
            // cannot be proven valid against a pattern that does not compile.
            None => false,
        }
    }
}

/// Walks a value and records violations, tracking the JSON pointer of the current field.
#[derive(Default)]
pub struct Validator {
    path: Vec<String>,
    found: Vec<Violation>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts at a pointer prefix, e.g. `/data` when the value sits inside an envelope.
    pub fn at_root(pointer: &str) -> Self {
        let path = pointer
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        Self {
            path,
            found: Vec::new(),
        }
    }

    pub fn finish(self) -> Result<(), Violations> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(Violations(self.found))
        }
    }

    /// Runs `check` one level down, at `segment` (a property name or an array index).
    pub fn field(&mut self, segment: impl fmt::Display, check: impl FnOnce(&mut Self)) {
        self.path.push(segment.to_string());
        check(self);
        self.path.pop();
    }

    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            out.push('/');
            out.push_str(&seg.replace('~', "~0").replace('/', "~1"));
        }
        out
    }

    pub fn fail(&mut self, code: ErrorCode, rule: impl Into<String>) {
        let pointer = self.pointer();
        self.found.push(Violation {
            pointer,
            code,
            rule: rule.into(),
        });
    }

    fn invalid(&mut self, rule: impl FnOnce() -> String) {
        self.fail(ErrorCode::ParametroInvalido, rule());
    }

    pub fn pattern(&mut self, text: &str, pattern: &Pattern) {
        if !pattern.is_match(text) {
            self.invalid(|| format!("pattern {}", pattern.source()));
        }
    }

    /// Length in UTF-16 code units would be ECMA's; JSON Schema counts code points, as here.
    pub fn max_length(&mut self, text: &str, max: usize) {
        if text.chars().count() > max {
            self.invalid(|| format!("maxLength {max}"));
        }
    }

    pub fn min_length(&mut self, text: &str, min: usize) {
        if text.chars().count() < min {
            self.invalid(|| format!("minLength {min}"));
        }
    }

    pub fn minimum(&mut self, value: f64, min: f64, exclusive: bool) {
        if value < min || (exclusive && value == min) {
            self.invalid(|| format!("minimum {min}"));
        }
    }

    pub fn maximum(&mut self, value: f64, max: f64, exclusive: bool) {
        if value > max || (exclusive && value == max) {
            self.invalid(|| format!("maximum {max}"));
        }
    }

    pub fn min_items(&mut self, len: usize, min: usize) {
        if len < min {
            self.invalid(|| format!("minItems {min}"));
        }
    }

    pub fn max_items(&mut self, len: usize, max: usize) {
        if len > max {
            self.invalid(|| format!("maxItems {max}"));
        }
    }

    pub fn unique_items<T: PartialEq>(&mut self, items: &[T]) {
        let repeated = items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].iter().any(|b| a == b));
        if repeated {
            self.invalid(|| "uniqueItems".to_string());
        }
    }

    /// `format: date`: a real calendar date written `YYYY-MM-DD`.
    pub fn date(&mut self, text: &str) {
        if !is_date(text) {
            self.invalid(|| "format date".to_string());
        }
    }

    /// `format: date-time`: RFC 3339.
    pub fn date_time(&mut self, text: &str) {
        if chrono::DateTime::parse_from_rfc3339(text).is_err() {
            self.invalid(|| "format date-time".to_string());
        }
    }

    /// A value that must be one of `allowed` (enums whose type is not a Rust enum).
    pub fn one_of_values(&mut self, text: &str, allowed: &[&str]) {
        if !allowed.contains(&text) {
            self.invalid(|| "enum".to_string());
        }
    }
}

pub fn is_date(text: &str) -> bool {
    text.len() == 10 && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// A type whose every spec constraint can be checked.
pub trait Validate {
    fn validate(&self, v: &mut Validator);

    /// Checks the whole value from the document root.
    fn check(&self) -> Result<(), Violations> {
        let mut v = Validator::new();
        self.validate(&mut v);
        v.finish()
    }
}

impl<T: Validate> Validate for Option<T> {
    fn validate(&self, v: &mut Validator) {
        if let Some(inner) = self {
            inner.validate(v);
        }
    }
}

impl<T: Validate> Validate for Vec<T> {
    fn validate(&self, v: &mut Validator) {
        for (i, item) in self.iter().enumerate() {
            v.field(i, |v| item.validate(v));
        }
    }
}

impl<T: Validate> Validate for Box<T> {
    fn validate(&self, v: &mut Validator) {
        (**self).validate(v);
    }
}

macro_rules! unconstrained {
    ($($t:ty),*) => {$(
        impl Validate for $t {
            fn validate(&self, _: &mut Validator) {}
        }
    )*};
}
unconstrained!(
    String,
    bool,
    i32,
    i64,
    f64,
    serde_json::Value,
    serde_json::Map<String, serde_json::Value>
);

/// `deserialize_with` of an optional property the spec does not mark `nullable`: absent is
/// `None` (with `#[serde(default)]`), an explicit `null` is a violation at its pointer.
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    match <Option<T> as serde::Deserialize>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(NOT_NULLABLE)),
    }
}

/// The rule of a `null` where the spec admits none.
pub const NOT_NULLABLE: &str = "not nullable";

/// Parses JSON into a generated model and checks every constraint.
pub fn parse_json<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, Violations> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(from_serde)?;
    de.end()
        .map_err(|e| Violations::single("", ErrorCode::ParametroInvalido, e.to_string()))?;
    value.check()?;
    Ok(value)
}

/// As [`parse_json`], from an already parsed JSON value (a verified JWS payload, say).
pub fn from_value<T: DeserializeOwned + Validate>(
    value: serde_json::Value,
) -> Result<T, Violations> {
    let value: T = serde_path_to_error::deserialize(value).map_err(from_serde)?;
    value.check()?;
    Ok(value)
}

/// Parses a standalone value of a property and applies `checks` to it (used by the generated
/// spec index).
pub fn check_value<T: DeserializeOwned>(
    json: &[u8],
    checks: impl FnOnce(&T, &mut Validator),
) -> Result<(), Violations> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(from_serde)?;
    let mut v = Validator::new();
    checks(&value, &mut v);
    v.finish()
}

/// Maps a serde failure to a violation at the field's pointer.
fn from_serde<E: serde::de::Error + fmt::Display>(
    err: serde_path_to_error::Error<E>,
) -> Violations {
    let mut pointer = String::new();
    for seg in err.path().iter() {
        use serde_path_to_error::Segment;
        match seg {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    let message = err.inner().to_string();
    if let Some(field) = missing_field(&message) {
        pointer.push('/');
        pointer.push_str(field);
        return Violations::single(pointer, ErrorCode::ParametroNaoInformado, "required");
    }
    // serde's messages can quote the offending value; keep only the kind of failure.
    let rule = message
        .split_once(':')
        .map_or(message.as_str(), |(head, _)| head)
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .to_string();
    Violations::single(pointer, ErrorCode::ParametroInvalido, rule)
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_ahead_patterns_run_with_ecma_semantics() {
        let p = Pattern::new(r"^(?!\s)(.*)(\S)$");
        assert!(p.is_match("Ana"));
        assert!(!p.is_match(" Ana"));
        let digits = Pattern::new(r"^\d{11}$");
        assert!(!digits.is_match("١٢٣٤٥٦٧٨٩٠١"), "ECMA \\d is ASCII only");
    }

    #[test]
    fn pointers_escape_and_nest() {
        let mut v = Validator::at_root("/data");
        v.field("a/b", |v| v.field(2, |v| v.max_length("abc", 2)));
        let err = v.finish().unwrap_err();
        assert_eq!(err.0[0].pointer, "/data/a~1b/2");
        assert_eq!(err.code(), ErrorCode::ParametroInvalido);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Optional {
        #[serde(default, deserialize_with = "non_null")]
        a: Option<String>,
    }

    impl Validate for Optional {
        fn validate(&self, _: &mut Validator) {}
    }

    #[test]
    fn an_explicit_null_is_not_an_absent_value() {
        assert_eq!(parse_json::<Optional>(b"{}").unwrap().a, None);
        assert_eq!(
            parse_json::<Optional>(br#"{"a":"x"}"#)
                .unwrap()
                .a
                .as_deref(),
            Some("x")
        );
        let err = parse_json::<Optional>(br#"{"a":null}"#).unwrap_err();
        assert_eq!(err.0[0].pointer, "/a");
        assert_eq!(err.0[0].rule, NOT_NULLABLE);
        assert_eq!(err.code(), ErrorCode::ParametroInvalido);
    }

    #[test]
    fn dates_must_exist() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2023-2-1"));
    }
}
