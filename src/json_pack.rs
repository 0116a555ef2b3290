//! The JSON packer (`CALC.SETDICT`): streams a JSON object through serde_json
//! against a template into the bytes the design note stores: the template's
//! fingerprint marker (`d6 63` + 4 bytes), then a msgpack array of the values
//! in template order, nested arrays for sub-templates, written with `rmp`.
//! No tree is built: each value is written as serde_json parses it.
//!
//! - Names must be exactly the template's at every level: a missing name, a
//!   name the template lacks and a name given twice are errors; a sub-template
//!   entry takes a JSON object. Names may come in any order: values are
//!   written as they arrive and put in template order at the end of their
//!   object (no copy when they came in order).
//! - null, true/false, integers, other numbers, strings, arrays and objects
//!   become msgpack nil, bool, int (smallest form), float 64, str, array and
//!   map (pairs as given).
//! - A number without fraction or exponent is an integer and must lie in
//!   -2^63..2^64-1. serde_json hands such a number to `visit_i64`/`visit_u64`,
//!   but one outside that range (and `-0`) to `visit_f64`, like a float. So a
//!   double that could have come from integer text (an integral one of
//!   magnitude 2^63 or more, or -0.0) is checked against the text: a lazy
//!   scanner walks the input once, in step with the parse, to that number's
//!   token (`NumberScan`). `-0` is the integer 0.
//! - Other numbers are the double the text denotes (serde_json's
//!   `float_roundtrip`): `2.0` stays a float; one beyond the doubles (`1e400`)
//!   is an error.
//! - Nesting follows the decoder's `MAX_DEPTH` (counting the template's own
//!   levels), so whatever is stored can be read back.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::msgpack::{FINGERPRINT_EXT_TYPE, MAX_DEPTH};
use crate::printable::{json_error, printable};
use crate::template::Template;

#[derive(Debug, PartialEq, Clone)]
pub struct PackError {
    /// The name the error is about, nested names joined with `.` (`meta.x`);
    /// empty for the object itself.
    pub name: String,
    pub kind: PackErrorKind,
}

#[derive(Debug, PartialEq, Clone)]
pub enum PackErrorKind {
    /// Not JSON: serde_json's message.
    InvalidJson(String),
    /// Not an object where the template (or a sub-template) needs one.
    NotObject {
        got: &'static str,
    },
    Missing,
    Unknown,
    Duplicate,
    /// An integer outside -2^63..2^64-1.
    IntegerRange,
    /// A number that is not a finite double (`1e400`).
    NotFinite,
    TooDeep,
    /// More elements in one array or map than msgpack can count.
    TooLong,
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.kind {
            PackErrorKind::InvalidJson(message) if name.is_empty() => {
                write!(f, "invalid JSON: {message}")
            }
            PackErrorKind::InvalidJson(message) => {
                write!(f, "invalid JSON in name '{name}': {message}")
            }
            PackErrorKind::NotObject { got } if name.is_empty() => {
                write!(f, "expected a JSON object, got {got}")
            }
            PackErrorKind::NotObject { got } => write!(
                f,
                "name '{name}' takes a JSON object (it has a sub-template), got {got}"
            ),
            PackErrorKind::Missing => write!(f, "missing name '{name}'"),
            PackErrorKind::Unknown => write!(f, "unknown name '{name}' (not in the template)"),
            PackErrorKind::Duplicate => write!(f, "name '{name}' given twice"),
            PackErrorKind::IntegerRange => {
                write!(f, "name '{name}': integer outside -2^63..2^64-1")
            }
            PackErrorKind::NotFinite => {
                write!(f, "name '{name}': number out of the range of a double")
            }
            PackErrorKind::TooDeep => {
                write!(f, "name '{name}': nested deeper than {MAX_DEPTH} levels")
            }
            PackErrorKind::TooLong => write!(f, "name '{name}': too many elements"),
        }
    }
}

