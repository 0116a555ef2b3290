//! The bounded msgpack decoder. It reads a stored value against a template and
//! feeds a `Sink` event by event, so a reply can be streamed without building a
//! tree. Commands run it twice over the same bytes: first into `Validate` (no
//! output; any error surfaces here, before a byte of reply is written), then into
//! the reply writer, which then cannot fail half-way.
//!
//! Hostile input is bounded by construction: every length is checked against the
//! bytes that remain before it is used, nothing is allocated from a claimed
//! length, nesting stops at `MAX_DEPTH`, and every element consumes at least one
//! byte, so work is linear in the input size.

use std::fmt;

use rmp::Marker;

use crate::printable::printable;
use crate::template::{Entry, Template};

/// Deepest nesting accepted, counting the template's own levels: for templates
/// (`[name, sub]` levels) and for stored values (arrays and maps).
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, PartialEq, Clone)]
pub enum DecodeError {
    Truncated {
        at: usize,
    },
    Reserved {
        at: usize,
    },
    Extension {
        at: usize,
    },
    TooDeep,
    TrailingBytes {
        count: usize,
    },
    NotArray {
        what: String,
    },
    WrongCount {
        what: String,
        expected: usize,
        found: usize,
    },
    BadDogpileHeader,
    /// The value carries another definition's fingerprint.
    OtherDefinition {
        found: [u8; 4],
    },
    /// The template requires a fingerprint and the value has none.
    NoFingerprint,
    /// A string in top-level entry `entry` is not UTF-8: JSON has no form
    /// for it (`CALC.GETJSON`).
    NotUtf8 {
        entry: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { at } => {
                write!(f, "malformed msgpack: value truncated at byte {at}")
            }
            DecodeError::Reserved { at } => {
                write!(f, "malformed msgpack: reserved byte 0xc1 at byte {at}")
            }
            DecodeError::Extension { at } => {
                write!(f, "msgpack extension types are not supported (at byte {at})")
            }
            DecodeError::TooDeep => write!(f, "msgpack nesting deeper than {MAX_DEPTH} levels"),
            DecodeError::TrailingBytes { count } => {
                write!(f, "malformed msgpack: {count} trailing bytes after the value")
            }
            DecodeError::NotArray { what } => write!(f, "{what} is not a msgpack array"),
            DecodeError::WrongCount { what, expected, found } => write!(
                f,
                "wrong number of values for {what}: the template has {expected}, the value has {found}"
            ),
            DecodeError::OtherDefinition { found } => write!(
                f,
                "the value was written under another definition (fingerprint {:02x}{:02x}{:02x}{:02x})",
                found[0], found[1], found[2], found[3]
            ),
            DecodeError::NoFingerprint => write!(
                f,
                "the value carries no template fingerprint and the template requires one"
            ),
            DecodeError::NotUtf8 { entry } => write!(
                f,
                "entry '{entry}' holds bytes that are not UTF-8, which JSON cannot express (CALC.GETDICT reads them)"
            ),
            DecodeError::BadDogpileHeader => write!(
                f,
                "value starts with '{{' but is not a dogpile.cache metadata header (JSON object followed by '|')"
            ),
        }
    }
}

/// Receives decoded values in reply order. A map announces its pair count and is
/// followed by key, value, key, value, ...
pub trait Sink {
    /// The name of a template entry, as a map key before its value.
    fn name(&mut self, entry: &Entry) {
        self.bytes(entry.name.as_bytes());
    }
    fn nil(&mut self);
    fn boolean(&mut self, value: bool);
    fn int(&mut self, value: i64);
    /// An unsigned integer above `i64::MAX`.
    fn big_uint(&mut self, value: u64);
    fn float(&mut self, value: f64);
    fn bytes(&mut self, value: &[u8]);
    fn array(&mut self, len: usize);
    fn map(&mut self, pairs: usize);
}

/// The first pass: walks the value, writes nothing.
pub struct Validate;

