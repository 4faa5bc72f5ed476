//! RFC 8785 canonical JSON (the JSON Canonicalization Scheme), written straight from a
//! [`Serialize`] value: the bytes every ledger hash and receipt signature is taken over.
//!
//! [`to_vec`] gives exactly the bytes of `serde_json_canonicalizer::to_vec`, which this crate
//! used before and which stays its reference (the property tests compare the two on random
//! JSON values and ledger entries). That crate builds every object member in a buffer of its
//! own, re-parses each key to sort it and keeps the members in a `BTreeSet`: about 78,000
//! instructions for a 450-byte ledger entry, against about 14,000 here, so it was most of the
//! CPU time of a check that reads a customer's stream. This writer keeps one output buffer:
//! it writes the members of an object in the order they come, remembers where each one
//! starts and ends, and, only if they did not come sorted, rewrites them in order at the end
//! of the object.
//!
//! It handles what ledger entries, receipts and JSON documents hold: objects (structs, maps
//! with string keys, enum variants), arrays, strings, booleans, null and integers of at most
//! 2^53 in magnitude. Anything else — a float, an integer beyond 2^53 (which RFC 8785 writes
//! as the nearest double), bytes, a non-string map key, a duplicate key, an error raised by
//! a value's own `Serialize` — makes it hand the whole value to `serde_json_canonicalizer`,
//! so the output (or the error) is the reference's in every case.
//!
//! What RFC 8785 asks, and how it is met here:
//! - members sorted by their keys' UTF-16 code units (byte order for ASCII keys), no
//!   whitespace;
//! - strings escaped as ECMAScript's `JSON.stringify` does: `\"`, `\\`, `\b`, `\t`, `\n`,
//!   `\f`, `\r`, other control characters as `\u00xx` (lowercase hex), everything else as
//!   it is (UTF-8);
//! - numbers as ECMAScript writes doubles: an integer up to 2^53 is its decimal digits.

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// The largest integer magnitude written here; beyond it RFC 8785's doubles lose precision,
/// and the reference's formatting is used.
const MAX_EXACT: u64 = 1 << 53;

/// The RFC 8785 canonical JSON of `value`: exactly `serde_json_canonicalizer::to_vec(value)`,
/// bytes and errors alike.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    // Sized for a ledger entry, so that writing one grows no buffer.
    let mut writer = Canonical {
        out: Vec::with_capacity(512),
        members: Vec::with_capacity(16),
        scratch: Vec::with_capacity(512),
    };
    match value.serialize(&mut writer) {
        Ok(()) => Ok(writer.out),
        Err(Fallback) => serde_json_canonicalizer::to_vec(value),
    }
}

/// As [`to_vec`], but only for values this writer renders itself: `None` for anything it
/// would hand to the reference (a float, an integer beyond 2^53 in magnitude, bytes, a
/// non-string map key, a duplicate key, an error of the value's own `Serialize`).
///
/// The ledger hashes entries with this. RFC 8785 writes numbers as doubles, so integers
/// beyond 2^53 that round to the same double would have the same canonical bytes, and an
/// edit between them would keep the hash; refusing them keeps one entry, one byte string.
pub fn to_vec_exact<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    let mut writer = Canonical {
        out: Vec::with_capacity(512),
        members: Vec::with_capacity(16),
        scratch: Vec::with_capacity(512),
    };
    value.serialize(&mut writer).ok().map(|()| writer.out)
}

/// "Not handled here": [`to_vec`] asks the reference instead.
#[derive(Debug)]
struct Fallback;

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not handled by the direct canonical writer")
    }
}

impl std::error::Error for Fallback {}

impl ser::Error for Fallback {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Fallback
    }
}

/// A member's key, for sorting.
enum Key {
    Static(&'static str),
    Owned(String),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Static(s) => s,
            Key::Owned(s) => s,
        }
    }
}

/// One object member as written: `"key":value` at `out[start..end]`.
struct Member {
    key: Key,
    /// Whether the key is ASCII (then byte order is RFC 8785 order).
    ascii: bool,
    start: usize,
    end: usize,
}

impl Member {
    fn new(key: Key, start: usize, end: usize) -> Self {
        let ascii = key.as_str().is_ascii();
        Self {
            key,
            ascii,
            start,
            end,
        }
    }
}

struct Canonical {
    out: Vec<u8>,
    /// The members of every object being written, innermost last.
    members: Vec<Member>,
    /// Where an object's members are copied while they are put in order.
    scratch: Vec<u8>,
}

/// RFC 8785 order: by the keys' UTF-16 code units. UTF-8 byte order is code point order,
/// which agrees with it whenever both keys are ASCII.
fn member_order(a: &Member, b: &Member) -> Ordering {
    let (x, y) = (a.key.as_str(), b.key.as_str());
    if a.ascii && b.ascii {
        x.as_bytes().cmp(y.as_bytes())
    } else {
        x.encode_utf16().cmp(y.encode_utf16())
    }
}