/// Appends to `out` the stored form of the JSON object `json` under
/// `template`: fingerprint marker, then the values in template order. On
/// error, `out` holds a partial value and must be dropped.
pub fn pack_json(json: &[u8], template: &Template, out: &mut Vec<u8>) -> Result<(), PackError> {
    out.extend_from_slice(&[0xd6, FINGERPRINT_EXT_TYPE]);
    out.extend_from_slice(&template.fingerprint);
    let mut state = State {
        out,
        error: None,
        numbers: 0,
        scan: NumberScan {
            text: json,
            pos: 0,
            seen: 0,
        },
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let seed = ObjectSeed {
        state: &mut state,
        template,
        path: &Path::ROOT,
        depth: 1,
    };
    match seed.deserialize(&mut de).and_then(|()| de.end()) {
        Ok(()) => Ok(()),
        Err(e) => Err(state
            .error
            .take()
            .unwrap_or_else(|| from_serde(json, &e.to_string(), String::new()))),
    }
}

/// A serde_json error in the JSON text `json` as ours: its numbers out of
/// range are `NotFinite`.
fn from_serde(json: &[u8], message: &str, name: String) -> PackError {
    let kind = if message.starts_with("number out of range") {
        PackErrorKind::NotFinite
    } else {
        PackErrorKind::InvalidJson(json_error(json, message))
    };
    PackError { name, kind }
}

/// The chain of names from the root to a value, rendered only for errors.
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    name: &'p str,
}

impl Path<'_> {
    const ROOT: Path<'static> = Path {
        parent: None,
        name: "",
    };

    fn render(&self, leaf: Option<&[u8]>) -> String {
        let mut names: Vec<String> = leaf.map(printable).into_iter().collect();
        let mut at = Some(self);
        while let Some(p) = at {
            if p.parent.is_some() {
                names.push(printable(p.name.as_bytes()));
            }
            at = p.parent;
        }
        names.reverse();
        names.join(".")
    }
}

struct State<'o, 'j> {
    out: &'o mut Vec<u8>,
    /// Our error, when a visitor failed (serde only carries a message).
    error: Option<PackError>,
    /// Numbers visited so far, in document order.
    numbers: usize,
    scan: NumberScan<'j>,
}

impl State<'_, '_> {
    /// Fails with our own error; the serde error only stops the parse.
    fn fail<E: de::Error>(&mut self, error: PackError) -> E {
        self.error.get_or_insert(error);
        E::custom("")
    }

    /// A serde_json error (bad syntax, number out of range) met while parsing
    /// the value at `path`, unless a deeper level already explained it.
    fn parse_error<E: de::Error>(&mut self, e: E, path: &Path) -> E {
        if self.error.is_none() {
            self.error = Some(from_serde(
                self.scan.text,
                &e.to_string(),
                path.render(None),
            ));
        }
        e
    }

    /// Starts an array or map whose length is known at its end: room for the
    /// largest header (5 bytes), returned as its position.
    fn reserve_header(&mut self) -> usize {
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 5]);
        at
    }

    /// Writes the real header at `at` and moves the elements up to it.
    fn patch_header(&mut self, at: usize, len: usize, map: bool) -> Result<(), PackErrorKind> {
        let len = u32::try_from(len).map_err(|_| PackErrorKind::TooLong)?;
        let mut header = [0u8; 5];
        let mut w = &mut header[..];
        let _ = if map {
            rmp::encode::write_map_len(&mut w, len)
        } else {
            rmp::encode::write_array_len(&mut w, len)
        };
        let size = 5 - w.len();
        let body = at + 5;
        if body > self.out.len() {
            return Ok(());
        }
        self.out.copy_within(body.., at + size);
        self.out.truncate(self.out.len() - (5 - size));
        if let Some(slot) = self.out.get_mut(at..at + size) {
            slot.copy_from_slice(&header[..size]);
        }
        Ok(())
    }
}

/// Finds number tokens in the JSON text, in document order, to tell integer
/// text from float text where the parsed double cannot. Moves forward only,
/// so all its calls for one input scan it once.
struct NumberScan<'j> {
    text: &'j [u8],
    pos: usize,
    /// Number tokens passed so far.
    seen: usize,
}

