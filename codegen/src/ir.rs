//! The small intermediate form between an OpenAPI document and Rust: what the emitters need
//! and nothing else.

/// One generated crate: an API at one major version.
#[derive(Debug, Clone)]
pub struct Api {
    pub name: String,
    pub version: String,
    pub major: u64,
    /// Package name, e.g. `ofb-consents-v3`.
    pub package: String,
    /// The base path the routes are mounted under, e.g. `/open-banking/consents/v3`.
    pub base_path: String,
    /// Pascal-case stem for trait names, e.g. `Consents`.
    pub stem: String,
    pub types: Vec<TypeDef>,
    pub params: Vec<ParamDef>,
    pub operations: Vec<Operation>,
    /// Distinct ECMA patterns; `Checks::pattern` indexes this list.
    pub patterns: Vec<String>,
}

impl Api {
    pub fn signed(&self) -> bool {
        self.operations.iter().any(Operation::signed)
    }

    /// `api version pointer`, the form every generated doc comment takes.
    pub fn cite(&self, pointer: &str) -> String {
        format!(" `{}` {} `#{}`", self.name, self.version, pointer)
    }
}

/// A Rust type a field, item or body can have.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// A model of this crate (Rust identifier).
    Named(String),
    /// A hand-written shared type (path).
    Shared(String),
    String,
    Bool,
    I32,
    I64,
    F64,
    /// Anything (an untyped schema).
    Value,
    /// An object with free-form properties.
    Map,
    Vec(Box<Ty>),
}

impl Ty {
    pub fn is_model(&self) -> bool {
        match self {
            Ty::Named(_) | Ty::Shared(_) => true,
            Ty::Vec(inner) => inner.is_model(),
            _ => false,
        }
    }
}

/// The constraints on one value, as the spec states them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checks {
    /// The JSON schema `type` and `format`, for the served document.
    pub json_type: Option<String>,
    pub format: Option<String>,
    /// Index into `Api::patterns`; `None` when absent or when it matches every string.
    pub pattern: Option<usize>,
    /// The pattern as written, for the served document (even when it matches everything).
    pub pattern_source: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<(f64, bool)>,
    pub maximum: Option<(f64, bool)>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    /// Allowed values of a string that is not a Rust enum (parameters).
    pub enum_values: Vec<String>,
    /// Constraints on the items of an array.
    pub items: Option<Box<Checks>>,
}

impl Checks {
    /// Whether validating needs any code.
    pub fn is_active(&self) -> bool {
        self.pattern.is_some()
            || self.min_length.is_some()
            || self.max_length.is_some()
            || self.minimum.is_some()
            || self.maximum.is_some()
            || self.min_items.is_some()
            || self.max_items.is_some()
            || self.unique_items
            || !self.enum_values.is_empty()
            || matches!(self.format.as_deref(), Some("date" | "date-time"))
            || self.items.as_ref().is_some_and(|c| c.is_active())
    }
}

#[derive(Debug, Clone)]
pub struct TypeDef {
    /// Rust identifier.
    pub ident: String,
    /// The name in the served document's components.
    pub schema_name: String,
    /// Where it comes from in the spec.
    pub pointer: String,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Struct {
        fields: Vec<Field>,
        deny_unknown: bool,
    },
    /// A string enumeration: (value, Rust variant).
    Enum { variants: Vec<(String, String)> },
    /// A named primitive or array schema.
    Newtype { ty: Ty, checks: Box<Checks> },
    /// `oneOf`/`anyOf` without a discriminator: the first variant that parses.
    OneOf { variants: Vec<Ty> },
    /// Structurally equal to a hand-written shared type; `fields` are the spec's, kept for the
    /// spec index.
    Alias { path: String, fields: Vec<Field> },
}

#[derive(Debug, Clone)]
pub struct Field {
    pub json: String,
    pub ident: String,
    pub ty: Ty,
    pub required: bool,
    /// The spec admits an explicit `null` (`nullable: true`); otherwise a `null` is refused
    /// even where the property may be absent.
    pub nullable: bool,
    pub checks: Checks,
}

/// A parameter schema, generated once per distinct schema.
#[derive(Debug, Clone)]
pub struct ParamDef {
    pub ident: String,
    pub raw: Ty,
    pub checks: Checks,
    /// Every spec pointer where a parameter with this schema is defined (`.../schema`).
    pub pointers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    /// snake-case method name.
    pub ident: String,
    /// Pascal-case stem for the request and response types.
    pub type_stem: String,
    pub path: String,
    pub method: String,
    pub pointer: String,
    pub params: Vec<OpParam>,
    pub body: Option<Body>,
    pub responses: Vec<Response>,
    /// Served by the bank's backend through the connector trait.
    pub connector: bool,
    /// The spec demands credentials (a non-empty `security` requirement).
    pub secured: bool,
}

impl Operation {
    pub fn signed(&self) -> bool {
        self.body.as_ref().is_some_and(|b| b.signed)
            || self
                .responses
                .iter()
                .any(|r| r.content.as_ref().is_some_and(|c| c.signed))
    }

    pub fn declares(&self, status: u16) -> bool {
        self.responses.iter().any(|r| r.status == Some(status))
    }
}

#[derive(Debug, Clone)]
pub struct OpParam {
    pub name: String,
    pub ident: String,
    pub location: Location,
    pub required: bool,
    pub ty: String,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub content_type: String,
    pub schema_pointer: String,
    pub ty: Ty,
    pub signed: bool,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct Response {
    /// `None` for `default`.
    pub status: Option<u16>,
    pub variant: String,
    pub content: Option<Content>,
    pub headers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Content {
    pub content_type: String,
    pub schema_pointer: String,
    pub ty: Ty,
    pub signed: bool,
}