impl Sink for Validate {
    fn nil(&mut self) {}
    fn boolean(&mut self, _: bool) {}
    fn int(&mut self, _: i64) {}
    fn big_uint(&mut self, _: u64) {}
    fn float(&mut self, _: f64) {}
    fn bytes(&mut self, _: &[u8]) {}
    fn array(&mut self, _: usize) {}
    fn map(&mut self, _: usize) {}
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(DecodeError::Truncated { at: self.buf.len() })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads the marker at the cursor, remembering where it started for errors.
    fn marker(&mut self) -> Result<(Marker, usize), DecodeError> {
        let at = self.pos;
        Ok((Marker::from_u8(self.u8()?), at))
    }

    /// The element count of an array marker, or `None` for any other marker.
    fn array_len(&mut self, marker: Marker) -> Result<Option<usize>, DecodeError> {
        Ok(match marker {
            Marker::FixArray(n) => Some(n as usize),
            Marker::Array16 => Some(self.u16()? as usize),
            Marker::Array32 => Some(self.u32()? as usize),
            _ => None,
        })
    }
}

/// The msgpack ext type of a template fingerprint: `0xd6 0x63` + 4 bytes
/// (fixext 4), stored before the value's array. A msgpack value of its own, so
/// any msgpack reader can skip it.
pub const FINGERPRINT_EXT_TYPE: u8 = 0x63;

/// Decodes `stored` (optionally behind a dogpile.cache metadata header, then
/// optionally behind its template fingerprint) as the msgpack array described
/// by `template`, named `template_name` in errors, into `sink` as a map of
/// template name -> value. A fingerprint must be the template's; with
/// `fingerprint_required`, a value without one is refused too.
pub fn decode_with_template<S: Sink>(
    stored: &[u8],
    template: &Template,
    template_name: &[u8],
    fingerprint_required: bool,
    sink: &mut S,
) -> Result<(), DecodeError> {
    let payload = payload_of(stored, template, fingerprint_required)?;
    let mut cursor = Cursor {
        buf: payload,
        pos: 0,
    };
    let what = || format!("template '{}'", printable(template_name));
    decode_templated(&mut cursor, template, sink, 1, &what)?;
    no_trailing_bytes(&cursor)
}

/// A stored value validated against its template, with the place of each
/// top-level entry's value, so that any of them can be decoded on its own
/// (`CALC.GETVALUES`) by the same decoder, without decoding the others again.
pub struct Located<'a> {
    payload: &'a [u8],
    /// Where entry `i`'s value starts; one more for the end of the last. In
    /// place for templates of up to `NEAR_BOUNDS - 1` entries, else on the heap.
    near: [usize; NEAR_BOUNDS],
    far: Vec<usize>,
}

const NEAR_BOUNDS: usize = 33;

/// Validates `stored` as `decode_with_template` does (same errors) and
/// records where each top-level entry's value lies.
pub fn locate_entries<'a>(
    stored: &'a [u8],
    template: &Template,
    template_name: &[u8],
    fingerprint_required: bool,
) -> Result<Located<'a>, DecodeError> {
    let payload = payload_of(stored, template, fingerprint_required)?;
    let mut cursor = Cursor {
        buf: payload,
        pos: 0,
    };
    let what = || format!("template '{}'", printable(template_name));
    template_array(&mut cursor, template, &what)?;
    let count = template.entries.len() + 1;
    let mut located = Located {
        payload,
        near: [0; NEAR_BOUNDS],
        far: Vec::with_capacity(if count > NEAR_BOUNDS { count } else { 0 }),
    };
    let mut record = |i: usize, at: usize| match located.near.get_mut(i) {
        Some(slot) if count <= NEAR_BOUNDS => *slot = at,
        _ => located.far.push(at),
    };
    for (i, entry) in template.entries.iter().enumerate() {
        record(i, cursor.pos);
        decode_entry(&mut cursor, entry, &mut Validate, 1)?;
    }
    record(count - 1, cursor.pos);
    no_trailing_bytes(&cursor)?;
    Ok(located)
}

