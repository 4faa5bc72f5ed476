//! Internally tagged enums (`{"type": "choice_set", "key": …}`), decoded without buffering
//! when the tag comes first.
//!
//! serde's derived decoder for `#[serde(tag = "…")]` first copies the whole object into an
//! intermediate tree, because the tag may come anywhere, and then decodes the variant from
//! that copy. Every entry Tessera writes puts the tag first, and decoding ledger entries is
//! most of the work of reading a customer's stream, so this decoder reads the first key and,
//! when it is the tag, hands the rest of the object straight to the variant's fields. Any
//! other order takes the general path: the object is copied into a [`serde_json::Value`]
//! and decoded from there. Both paths decode the variant with serde's derived decoder for
//! the externally tagged form of the same enum (a `#[serde(remote = …)]` mirror, which the
//! compiler holds to the real enum), so they accept the same objects as serde's derived
//! internally tagged decoder with `deny_unknown_fields`: unknown and duplicate fields are
//! errors, and so is a second tag. One difference, on purpose: the derived decoder ignores
//! fields beside a variant that has none (`{"type": "registered", "x": 1}`), which would let
//! an edit of a stored entry decode to the same entry and keep its hash; this one refuses
//! them. `core/tests/it/tagged.rs` checks both claims against the derived decoder.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// An enum written with its variant's name under the key [`TAG`](Self::TAG) beside the
/// variant's fields.
pub(crate) trait Tagged<'de>: Sized {
    /// The key of the variant's name.
    const TAG: &'static str;
    /// What the decoder expects, for error messages.
    const EXPECTING: &'static str;
    /// Decodes the externally tagged form: an enum whose variant is named by the
    /// deserializer (the derived decoder of the `remote` mirror).
    fn externally_tagged<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// Decodes an internally tagged `T`.
pub(crate) fn deserialize<'de, T: Tagged<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(TaggedVisitor(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Tagged<'de>> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(first) = map.next_key::<Cow<'de, str>>()? else {
            return Err(de::Error::missing_field(T::TAG));
        };
        if first == T::TAG {
            let variant: Cow<'de, str> = map.next_value()?;
            return T::externally_tagged(Rest { variant, map });
        }
        // The general path: copy the object, take the tag out, decode the rest.
        let mut object = serde_json::Map::new();
        let mut key = Some(first);
        while let Some(k) = key {
            let value: serde_json::Value = map.next_value()?;
            if object.insert(k.clone().into_owned(), value).is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{k}`")));
            }
            key = map.next_key()?;
        }
        let variant = match object.remove(T::TAG) {
            Some(serde_json::Value::String(variant)) => variant,
            Some(other) => {
                return Err(de::Error::invalid_type(
                    unexpected(&other),
                    &"a variant name",
                ));
            }
            None => return Err(de::Error::missing_field(T::TAG)),
        };
        let value = if object.is_empty() {
            serde_json::Value::String(variant)
        } else {
            let mut outer = serde_json::Map::new();
            outer.insert(variant, serde_json::Value::Object(object));
            serde_json::Value::Object(outer)
        };
        T::externally_tagged(value).map_err(de::Error::custom)
    }
}

/// What a JSON value is, for an error message.
fn unexpected(value: &serde_json::Value) -> de::Unexpected<'_> {
    match value {
        serde_json::Value::Null => de::Unexpected::Unit,
        serde_json::Value::Bool(b) => de::Unexpected::Bool(*b),
        serde_json::Value::Number(_) => de::Unexpected::Other("a number"),
        serde_json::Value::String(s) => de::Unexpected::Str(s),
        serde_json::Value::Array(_) => de::Unexpected::Seq,
        serde_json::Value::Object(_) => de::Unexpected::Map,
    }
}

/// The rest of an object whose tag has been read, presented as an externally tagged enum:
/// the variant's name, then the remaining entries as the variant's fields.
struct Rest<'de, A> {
    variant: Cow<'de, str>,
    map: A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Rest<'de, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> de::EnumAccess<'de> for Rest<'de, A> {
    type Error = A::Error;
    type Variant = Fields<A>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Fields<A>), A::Error> {
        let name = match self.variant {
            Cow::Borrowed(s) => seed.deserialize(de::value::BorrowedStrDeserializer::new(s))?,
            Cow::Owned(s) => seed.deserialize(s.into_deserializer())?,
        };
        Ok((name, Fields(self.map)))
    }
}

/// The fields of a variant: the entries of the object after its tag.
struct Fields<A>(A);

impl<'de, A: MapAccess<'de>> de::VariantAccess<'de> for Fields<A> {
    type Error = A::Error;

    fn unit_variant(mut self) -> Result<(), A::Error> {
        match self.0.next_key::<Cow<'de, str>>()? {
            None => Ok(()),
            Some(key) => Err(de::Error::custom(format_args!(
                "unknown field `{key}`, there are no fields"
            ))),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _: S) -> Result<S::Value, A::Error> {
        Err(de::Error::invalid_type(
            de::Unexpected::Map,
            &"a variant with named fields",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, A::Error> {
        Err(de::Error::invalid_type(
            de::Unexpected::Map,
            &"a variant with named fields",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }
}