impl NumberScan<'_> {
    /// Whether number token `ordinal` (0-based, document order) is written
    /// without fraction and exponent. Asked in increasing order.
    fn is_integer_text(&mut self, ordinal: usize) -> bool {
        let text = self.text;
        while let Some(&b) = text.get(self.pos) {
            match b {
                b'"' => {
                    self.pos += 1;
                    while let Some(&c) = text.get(self.pos) {
                        self.pos += if c == b'\\' { 2 } else { 1 };
                        if c == b'"' {
                            break;
                        }
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.pos;
                    while text.get(self.pos).is_some_and(|c| {
                        matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    }) {
                        self.pos += 1;
                    }
                    let this = self.seen;
                    self.seen += 1;
                    if this == ordinal {
                        let token = text.get(start..self.pos).unwrap_or_default();
                        return !token.iter().any(|c| matches!(c, b'.' | b'e' | b'E'));
                    }
                }
                _ => self.pos += 1,
            }
        }
        false
    }
}

/// 2^63 as a double: the smallest magnitude beyond i64's non-negative range.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// What a JSON value is, for errors.
fn kind_of_unexpected(unexpected: de::Unexpected) -> &'static str {
    match unexpected {
        de::Unexpected::Unit => "null",
        de::Unexpected::Bool(_) => "a boolean",
        de::Unexpected::Str(_) => "a string",
        de::Unexpected::Seq => "an array",
        de::Unexpected::Map => "an object",
        _ => "a number",
    }
}

/// A JSON object against a template level: a msgpack array, in template order.
struct ObjectSeed<'s, 'o, 'j, 'p> {
    state: &'s mut State<'o, 'j>,
    template: &'p Template,
    path: &'p Path<'p>,
    /// Containers open once this level's array is.
    depth: usize,
}