impl Located<'_> {
    /// Decodes the value of top-level entry `index` of `template` (the one it
    /// was located with) into `sink`: a sub-template entry as its nested map.
    /// The value was validated, so this cannot fail half-way; an index out of
    /// range emits nothing.
    pub fn emit<S: Sink>(&self, template: &Template, index: usize, sink: &mut S) {
        let bounds = match self.far.is_empty() {
            true => &self.near[..],
            false => &self.far[..],
        };
        let (Some(entry), Some(&start), Some(&end)) = (
            template.entries.get(index),
            bounds.get(index),
            bounds.get(index + 1),
        ) else {
            return;
        };
        let Some(buf) = self.payload.get(..end) else {
            return;
        };
        let mut cursor = Cursor { buf, pos: start };
        let _ = decode_entry(&mut cursor, entry, sink, 1);
    }
}

/// The msgpack array behind the optional dogpile header and fingerprint.
fn payload_of<'a>(
    stored: &'a [u8],
    template: &Template,
    fingerprint_required: bool,
) -> Result<&'a [u8], DecodeError> {
    let payload = strip_dogpile_header(stored)?;
    match payload {
        [0xd6, FINGERPRINT_EXT_TYPE, a, b, c, d, rest @ ..] => {
            let found = [*a, *b, *c, *d];
            if found != template.fingerprint {
                return Err(DecodeError::OtherDefinition { found });
            }
            Ok(rest)
        }
        _ if fingerprint_required => Err(DecodeError::NoFingerprint),
        _ => Ok(payload),
    }
}

fn no_trailing_bytes(cursor: &Cursor) -> Result<(), DecodeError> {
    let trailing = cursor.buf.len().saturating_sub(cursor.pos);
    if trailing > 0 {
        return Err(DecodeError::TrailingBytes { count: trailing });
    }
    Ok(())
}

/// dogpile.cache >= 1.1 stores `{"ct": ..., "v": ...}|` before the serialized
/// payload. A msgpack value starting with `{` would be the integer 123, never an
/// array, so a leading `{` can only be that header.
fn strip_dogpile_header(stored: &[u8]) -> Result<&[u8], DecodeError> {
    if stored.first() != Some(&b'{') {
        return Ok(stored);
    }
    let mut values =
        serde_json::Deserializer::from_slice(stored).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => {
            let end = values.byte_offset();
            match stored.get(end) {
                Some(b'|') => Ok(&stored[end + 1..]),
                _ => Err(DecodeError::BadDogpileHeader),
            }
        }
        _ => Err(DecodeError::BadDogpileHeader),
    }
}

fn decode_templated<S: Sink>(
    cursor: &mut Cursor,
    template: &Template,
    sink: &mut S,
    depth: usize,
    what: &dyn Fn() -> String,
) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let count = template_array(cursor, template, what)?;
    sink.map(count);
    for entry in &template.entries {
        sink.name(entry);
        decode_entry(cursor, entry, sink, depth)?;
    }
    Ok(())
}

/// Reads the array header of a templated level: one value per entry.
fn template_array(
    cursor: &mut Cursor,
    template: &Template,
    what: &dyn Fn() -> String,
) -> Result<usize, DecodeError> {
    let (marker, _) = cursor.marker()?;
    let found = cursor
        .array_len(marker)?
        .ok_or_else(|| DecodeError::NotArray {
            what: value_of(what),
        })?;
    let expected = template.entries.len();
    if found != expected {
        return Err(DecodeError::WrongCount {
            what: what(),
            expected,
            found,
        });
    }
    Ok(expected)
}

/// The value of one entry of a templated level at `depth`: a nested map for a
/// sub-template, any msgpack value otherwise.
#[inline]
fn decode_entry<S: Sink>(
    cursor: &mut Cursor,
    entry: &Entry,
    sink: &mut S,
    depth: usize,
) -> Result<(), DecodeError> {
    match &entry.sub {
        Some(sub) => {
            let nested = || format!("entry '{}'", printable(entry.name.as_bytes()));
            decode_templated(cursor, sub, sink, depth + 1, &nested)
        }
        None => decode_value(cursor, sink, depth),
    }
}

fn value_of(what: &dyn Fn() -> String) -> String {
    format!("the value for {}", what())
}