/// Which bytes a string must escape: `"`, `\\` and the control characters.
const ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Whether any of the eight bytes of `word` is below 0x20, `"` or `\\` (each test sets the
/// high bit of a byte that matches; bytes of 0x80 and above never match).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let zero = |w: u64| below(w, 1);
    (below(word, 0x20)
        | zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\'))))
        != 0
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape at all: skip eight bytes at a time while none does.
    let mut clean = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        clean += 8;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        if !ESCAPED[usize::from(b)] {
            continue;
        }
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            _ => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ],
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(escape);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

fn write_int(out: &mut Vec<u8>, negative: bool, magnitude: u64) -> Result<(), Fallback> {
    if magnitude > MAX_EXACT {
        return Err(Fallback);
    }
    if negative && magnitude != 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = magnitude;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    Ok(())
}

impl Canonical {
    /// Starts an object whose members follow; `close` ends it (`}`, or `}}` inside a variant).
    fn object(&mut self, close: &'static [u8]) -> Object<'_> {
        self.out.push(b'{');
        Object {
            start: self.out.len(),
            base: self.members.len(),
            pending: None,
            close,
            w: self,
        }
    }

    /// `{"variant":` — an externally tagged enum variant around its content.
    fn variant(&mut self, variant: &str) {
        self.out.push(b'{');
        write_str(&mut self.out, variant);
        self.out.push(b':');
    }
}

struct Object<'a> {
    w: &'a mut Canonical,
    /// Where the first member starts.
    start: usize,
    /// This object's first member in `w.members`.
    base: usize,
    /// A map key written, waiting for its value: the key and where the member starts.
    pending: Option<(String, usize)>,
    close: &'static [u8],
}

impl Object<'_> {
    /// Writes the separator and `"key":`, and returns where the member starts.
    fn begin(&mut self, key: &str) -> usize {
        if self.w.members.len() > self.base {
            self.w.out.push(b',');
        }
        let start = self.w.out.len();
        write_str(&mut self.w.out, key);
        self.w.out.push(b':');
        start
    }

    fn finish(self) -> Result<(), Fallback> {
        let Canonical {
            out,
            members,
            scratch,
        } = self.w;
        let mine = &mut members[self.base..];
        let sorted = mine
            .windows(2)
            .all(|w| member_order(&w[0], &w[1]) == Ordering::Less);
        if !sorted {
            mine.sort_unstable_by(member_order);
            if mine
                .windows(2)
                .any(|w| w[0].key.as_str() == w[1].key.as_str())
            {
                // A duplicate key: the reference reports the error.
                return Err(Fallback);
            }
            scratch.clear();
            scratch.extend_from_slice(&out[self.start..]);
            out.truncate(self.start);
            for (i, m) in mine.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&scratch[m.start - self.start..m.end - self.start]);
            }
        }
        members.truncate(self.base);
        out.extend_from_slice(self.close);
        Ok(())
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        let start = self.begin(key);
        value.serialize(&mut *self.w)?;
        let end = self.w.out.len();
        self.w
            .members
            .push(Member::new(Key::Static(key), start, end));
        Ok(())
    }

    fn end(self) -> Result<(), Fallback> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), Fallback> {
        self.finish()
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Fallback> {
        let key = key.serialize(MapKey)?;
        let start = self.begin(&key);
        self.pending = Some((key, start));
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        let (key, start) = self.pending.take().ok_or(Fallback)?;
        value.serialize(&mut *self.w)?;
        let end = self.w.out.len();
        self.w
            .members
            .push(Member::new(Key::Owned(key), start, end));
        Ok(())
    }

    fn end(self) -> Result<(), Fallback> {
        if self.pending.is_some() {
            return Err(Fallback);
        }
        self.finish()
    }
}

struct Array<'a> {
    w: &'a mut Canonical,
    first: bool,
    close: &'static [u8],
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.w)
    }

    fn finish(self) -> Result<(), Fallback> {
        self.w.out.extend_from_slice(self.close);
        Ok(())
    }
}

macro_rules! array_impl {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = Fallback;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
                self.element(value)
            }

            fn end(self) -> Result<(), Fallback> {
                self.finish()
            }
        }
    };
}

array_impl!(SerializeSeq, serialize_element);
array_impl!(SerializeTuple, serialize_element);
array_impl!(SerializeTupleStruct, serialize_field);
array_impl!(SerializeTupleVariant, serialize_field);