impl ObjectSeed<'_, '_, '_, '_> {
    fn not_object<E: de::Error>(self, got: de::Unexpected) -> E {
        let error = PackError {
            name: self.path.render(None),
            kind: PackErrorKind::NotObject {
                got: kind_of_unexpected(got),
            },
        };
        self.state.fail(error)
    }
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // `any`, not `map`: a non-object then reaches our visitor, which says
        // which name it was.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ObjectSeed {
            state,
            template,
            path,
            depth,
        } = self;
        if depth > MAX_DEPTH {
            let name = path.render(None);
            return Err(state.fail(PackError {
                name,
                kind: PackErrorKind::TooDeep,
            }));
        }
        let entries = &template.entries;
        // Entries.len() is at most what a template definition holds: fits.
        let _ = rmp::encode::write_array_len(state.out, entries.len() as u32);
        let start = state.out.len();
        // Where each entry's value was written; `None` until it arrives. In
        // place for up to 32 names, on the heap for more.
        let mut near = [None; 32];
        let mut far = Vec::new();
        let spans: &mut [Option<(usize, usize)>] = match near.get_mut(..entries.len()) {
            Some(near) => near,
            None => {
                far.resize(entries.len(), None);
                &mut far
            }
        };
        let mut next = 0;
        let mut in_order = true;
        loop {
            let key = KeySeed {
                state: &mut *state,
                template,
                hint: next,
                path,
            };
            let position = match map.next_key_seed(key) {
                Ok(Some(position)) => position,
                Ok(None) => break,
                Err(e) => return Err(state.parse_error(e, path)),
            };
            let Some(entry) = entries.get(position) else {
                return Err(de::Error::custom("entry out of range"));
            };
            let child = Path {
                parent: Some(path),
                name: &entry.name,
            };
            if spans.get(position).is_some_and(Option::is_some) {
                let name = child.render(None);
                return Err(state.fail(PackError {
                    name,
                    kind: PackErrorKind::Duplicate,
                }));
            }
            in_order &= position == next;
            let begin = state.out.len();
            let written = match &entry.sub {
                Some(sub) => map.next_value_seed(ObjectSeed {
                    state: &mut *state,
                    template: sub,
                    path: &child,
                    depth: depth + 1,
                }),
                None => map.next_value_seed(ValueSeed {
                    state: &mut *state,
                    path: &child,
                    depth,
                }),
            };
            if let Err(e) = written {
                return Err(state.parse_error(e, &child));
            }
            if let Some(span) = spans.get_mut(position) {
                *span = Some((begin, state.out.len()));
            }
            next = position + 1;
        }
        if let Some(missing) = spans.iter().position(Option::is_none) {
            let name = entries.get(missing).map(|e| e.name.as_bytes());
            let name = path.render(name);
            return Err(state.fail(PackError {
                name,
                kind: PackErrorKind::Missing,
            }));
        }
        if !in_order {
            // The values came in another order: put them in template order.
            let body = state.out.split_off(start.min(state.out.len()));
            for &(begin, end) in spans.iter().flatten() {
                let (Some(from), Some(to)) = (begin.checked_sub(start), end.checked_sub(start))
                else {
                    continue;
                };
                if let Some(value) = body.get(from..to) {
                    state.out.extend_from_slice(value);
                }
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_object(de::Unexpected::Unit))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        Err(self.not_object(de::Unexpected::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        Err(self.not_object(de::Unexpected::Signed(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        Err(self.not_object(de::Unexpected::Unsigned(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        Err(self.not_object(de::Unexpected::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        Err(self.not_object(de::Unexpected::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_object(de::Unexpected::Seq))
    }
}

/// A name of a templated object: its entry's position.
struct KeySeed<'s, 'o, 'j, 'p> {
    state: &'s mut State<'o, 'j>,
    template: &'p Template,
    hint: usize,
    path: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_, '_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        // As bytes: a name is only compared with the template's (valid UTF-8)
        // names, so serde_json need not check it is UTF-8 first.
        deserializer.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_, '_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<usize, E> {
        match self.template.position(name, self.hint) {
            Some(position) => Ok(position),
            None => {
                let name = self.path.render(Some(name));
                Err(self.state.fail(PackError {
                    name,
                    kind: PackErrorKind::Unknown,
                }))
            }
        }
    }
}

/// Any JSON value at a plain entry (or inside one), at `depth` open containers.
struct ValueSeed<'s, 'o, 'j, 'p> {
    state: &'s mut State<'o, 'j>,
    path: &'p Path<'p>,
    depth: usize,
}

impl ValueSeed<'_, '_, '_, '_> {
    fn error<E: de::Error>(self, kind: PackErrorKind) -> E {
        let name = self.path.render(None);
        self.state.fail(PackError { name, kind })
    }

    /// Opens a container inside this value, if the depth allows.
    fn nested<E: de::Error>(&mut self) -> Result<usize, E> {
        if self.depth + 1 > MAX_DEPTH {
            let name = self.path.render(None);
            return Err(self.state.fail(PackError {
                name,
                kind: PackErrorKind::TooDeep,
            }));
        }
        Ok(self.state.reserve_header())
    }

    fn close<E: de::Error>(self, at: usize, len: usize, map: bool) -> Result<(), E> {
        match self.state.patch_header(at, len, map) {
            Ok(()) => Ok(()),
            Err(kind) => Err(self.error(kind)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        let _ = rmp::encode::write_nil(self.state.out);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        let _ = rmp::encode::write_bool(self.state.out, v);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.state.numbers += 1;
        let _ = rmp::encode::write_sint(self.state.out, v);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.state.numbers += 1;
        let _ = rmp::encode::write_uint(self.state.out, v);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let ordinal = self.state.numbers;
        self.state.numbers += 1;
        // Integer text outside i64/u64 (and `-0`) arrives here as a double;
        // only such doubles need a look at the text.
        let negative_zero = v == 0.0 && v.is_sign_negative();
        let maybe_integer_text = v == v.trunc() && (v.abs() >= TWO_POW_63 || negative_zero);
        if maybe_integer_text && self.state.scan.is_integer_text(ordinal) {
            if negative_zero {
                let _ = rmp::encode::write_uint(self.state.out, 0);
                return Ok(());
            }
            return Err(self.error(PackErrorKind::IntegerRange));
        }
        let _ = rmp::encode::write_f64(self.state.out, v);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let _ = rmp::encode::write_str(self.state.out, v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let at = self.nested()?;
        let mut len = 0usize;
        while seq
            .next_element_seed(ValueSeed {
                state: &mut *self.state,
                path: self.path,
                depth: self.depth + 1,
            })?
            .is_some()
        {
            len += 1;
        }
        self.close(at, len, false)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let at = self.nested()?;
        let mut pairs = 0usize;
        while map
            .next_key_seed(PlainKey {
                out: &mut *self.state.out,
            })?
            .is_some()
        {
            map.next_value_seed(ValueSeed {
                state: &mut *self.state,
                path: self.path,
                depth: self.depth + 1,
            })?;
            pairs += 1;
        }
        self.close(at, pairs, true)
    }
}

/// A key of an object at a plain entry: written as a msgpack str.
struct PlainKey<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for PlainKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PlainKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let _ = rmp::encode::write_str(self.out, v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgpack::{decode_with_template, Validate};
    use rmpv::Value as Mp;

    const PERMS: &str = r#"["a","bb","ccc",["meta",["x","y"]]]"#;

    fn template(def: &str) -> Template {
        Template::parse(def.as_bytes()).unwrap()
    }

    fn pack(def: &str, json: &str) -> Result<Vec<u8>, PackError> {
        let t = template(def);
        let mut out = Vec::new();
        pack_json(json.as_bytes(), &t, &mut out)?;
        Ok(out)
    }

    /// The values (after the fingerprint) as msgpack, for comparison.
    fn values(def: &str, json: &str) -> Mp {
        let t = template(def);
        let bytes = pack(def, json).unwrap();
        assert_eq!(bytes[..2], [0xd6, FINGERPRINT_EXT_TYPE]);
        assert_eq!(bytes[2..6], t.fingerprint);
        decode_with_template(&bytes, &t, b"t", true, &mut Validate).unwrap();
        let mut rest = &bytes[6..];
        let value = rmpv::decode::read_value(&mut rest).unwrap();
        assert!(rest.is_empty());
        value
    }

    fn packed(value: &Mp) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    fn err(def: &str, json: &str) -> PackError {
        pack(def, json).unwrap_err()
    }

    #[test]
    fn values_in_template_order_whatever_the_json_order() {
        let expected = Mp::Array(vec![
            Mp::Boolean(true),
            Mp::Boolean(false),
            Mp::Nil,
            Mp::Array(vec![Mp::from("hi"), Mp::F64(3.9)]),
        ]);
        let in_order = r#"{"a":true,"bb":false,"ccc":null,"meta":{"x":"hi","y":3.9}}"#;
        let shuffled =
            r#" { "meta" : { "y" : 3.9 , "x" : "hi" } , "ccc":null, "a":true,"bb":false } "#;
        assert_eq!(values(PERMS, in_order), expected);
        assert_eq!(values(PERMS, shuffled), expected);
        assert_eq!(
            pack(PERMS, in_order).unwrap(),
            pack(PERMS, shuffled).unwrap()
        );
        // The compact form: exactly what a msgpack library packs.
        assert_eq!(pack(PERMS, in_order).unwrap()[6..], packed(&expected)[..]);
    }

    #[test]
    fn every_json_type_and_the_number_edges() {
        let def = r#"["n","t","i","u","min","max","f","two","big","tiny","s","arr","obj","negzero","negzerof"]"#;
        let json = r#"{"n":null,"t":true,"i":-5,"u":300,"min":-9223372036854775808,
            "max":18446744073709551615,"f":0.30000000000000004,"two":2.0,"big":1e308,
            "tiny":5e-324,"s":"q\"\\\u0000\n\u00e9\ud83d\ude00","arr":[1,[2.5,"x"],{}],
            "obj":{"k":[],"k2":{"z":null}},"negzero":-0,"negzerof":-0.0}"#;
        let got = values(def, json);
        let expected = Mp::Array(vec![
            Mp::Nil,
            Mp::Boolean(true),
            Mp::from(-5),
            Mp::from(300),
            Mp::from(i64::MIN),
            Mp::from(u64::MAX),
            Mp::F64(0.1 + 0.2),
            Mp::F64(2.0),
            Mp::F64(1e308),
            Mp::F64(5e-324),
            Mp::from("q\"\\\u{0}\né\u{1f600}"),
            Mp::Array(vec![
                Mp::from(1),
                Mp::Array(vec![Mp::F64(2.5), Mp::from("x")]),
                Mp::Map(vec![]),
            ]),
            Mp::Map(vec![
                (Mp::from("k"), Mp::Array(vec![])),
                (Mp::from("k2"), Mp::Map(vec![(Mp::from("z"), Mp::Nil)])),
            ]),
            Mp::from(0),
            Mp::F64(-0.0),
        ]);
        assert_eq!(got, expected);
        let Mp::Array(items) = &got else { panic!() };
        // -0.0 keeps its sign; 2.0 stays a float.
        assert!(matches!(items[14], Mp::F64(z) if z.is_sign_negative()));
        assert!(matches!(items[7], Mp::F64(_)));
        assert!(matches!(items[13], Mp::Integer(_)));
    }

    #[test]
    fn numbers_beyond_storage_are_errors_naming_the_name() {
        let def = r#"["a",["m",["x"]]]"#;
        for (json, kind) in [
            (
                r#"{"a":18446744073709551616,"m":{"x":1}}"#,
                ("a", PackErrorKind::IntegerRange),
            ),
            (
                r#"{"a":-9223372036854775809,"m":{"x":1}}"#,
                ("a", PackErrorKind::IntegerRange),
            ),
            (
                r#"{"a":1,"m":{"x":100000000000000000000000}}"#,
                ("m.x", PackErrorKind::IntegerRange),
            ),
            (
                r#"{"a":1e400,"m":{"x":1}}"#,
                ("a", PackErrorKind::NotFinite),
            ),
            (
                r#"{"a":1,"m":{"x":-1e400}}"#,
                ("m.x", PackErrorKind::NotFinite),
            ),
            (
                r#"{"a":[1,2,99999999999999999999],"m":{"x":1}}"#,
                ("a", PackErrorKind::IntegerRange),
            ),
        ] {
            assert_eq!(
                err(def, json),
                PackError {
                    name: kind.0.into(),
                    kind: kind.1
                },
                "{json}"
            );
        }
        // Floats of that size are fine, as are numbers inside strings and names.
        let ok = values(
            r#"["18446744073709551616",["m",["x"]]]"#,
            r#"{"m":{"x":"99999999999999999999"},"18446744073709551616":1.8446744073709552e19}"#,
        );
        assert_eq!(
            ok,
            Mp::Array(vec![
                Mp::F64(18446744073709551616.0),
                Mp::Array(vec![Mp::from("99999999999999999999")])
            ])
        );
        assert_eq!(
            values(r#"["a","b"]"#, r#"{"a":1e19,"b":-9223372036854775809.0}"#),
            Mp::Array(vec![Mp::F64(1e19), Mp::F64(-9223372036854775809.0)])
        );
    }

    #[test]
    fn names_must_be_exactly_the_templates() {
        let e = |json: &str| err(PERMS, json);
        let full = r#""a":1,"bb":2,"ccc":3"#;
        assert_eq!(
            e(&format!(r#"{{{full}}}"#)),
            PackError {
                name: "meta".into(),
                kind: PackErrorKind::Missing
            }
        );
        assert_eq!(
            e(&format!(r#"{{{full},"meta":{{"x":1}}}}"#)),
            PackError {
                name: "meta.y".into(),
                kind: PackErrorKind::Missing
            }
        );
        assert_eq!(
            e(&format!(r#"{{{full},"meta":{{"x":1,"y":2,"z":3}}}}"#)),
            PackError {
                name: "meta.z".into(),
                kind: PackErrorKind::Unknown
            }
        );
        assert_eq!(
            e(&format!(r#"{{{full},"dddd":1,"meta":{{"x":1,"y":2}}}}"#)),
            PackError {
                name: "dddd".into(),
                kind: PackErrorKind::Unknown
            }
        );
        assert_eq!(
            e(&format!(r#"{{{full},"a":1,"meta":{{"x":1,"y":2}}}}"#)),
            PackError {
                name: "a".into(),
                kind: PackErrorKind::Duplicate
            }
        );
        assert_eq!(
            e(&format!(r#"{{{full},"meta":{{"x":1,"x":2,"y":2}}}}"#)),
            PackError {
                name: "meta.x".into(),
                kind: PackErrorKind::Duplicate
            }
        );
        for (value, got) in [
            ("[1]", "an array"),
            ("null", "null"),
            ("\"s\"", "a string"),
            ("1.5", "a number"),
            ("true", "a boolean"),
        ] {
            assert_eq!(
                e(&format!(r#"{{{full},"meta":{value}}}"#)),
                PackError {
                    name: "meta".into(),
                    kind: PackErrorKind::NotObject { got }
                }
            );
        }
        assert_eq!(
            e("[1,2,3,4]"),
            PackError {
                name: "".into(),
                kind: PackErrorKind::NotObject { got: "an array" }
            }
        );
    }

    #[test]
    fn invalid_json_names_where_it_broke() {
        let cases = [
            ("", ""),
            ("{", ""),
            (r#"{"a":1,"bb":2,"ccc":3,"meta":{"x":1,"y":tru}}"#, "meta.y"),
            (r#"{"a":1,"bb":2,"ccc":3,"meta":{"x":1,"y":2}} extra"#, ""),
            (r#"{"a":1 "bb":2}"#, ""),
            (r#"{"a":[1,}"#, "a"),
            (r#"{"a":"\ud800"}"#, "a"),
            (r#"{"a":01}"#, "a"),
            (r#"{"a":NaN}"#, "a"),
        ];
        for (json, name) in cases {
            let e = err(PERMS, json);
            assert!(
                matches!(&e.kind, PackErrorKind::InvalidJson(_)),
                "{json}: {e:?}"
            );
            assert_eq!(e.name, name, "{json}");
        }
        // serde_json calls a lone trailing surrogate a leading one.
        let t = template(r#"["a"]"#);
        let e = pack_json(br#"{"a":"x\udc00"}"#, &t, &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid JSON in name 'a': lone trailing surrogate in hex escape at line 1 column 13"
        );
        let e = pack_json(br#"{"a":"\ud800\u0041"}"#, &t, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("lone leading surrogate"), "{e}");
        // Not UTF-8: refused, never stored as a str that is not one.
        let e = pack_json(b"{\"a\":\"\xff\"}", &t, &mut Vec::new()).unwrap_err();
        assert!(matches!(e.kind, PackErrorKind::InvalidJson(_)), "{e:?}");
        assert_eq!(
            e.to_string().split(':').next().unwrap(),
            "invalid JSON in name 'a'"
        );
    }

    #[test]
    fn nesting_is_bounded_by_what_the_decoder_reads_back() {
        let nest =
            |levels: usize| format!("{{\"a\":{}1{}}}", "[".repeat(levels), "]".repeat(levels));
        // The template's array is one level: 63 arrays inside it fit.
        let ok = pack(r#"["a"]"#, &nest(MAX_DEPTH - 1)).unwrap();
        decode_with_template(&ok, &template(r#"["a"]"#), b"t", true, &mut Validate).unwrap();
        assert_eq!(
            err(r#"["a"]"#, &nest(MAX_DEPTH)),
            PackError {
                name: "a".into(),
                kind: PackErrorKind::TooDeep
            }
        );
        // Far deeper than serde_json's own limit: still our error, no overflow.
        assert_eq!(err(r#"["a"]"#, &nest(100_000)).kind, PackErrorKind::TooDeep);
        let objects = format!(
            "{{\"a\":{}1{}}}",
            "{\"k\":".repeat(MAX_DEPTH),
            "}".repeat(MAX_DEPTH)
        );
        assert_eq!(err(r#"["a"]"#, &objects).kind, PackErrorKind::TooDeep);
    }

    #[test]
    fn long_containers_get_their_real_headers() {
        for len in [0usize, 15, 16, 65535, 65536] {
            let items = vec!["7"; len].join(",");
            let json = format!(
                r#"{{"a":[{items}],"b":{{{}}}}}"#,
                (0..len.min(20))
                    .map(|i| format!("\"k{i}\":{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let got = values(r#"["a","b"]"#, &json);
            let Mp::Array(v) = got else { panic!() };
            assert_eq!(v[0], Mp::Array(vec![Mp::from(7); len]));
            let Mp::Map(m) = &v[1] else { panic!() };
            assert_eq!(m.len(), len.min(20));
        }
    }

    #[test]
    fn many_names_in_reverse_order_pack_in_template_order() {
        let names: Vec<String> = (0..40_000).map(|i| format!("name{i}")).collect();
        let def = serde_json::to_string(&names).unwrap();
        let t = template(&def);
        let body: Vec<String> = names
            .iter()
            .rev()
            .map(|n| format!("\"{n}\":true"))
            .collect();
        let json = format!("{{{}}}", body.join(","));
        let mut out = Vec::new();
        pack_json(json.as_bytes(), &t, &mut out).unwrap();
        assert_eq!(out.len(), 6 + 3 + 40_000);
        assert!(out[9..].iter().all(|&b| b == 0xc3));
    }
}
