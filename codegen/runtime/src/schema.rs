//! How generated models describe themselves to poem-openapi, so that the document a generated
//! server serves carries the spec's schemas.

pub use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};

/// An inline schema reference.
pub fn inline(schema: MetaSchema) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(schema))
}

/// `type: array` around `items`.
pub fn array(items: MetaSchemaRef) -> MetaSchema {
    MetaSchema {
        items: Some(Box::new(items)),
        ..MetaSchema::new("array")
    }
}

/// Registers `T` and returns its reference.
pub fn of<T: poem_openapi::types::Type>(registry: &mut Registry) -> MetaSchemaRef {
    T::register(registry);
    T::schema_ref()
}

/// Implements `poem_openapi::types::Type` for a named model whose schema is built by `$build`.
#[macro_export]
macro_rules! openapi_type {
    ($ty:ty, $name:literal, |$registry:ident| $build:expr) => {
        impl $crate::reexport::poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($name)
            }

            fn schema_ref() -> $crate::schema::MetaSchemaRef {
                $crate::schema::MetaSchemaRef::Reference($name.to_string())
            }

            #[allow(unused_variables)]
            fn register($registry: &mut $crate::schema::Registry) {
                #[allow(unused_variables)]
                $registry.create_schema::<Self, _>($name.to_string(), |$registry| $build);
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(::std::iter::once(self))
            }
        }
    };
}