impl<'a> ser::Serializer for &'a mut Canonical {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Fallback> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Fallback> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), Fallback> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), Fallback> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), Fallback> {
        write_int(&mut self.out, v < 0, v.unsigned_abs())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Fallback> {
        let magnitude = u64::try_from(v.unsigned_abs()).map_err(|_| Fallback)?;
        write_int(&mut self.out, v < 0, magnitude)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Fallback> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), Fallback> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), Fallback> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), Fallback> {
        write_int(&mut self.out, false, v)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Fallback> {
        write_int(
            &mut self.out,
            false,
            u64::try_from(v).map_err(|_| Fallback)?,
        )
    }

    fn serialize_f32(self, _: f32) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_f64(self, _: f64) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_char(self, v: char) -> Result<(), Fallback> {
        write_str(&mut self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Fallback> {
        write_str(&mut self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_none(self) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Fallback> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Fallback> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        self.variant(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, Fallback> {
        self.out.push(b'[');
        Ok(Array {
            w: self,
            first: true,
            close: b"]",
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Array<'a>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Array<'a>, Fallback> {
        self.variant(variant);
        self.out.push(b'[');
        Ok(Array {
            w: self,
            first: true,
            close: b"]}",
        })
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, Fallback> {
        Ok(self.object(b"}"))
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Object<'a>, Fallback> {
        // serde_json's private structs (a `RawValue`, an arbitrary-precision number) are
        // tokens for its own serializer: leave them to the reference.
        if name.starts_with("$serde_json::private::") {
            return Err(Fallback);
        }
        Ok(self.object(b"}"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Object<'a>, Fallback> {
        self.variant(variant);
        Ok(self.object(b"}}"))
    }
}

/// Methods of [`MapKey`] for what cannot be a map key: each gives up on the value (to the
/// reference, which reports the error, or to no output at all for exact bytes).
macro_rules! not_a_key {
    ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ok, Fallback> {
            Err(Fallback)
        })*
    };
}

/// Map keys: strings only (and what serde_json writes as the same string).
struct MapKey;

impl ser::Serializer for MapKey {
    type Ok = String;
    type Error = Fallback;
    type SerializeSeq = Impossible<String, Fallback>;
    type SerializeTuple = Impossible<String, Fallback>;
    type SerializeTupleStruct = Impossible<String, Fallback>;
    type SerializeTupleVariant = Impossible<String, Fallback>;
    type SerializeMap = Impossible<String, Fallback>;
    type SerializeStruct = Impossible<String, Fallback>;
    type SerializeStructVariant = Impossible<String, Fallback>;

    fn serialize_str(self, v: &str) -> Result<String, Fallback> {
        Ok(v.to_owned())
    }

    fn serialize_char(self, v: char) -> Result<String, Fallback> {
        Ok(v.to_string())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Fallback> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Fallback> {
        value.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Fallback> {
        Err(Fallback)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Fallback> {
        Err(Fallback)
    }

    not_a_key! {
        serialize_bool(bool) -> String;
        serialize_i8(i8) -> String;
        serialize_i16(i16) -> String;
        serialize_i32(i32) -> String;
        serialize_i64(i64) -> String;
        serialize_u8(u8) -> String;
        serialize_u16(u16) -> String;
        serialize_u32(u32) -> String;
        serialize_u64(u64) -> String;
        serialize_f32(f32) -> String;
        serialize_f64(f64) -> String;
        serialize_bytes(&[u8]) -> String;
        serialize_none() -> String;
        serialize_unit() -> String;
        serialize_unit_struct(&'static str) -> String;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeStructVariant;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn both(value: &serde_json::Value) -> (String, String) {
        let fast = String::from_utf8(to_vec(value).unwrap()).unwrap();
        let reference =
            String::from_utf8(serde_json_canonicalizer::to_vec(value).unwrap()).unwrap();
        (fast, reference)
    }

    #[test]
    fn sorts_escapes_and_writes_integers_like_the_reference() {
        let value = json!({
            "b": [1, -2, 0, 9007199254740992u64, -9007199254740992i64, {"z": null, "a": true}],
            "a": "quote \" backslash \\ slash / tab \t nl \n ctl \u{1} del \u{7f} é 😀",
            "\u{e000}": 1,
            "😀": 2,
            "": {},
            "aa": [],
        });
        let (fast, reference) = both(&value);
        assert_eq!(fast, reference);
        // Only the two keys outside the BMP's low range tell UTF-16 from code point order.
        assert!(fast.find("😀").unwrap() < fast.find('\u{e000}').unwrap());
    }

    #[test]
    fn the_word_test_finds_exactly_the_bytes_to_escape() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                assert_eq!(
                    needs_escape(u64::from_le_bytes(word)),
                    ESCAPED[usize::from(b)],
                    "byte {b:#x} at {at}"
                );
            }
        }
        // Mixed words: bytes just below and above the escaped ones, and high bytes.
        let near = [
            0x00, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xff,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let word: [u8; 8] =
                std::array::from_fn(|i| near[(seed >> (i * 4)) as usize % near.len()]);
            assert_eq!(
                needs_escape(u64::from_le_bytes(word)),
                word.iter().any(|&b| ESCAPED[usize::from(b)]),
                "{word:?}"
            );
        }
    }

    #[test]
    fn what_it_does_not_write_itself_is_the_reference_output() {
        for value in [
            json!(1.5),
            json!({"big": 9007199254740993u64}),
            json!([-9007199254740993i64]),
            json!(1e300),
        ] {
            let (fast, reference) = both(&value);
            assert_eq!(fast, reference);
        }
        // A duplicate key is the reference's error.
        struct Dup;
        impl Serialize for Dup {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("b", &1)?;
                m.serialize_entry("a", &2)?;
                m.serialize_entry("b", &3)?;
                m.end()
            }
        }
        assert!(to_vec(&Dup).is_err());
        assert!(serde_json_canonicalizer::to_vec(&Dup).is_err());
    }
}
