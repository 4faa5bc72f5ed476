//! Internally tagged enums (`{"type": "choice_set", "key": …}`), decoded without copying
//! the object into a tree.
//!
//! serde's derived decoder for `#[serde(tag = "…")]` first copies the whole object into an
//! intermediate tree, because the tag may come anywhere, and then decodes the variant from
//! that copy. Decoding ledger entries is most of the work of reading a customer's stream, so
//! this decoder reads the object in order: when the first key is the tag (as in the JSON
//! serde writes), it hands the rest of the object straight to the variant's fields; when the
//! tag comes later (as in canonical JSON, where keys are sorted, which is how the Postgres
//! store keeps entries), it keeps the members before the tag as their JSON text, unparsed
//! (serde_json's raw values), and then hands the variant those members, parsed from that
//! text, followed by the rest. A deserializer that cannot give a value's text (one reading a
//! [`serde_json::Value`]) has those members kept as values instead. Every path decodes the
//! variant with serde's derived decoder for the externally tagged form of the same enum (a
//! `#[serde(remote = …)]` mirror, which the compiler holds to the real enum), so they accept the same objects as serde's derived
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

use crate::text::Text;

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
        let Some(first) = map.next_key::<Text<'de>>()?.map(|t| t.0) else {
            return Err(de::Error::missing_field(T::TAG));
        };
        if first == T::TAG {
            let Text(variant) = map.next_value()?;
            return T::externally_tagged(Rest { variant, map });
        }
        // The tag comes later (as in canonical JSON, where keys are sorted): keep the members
        // before it, then decode the variant from them and the members after it.
        let mut before: Vec<(Cow<'de, str>, Buffered<'de>)> = Vec::new();
        let mut key = Some(first);
        while let Some(k) = key {
            if k == T::TAG {
                let Text(variant) = map.next_value()?;
                let map = Replay {
                    before: before.into_iter(),
                    value: None,
                    after: map,
                };
                return T::externally_tagged(Rest { variant, map });
            }
            if before.iter().any(|(seen, _)| *seen == k) {
                return Err(de::Error::custom(format_args!("duplicate field `{k}`")));
            }
            let value: Buffered<'de> = map.next_value()?;
            before.push((k, value));
            key = map.next_key::<Text<'de>>()?.map(|t| t.0);
        }
        Err(de::Error::missing_field(T::TAG))
    }
}

/// serde_json's name for its raw values: given it, serde_json reading text hands the visitor
/// the value's text unparsed (as a map of this one key to the text) instead of the value.
/// Any other deserializer decodes the value as usual.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// A member's value kept until the tag is known: the value's JSON text when the deserializer
/// can give it (serde_json reading text, with its `raw_value` feature, which the workspace
/// turns on), so that it is parsed once more but never copied into a tree; otherwise (any
/// other deserializer, or if serde_json ever stops answering to [`RAW_VALUE`]) the value as
/// a [`serde_json::Value`]: slower, with the same result.
enum Buffered<'de> {
    Raw(Cow<'de, str>),
    Value(serde_json::Value),
}

impl<'de> de::Deserialize<'de> for Buffered<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(RAW_VALUE, BufferedVisitor)
    }
}

struct BufferedVisitor;

impl<'de> Visitor<'de> for BufferedVisitor {
    type Value = Buffered<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Buffered<'de>, A::Error> {
        let mut object = serde_json::Map::new();
        let mut key = map.next_key::<Text<'de>>()?.map(|t| t.0);
        if key.as_deref() == Some(RAW_VALUE) {
            return map.next_value().map(|Text(raw)| Buffered::Raw(raw));
        }
        while let Some(k) = key {
            let value: serde_json::Value = map.next_value()?;
            if object.insert(k.clone().into_owned(), value).is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{k}`")));
            }
            key = map.next_key::<Text<'de>>()?.map(|t| t.0);
        }
        Ok(Buffered::Value(serde_json::Value::Object(object)))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Buffered<'de>, D::Error> {
        de::Deserialize::deserialize(deserializer).map(Buffered::Value)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Buffered<'de>, D::Error> {
        de::Deserialize::deserialize(deserializer).map(Buffered::Value)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Buffered<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Buffered::Value(serde_json::Value::Array(items)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Buffered<'de>, E> {
        Ok(Buffered::Value(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Buffered<'de>, E> {
        Ok(Buffered::Value(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Buffered<'de>, E> {
        Ok(Buffered::Value(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Buffered<'de>, E> {
        Ok(Buffered::Value(v.into()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Buffered<'de>, E> {
        Ok(Buffered::Value(v.into()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Buffered<'de>, E> {
        Ok(Buffered::Value(serde_json::Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Buffered<'de>, E> {
        Ok(Buffered::Value(serde_json::Value::Null))
    }
}

impl<'de> Buffered<'de> {
    /// Decodes the kept value with `seed`.
    fn decode<S: DeserializeSeed<'de>, E: de::Error>(self, seed: S) -> Result<S::Value, E> {
        let value = match self {
            Buffered::Raw(Cow::Borrowed(text)) => {
                let mut de = serde_json::Deserializer::from_str(text);
                let value = seed.deserialize(&mut de).map_err(E::custom)?;
                de.end().map_err(E::custom)?;
                return Ok(value);
            }
            // Text the deserializer could not lend for `'de` (it read from a stream).
            Buffered::Raw(Cow::Owned(text)) => serde_json::from_str(&text).map_err(E::custom)?,
            Buffered::Value(value) => value,
        };
        seed.deserialize(value).map_err(E::custom)
    }
}

/// The members of an object without its tag: those kept before it, then the rest.
struct Replay<'de, A> {
    before: std::vec::IntoIter<(Cow<'de, str>, Buffered<'de>)>,
    /// The value of the kept member whose key was handed out last.
    value: Option<Buffered<'de>>,
    after: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some((key, value)) = self.before.next() else {
            return self.after.next_key_seed(seed);
        };
        self.value = Some(value);
        match key {
            Cow::Borrowed(k) => seed.deserialize(de::value::BorrowedStrDeserializer::new(k)),
            Cow::Owned(k) => seed.deserialize(k.into_deserializer()),
        }
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.value.take() {
            Some(value) => value.decode(seed),
            None => self.after.next_value_seed(seed),
        }
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
        match self.0.next_key::<Text<'de>>()?.map(|t| t.0) {
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