/// Decodes one msgpack value. `depth` is the number of containers already open.
/// Inlined where it is called: the one-byte values then cost no call.
#[inline(always)]
fn decode_value<S: Sink>(
    cursor: &mut Cursor,
    sink: &mut S,
    depth: usize,
) -> Result<(), DecodeError> {
    let at = cursor.pos;
    let byte = cursor.u8()?;
    // One-byte values first: a permission set is mostly booleans and small
    // integers, and these skip the general marker dispatch.
    match byte {
        0xc3 => sink.boolean(true),
        0xc2 => sink.boolean(false),
        0xc0 => sink.nil(),
        0x00..=0x7f => sink.int(i64::from(byte)),
        _ => decode_marker(cursor, sink, depth, Marker::from_u8(byte), at)?,
    }
    Ok(())
}

/// Decodes the value whose marker (read at byte `at`) is `marker`.
fn decode_marker<S: Sink>(
    cursor: &mut Cursor,
    sink: &mut S,
    depth: usize,
    marker: Marker,
    at: usize,
) -> Result<(), DecodeError> {
    match marker {
        Marker::Null => sink.nil(),
        Marker::True => sink.boolean(true),
        Marker::False => sink.boolean(false),
        Marker::FixPos(n) => sink.int(n as i64),
        Marker::FixNeg(n) => sink.int(n as i64),
        Marker::U8 => sink.int(cursor.u8()? as i64),
        Marker::U16 => sink.int(cursor.u16()? as i64),
        Marker::U32 => sink.int(cursor.u32()? as i64),
        Marker::U64 => {
            let v = cursor.u64()?;
            match i64::try_from(v) {
                Ok(v) => sink.int(v),
                Err(_) => sink.big_uint(v),
            }
        }
        Marker::I8 => sink.int(cursor.u8()? as i8 as i64),
        Marker::I16 => sink.int(cursor.u16()? as i16 as i64),
        Marker::I32 => sink.int(cursor.u32()? as i32 as i64),
        Marker::I64 => sink.int(cursor.u64()? as i64),
        Marker::F32 => sink.float(f32::from_bits(cursor.u32()?) as f64),
        Marker::F64 => sink.float(f64::from_bits(cursor.u64()?)),
        Marker::FixStr(n) => sink.bytes(cursor.take(n as usize)?),
        Marker::Str8 | Marker::Bin8 => {
            let n = cursor.u8()? as usize;
            sink.bytes(cursor.take(n)?)
        }
        Marker::Str16 | Marker::Bin16 => {
            let n = cursor.u16()? as usize;
            sink.bytes(cursor.take(n)?)
        }
        Marker::Str32 | Marker::Bin32 => {
            let n = cursor.u32()? as usize;
            sink.bytes(cursor.take(n)?)
        }
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
            let len = cursor.array_len(marker)?.unwrap_or(0);
            if depth + 1 > MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            sink.array(len);
            for _ in 0..len {
                decode_value(cursor, sink, depth + 1)?;
            }
        }
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
            let pairs = match marker {
                Marker::FixMap(n) => n as usize,
                Marker::Map16 => cursor.u16()? as usize,
                _ => cursor.u32()? as usize,
            };
            if depth + 1 > MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            sink.map(pairs);
            for _ in 0..pairs {
                decode_value(cursor, sink, depth + 1)?;
                decode_value(cursor, sink, depth + 1)?;
            }
        }
        Marker::FixExt1
        | Marker::FixExt2
        | Marker::FixExt4
        | Marker::FixExt8
        | Marker::FixExt16
        | Marker::Ext8
        | Marker::Ext16
        | Marker::Ext32 => return Err(DecodeError::Extension { at }),
        Marker::Reserved => return Err(DecodeError::Reserved { at }),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmp::encode;

    /// Records sink events as text, to compare against what a payload should give.
    #[derive(Default)]
    struct Record(Vec<String>);

    impl Sink for Record {
        fn nil(&mut self) {
            self.0.push("nil".into())
        }
        fn boolean(&mut self, v: bool) {
            self.0.push(format!("bool:{v}"))
        }
        fn int(&mut self, v: i64) {
            self.0.push(format!("int:{v}"))
        }
        fn big_uint(&mut self, v: u64) {
            self.0.push(format!("big:{v}"))
        }
        fn float(&mut self, v: f64) {
            self.0.push(format!("float:{v:?}"))
        }
        fn bytes(&mut self, v: &[u8]) {
            self.0.push(format!("bytes:{}", String::from_utf8_lossy(v)))
        }
        fn array(&mut self, n: usize) {
            self.0.push(format!("array:{n}"))
        }
        fn map(&mut self, n: usize) {
            self.0.push(format!("map:{n}"))
        }
    }

    fn template(def: &str) -> Template {
        Template::parse(def.as_bytes()).unwrap()
    }

    fn decode(bytes: &[u8], def: &str) -> Result<Vec<String>, DecodeError> {
        let t = template(def);
        decode_with_template(bytes, &t, b"t", false, &mut Validate)?;
        let mut rec = Record::default();
        decode_with_template(bytes, &t, b"t", false, &mut rec)?;
        Ok(rec.0)
    }

    fn packed(values: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut buf = Vec::new();
        values(&mut buf);
        buf
    }

    #[test]
    fn flat_template_maps_names_to_values_in_order() {
        let bytes = packed(|b| {
            encode::write_array_len(b, 3).unwrap();
            encode::write_bool(b, true).unwrap();
            encode::write_bool(b, false).unwrap();
            encode::write_nil(b).unwrap();
        });
        assert_eq!(
            decode(&bytes, r#"["a","bb","ccc"]"#).unwrap(),
            [
                "map:3",
                "bytes:a",
                "bool:true",
                "bytes:bb",
                "bool:false",
                "bytes:ccc",
                "nil"
            ]
        );
    }

    #[test]
    fn nested_template_yields_nested_map() {
        let bytes = packed(|b| {
            encode::write_array_len(b, 2).unwrap();
            encode::write_sint(b, -5).unwrap();
            encode::write_array_len(b, 2).unwrap();
            encode::write_str(b, "hi").unwrap();
            encode::write_f64(b, 3.9).unwrap();
        });
        assert_eq!(
            decode(&bytes, r#"["n",["meta",["x","y"]]]"#).unwrap(),
            [
                "map:2",
                "bytes:n",
                "int:-5",
                "bytes:meta",
                "map:2",
                "bytes:x",
                "bytes:hi",
                "bytes:y",
                "float:3.9"
            ]
        );
    }

    #[test]
    fn every_scalar_type_and_edge_value() {
        let bytes = packed(|b| {
            encode::write_array_len(b, 12).unwrap();
            encode::write_uint(b, u64::MAX).unwrap();
            encode::write_uint(b, i64::MAX as u64).unwrap();
            encode::write_sint(b, i64::MIN).unwrap();
            encode::write_u8(b, 255).unwrap();
            encode::write_i8(b, -128).unwrap();
            encode::write_i16(b, i16::MIN).unwrap();
            encode::write_i32(b, i32::MIN).unwrap();
            encode::write_u32(b, u32::MAX).unwrap();
            encode::write_f32(b, 1.5).unwrap();
            encode::write_f64(b, f64::NEG_INFINITY).unwrap();
            encode::write_bin(b, b"\x00\xff").unwrap();
            encode::write_map_len(b, 1).unwrap();
            encode::write_str(b, "k").unwrap();
            encode::write_array_len(b, 0).unwrap();
        });
        let got = decode(
            &bytes,
            r#"["a","b","c","d","e","f","g","h","i","j","k","l"]"#,
        )
        .unwrap();
        let values: Vec<&str> = got.iter().map(String::as_str).skip(1).collect();
        assert_eq!(
            values,
            [
                "bytes:a",
                "big:18446744073709551615",
                "bytes:b",
                "int:9223372036854775807",
                "bytes:c",
                "int:-9223372036854775808",
                "bytes:d",
                "int:255",
                "bytes:e",
                "int:-128",
                "bytes:f",
                "int:-32768",
                "bytes:g",
                "int:-2147483648",
                "bytes:h",
                "int:4294967295",
                "bytes:i",
                "float:1.5",
                "bytes:j",
                "float:-inf",
                "bytes:k",
                "bytes:\u{0}\u{fffd}",
                "bytes:l",
                "map:1",
                "bytes:k",
                "array:0",
            ]
        );
    }

    #[test]
    fn located_entries_emit_what_the_whole_decode_emits_for_them() {
        let def = r#"["n",["meta",["x","y"]],"b"]"#;
        let t = template(def);
        let mut bytes = vec![0xd6, FINGERPRINT_EXT_TYPE];
        bytes.extend_from_slice(&t.fingerprint);
        encode::write_array_len(&mut bytes, 3).unwrap();
        encode::write_sint(&mut bytes, -5).unwrap();
        encode::write_array_len(&mut bytes, 2).unwrap();
        encode::write_str(&mut bytes, "hi").unwrap();
        encode::write_array_len(&mut bytes, 1).unwrap();
        encode::write_f64(&mut bytes, 3.9).unwrap();
        encode::write_bool(&mut bytes, true).unwrap();
        let whole = decode(&bytes, def).unwrap();
        let located = locate_entries(&bytes, &t, b"t", true).unwrap();
        let one = |i: usize| {
            let mut rec = Record::default();
            located.emit(&t, i, &mut rec);
            rec.0
        };
        assert_eq!(one(0), ["int:-5"]);
        assert_eq!(one(1), whole[4..10]);
        assert_eq!(one(1)[0], "map:2");
        assert_eq!(one(2), ["bool:true"]);
        assert!(one(3).is_empty());
        // A template larger than the bounds kept in place.
        for size in [NEAR_BOUNDS - 1, NEAR_BOUNDS, 100] {
            let names: Vec<String> = (0..size).map(|i| format!("n{i}")).collect();
            let def = serde_json::to_string(&names).unwrap();
            let big = template(&def);
            let mut bytes = Vec::new();
            encode::write_array_len(&mut bytes, size as u32).unwrap();
            for i in 0..size {
                encode::write_uint(&mut bytes, i as u64 * 1000).unwrap();
            }
            let located = locate_entries(&bytes, &big, b"t", false).unwrap();
            for i in [0, size / 2, size - 1] {
                let mut rec = Record::default();
                located.emit(&big, i, &mut rec);
                assert_eq!(rec.0, [format!("int:{}", i * 1000)], "{size}: {i}");
            }
        }
        // Located values are validated whole: a bad entry elsewhere fails.
        let mut bad = bytes.clone();
        bad.pop();
        bad.push(0xc1);
        assert!(locate_entries(&bad, &t, b"t", false).is_err());
        assert_eq!(
            locate_entries(&bytes[6..], &t, b"t", true).err(),
            Some(DecodeError::NoFingerprint)
        );
    }

    #[test]
    fn dogpile_header_is_skipped() {
        let mut bytes = br#"{"ct": 1700000000.5, "v": 2}|"#.to_vec();
        encode::write_array_len(&mut bytes, 1).unwrap();
        encode::write_bool(&mut bytes, true).unwrap();
        assert_eq!(
            decode(&bytes, r#"["a"]"#).unwrap(),
            ["map:1", "bytes:a", "bool:true"]
        );
        assert_eq!(
            decode(b"{\"ct\":1}", r#"["a"]"#),
            Err(DecodeError::BadDogpileHeader)
        );
        assert_eq!(
            decode(b"{\"ct\":1", r#"["a"]"#),
            Err(DecodeError::BadDogpileHeader)
        );
        assert_eq!(decode(b"{", r#"["a"]"#), Err(DecodeError::BadDogpileHeader));
    }

    #[test]
    fn a_fingerprint_must_be_the_templates_own() {
        let t = template(r#"["a","b"]"#);
        let value = [0x92, 0xc3, 0xc2];
        let marked = |fp: [u8; 4]| {
            let mut v = vec![0xd6, FINGERPRINT_EXT_TYPE];
            v.extend_from_slice(&fp);
            v.extend_from_slice(&value);
            v
        };
        let check = |bytes: &[u8], required: bool| {
            decode_with_template(bytes, &t, b"t", required, &mut Validate)
        };
        assert_eq!(check(&marked(t.fingerprint), false), Ok(()));
        assert_eq!(check(&marked(t.fingerprint), true), Ok(()));
        let other = [t.fingerprint[0] ^ 1, 0, 0, 0];
        assert_eq!(
            check(&marked(other), false),
            Err(DecodeError::OtherDefinition { found: other })
        );
        assert_eq!(check(&value, false), Ok(()));
        assert_eq!(check(&value, true), Err(DecodeError::NoFingerprint));
        // A cut-off fingerprint is not a fingerprint: an ext type, refused.
        assert!(check(&marked(t.fingerprint)[..4], false).is_err());
        // Behind a dogpile.cache header too.
        let mut with_header = br#"{"ct":1,"v":2}|"#.to_vec();
        with_header.extend(marked(t.fingerprint));
        assert_eq!(check(&with_header, true), Ok(()));
    }

    #[test]
    fn structural_errors_name_the_problem() {
        let not_array = packed(|b| encode::write_str(b, "x").unwrap());
        assert!(matches!(
            decode(&not_array, r#"["a"]"#),
            Err(DecodeError::NotArray { .. })
        ));

        let two = packed(|b| {
            encode::write_array_len(b, 2).unwrap();
            encode::write_nil(b).unwrap();
            encode::write_nil(b).unwrap();
        });
        let err = decode(&two, r#"["a","b","c"]"#).unwrap_err();
        assert_eq!(
            err,
            DecodeError::WrongCount {
                what: "template 't'".into(),
                expected: 3,
                found: 2
            }
        );
        assert!(err.to_string().contains('3') && err.to_string().contains('2'));

        let sub_not_array = packed(|b| {
            encode::write_array_len(b, 1).unwrap();
            encode::write_nil(b).unwrap();
        });
        let err = decode(&sub_not_array, r#"[["m",["x"]]]"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value for entry 'm' is not a msgpack array"
        );

        let mut trailing = two.clone();
        trailing.push(0xc0);
        assert_eq!(
            decode(&trailing, r#"["a","b"]"#),
            Err(DecodeError::TrailingBytes { count: 1 })
        );

        assert_eq!(
            decode(b"", r#"["a"]"#),
            Err(DecodeError::Truncated { at: 0 })
        );
        assert_eq!(
            decode(b"\x91\xc1", r#"["a"]"#),
            Err(DecodeError::Reserved { at: 1 })
        );
        assert_eq!(
            decode(b"\x91\xd4\x01\x00", r#"["a"]"#),
            Err(DecodeError::Extension { at: 1 })
        );
    }

    #[test]
    fn truncation_at_every_byte_is_an_error() {
        let bytes = packed(|b| {
            encode::write_array_len(b, 4).unwrap();
            encode::write_str(b, "hello world").unwrap();
            encode::write_f64(b, 2.5).unwrap();
            encode::write_array_len(b, 2).unwrap();
            encode::write_u64(b, 1 << 40).unwrap();
            encode::write_bin(b, &[7; 300]).unwrap();
            encode::write_map_len(b, 1).unwrap();
            encode::write_i16(b, -300).unwrap();
            encode::write_str(b, "v").unwrap();
        });
        let def = r#"["a","b","c","d"]"#;
        assert!(decode(&bytes, def).is_ok());
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut], def).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
    }

    #[test]
    fn claimed_lengths_without_bodies_fail_fast() {
        for header in [
            &b"\x91\xdd\xff\xff\xff\xff"[..], // array32 of 4 billion
            b"\x91\xdf\xff\xff\xff\xff",      // map32
            b"\x91\xdb\xff\xff\xff\xff",      // str32
            b"\x91\xc6\xff\xff\xff\xff",      // bin32
            b"\xdd\xff\xff\xff\xff",          // top-level array32 against a 1-entry template
        ] {
            assert!(decode(header, r#"["a"]"#).is_err());
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let at_limit = |levels: usize| {
            let mut b = vec![0x91]; // the template's own array
            b.extend(std::iter::repeat_n(0x91, levels - 1));
            b.push(0xc0);
            b
        };
        assert!(decode(&at_limit(MAX_DEPTH), r#"["a"]"#).is_ok());
        assert_eq!(
            decode(&at_limit(MAX_DEPTH + 1), r#"["a"]"#),
            Err(DecodeError::TooDeep)
        );
        let mut hostile = vec![0x91u8; 1_000_000];
        hostile.push(0xc0);
        assert_eq!(decode(&hostile, r#"["a"]"#), Err(DecodeError::TooDeep));
    }
}
