//! The JSON printer: a decoder `Sink` that writes the decoded value as one
//! JSON text (`CALC.GETJSON`). Scalars go through serde_json's serializer:
//! integers exact (also above 2^63), floats as the shortest text that parses
//! back to the same double (ryu), strings escaped.
//!
//! What JSON cannot express, and how it is answered (the README documents it):
//! - NaN and the infinities print as `null`, as `JSON.stringify` and serde_json
//!   print them: the answer stays a typed, valid JSON text.
//! - A map key that is not a string prints as a string holding the key's own
//!   JSON text (`1` -> `"1"`, `null` -> `"null"`, `[1,2]` -> `"[1,2]"`), as
//!   Python's `json.dumps` and `JSON.stringify` do for numbers and booleans.
//! - Bytes that are not UTF-8 have no JSON form: the printer records the
//!   top-level entry that holds them and `finish` answers a decode error
//!   (`DecodeError::NotUtf8`), handled like any other under the template's
//!   policy. Replacing them (U+FFFD) would answer a different value without
//!   saying so; `CALC.GETDICT` returns the bytes as they are.

use serde::Serializer as _;

use crate::msgpack::{DecodeError, Sink};
use crate::printable::printable;
use crate::template::{Entry, Template};

/// An open array or map: how many items (keys and values) it still expects.
#[derive(Clone, Copy, Default)]
struct Frame {
    map: bool,
    left: usize,
    /// Where a non-string key's text starts, to turn it into a string.
    key_start: Option<usize>,
}

/// The open containers: the first few in place (a value of a flat or nested
/// template needs no allocation), deeper ones on the heap.
#[derive(Default)]
struct Stack {
    near: [Frame; 8],
    len: usize,
    far: Vec<Frame>,
}

impl Stack {
    #[inline]
    fn last_mut(&mut self) -> Option<&mut Frame> {
        match self.len {
            0 => None,
            n if n <= self.near.len() => self.near.get_mut(n - 1),
            _ => self.far.last_mut(),
        }
    }

    fn push(&mut self, frame: Frame) {
        match self.near.get_mut(self.len) {
            Some(slot) => *slot = frame,
            None => self.far.push(frame),
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        if self.len > self.near.len() {
            self.far.pop();
        }
        self.len = self.len.saturating_sub(1);
    }
}

pub struct JsonPrinter {
    out: Vec<u8>,
    stack: Stack,
    /// Top-level keys seen so far: which template entry is being printed.
    top_entries: usize,
    /// The top-level entry (its position) that held bytes that are not UTF-8.
    not_utf8: Option<usize>,
}

impl JsonPrinter {
    /// A printer for a value of `stored_len` bytes (the output's first guess).
    pub fn new(stored_len: usize) -> JsonPrinter {
        JsonPrinter {
            out: Vec::with_capacity(stored_len.saturating_mul(16).clamp(256, 1 << 16)),
            stack: Stack::default(),
            top_entries: 0,
            not_utf8: None,
        }
    }

    /// The JSON text of a value the decoder emitted completely, or the error
    /// for a value JSON cannot express. `template` is the one decoded against.
    pub fn finish(self, template: &Template) -> Result<Vec<u8>, DecodeError> {
        match self.not_utf8 {
            None => Ok(self.out),
            Some(index) => Err(DecodeError::NotUtf8 {
                entry: template
                    .entries
                    .get(index)
                    .map(|e| printable(e.name.as_bytes()))
                    .unwrap_or_default(),
            }),
        }
    }

    /// Before a value that is not a string: as a map key, its text will be
    /// turned into a string when it ends.
    #[inline]
    fn before_other(&mut self) {
        let start = self.out.len();
        if let Some(top) = self.stack.last_mut() {
            if top.map && top.left % 2 == 0 {
                top.key_start = Some(start);
            }
        }
    }

    /// After an item: the colon after a key, the comma before the next item,
    /// and the closing bracket of every container whose last item it was.
    /// (Separators come after an item, so nothing needs doing before one.)
    #[inline(always)]
    fn after(&mut self) {
        while let Some(top) = self.stack.last_mut() {
            if top.map && top.left % 2 == 0 {
                if let Some(start) = top.key_start.take() {
                    let text = self.out.split_off(start.min(self.out.len()));
                    let text = String::from_utf8_lossy(&text);
                    let _ = serde_json::to_writer(&mut self.out, text.as_ref());
                }
                self.out.push(b':');
            } else if top.left > 1 {
                self.out.push(b',');
            }
            top.left = top.left.saturating_sub(1);
            if top.left > 0 {
                return;
            }
            self.out.push(if top.map { b'}' } else { b']' });
            self.stack.pop();
        }
    }

    fn open(&mut self, map: bool, items: usize) {
        self.before_other();
        self.out.push(if map { b'{' } else { b'[' });
        if items == 0 {
            self.out.push(if map { b'}' } else { b']' });
            self.after();
        } else {
            self.stack.push(Frame {
                map,
                left: items,
                key_start: None,
            });
        }
    }

    fn serializer(&mut self) -> serde_json::Serializer<&mut Vec<u8>> {
        serde_json::Serializer::new(&mut self.out)
    }
}

impl Sink for JsonPrinter {
    fn name(&mut self, entry: &Entry) {
        if self.stack.len == 1 {
            self.top_entries += 1;
        }
        // A name is a key in the open map, never its last item (its value
        // follows): the colon, and one item fewer to wait for.
        if let Some(top) = self.stack.last_mut() {
            top.left = top.left.saturating_sub(1);
        }
        self.out.extend_from_slice(entry.json_key.as_bytes());
    }

    fn nil(&mut self) {
        self.before_other();
        self.out.extend_from_slice(b"null");
        self.after();
    }

    fn boolean(&mut self, value: bool) {
        self.before_other();
        // Two constant-length copies, which compile to plain stores.
        if value {
            self.out.extend_from_slice(b"true");
        } else {
            self.out.extend_from_slice(b"false");
        }
        self.after();
    }

    fn int(&mut self, value: i64) {
        self.before_other();
        let _ = self.serializer().serialize_i64(value);
        self.after();
    }

    fn big_uint(&mut self, value: u64) {
        self.before_other();
        let _ = self.serializer().serialize_u64(value);
        self.after();
    }

    fn float(&mut self, value: f64) {
        self.before_other();
        // Non-finite values print as `null`.
        let _ = self.serializer().serialize_f64(value);
        self.after();
    }

    fn bytes(&mut self, value: &[u8]) {
        // Printable ASCII without quote or backslash (most strings) is its
        // own JSON text; anything else goes through UTF-8 validation and
        // serde_json's escaping.
        if value
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            self.out.reserve(value.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(value);
            self.out.push(b'"');
        } else {
            match std::str::from_utf8(value) {
                Ok(text) => {
                    let _ = self.serializer().serialize_str(text);
                }
                Err(_) => {
                    self.not_utf8
                        .get_or_insert(self.top_entries.saturating_sub(1));
                    self.out.extend_from_slice(b"null");
                }
            }
        }
        self.after();
    }

    fn array(&mut self, len: usize) {
        self.open(false, len);
    }

    fn map(&mut self, pairs: usize) {
        self.open(true, pairs.saturating_mul(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgpack::decode_with_template;
    use rmpv::Value as Mp;

    fn print(def: &str, value: &Mp) -> Result<String, DecodeError> {
        let template = Template::parse(def.as_bytes()).unwrap();
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).unwrap();
        let mut printer = JsonPrinter::new(bytes.len());
        decode_with_template(&bytes, &template, b"t", false, &mut printer)?;
        printer
            .finish(&template)
            .map(|json| String::from_utf8(json).unwrap())
    }

    #[test]
    fn names_in_template_order_and_nested_objects() {
        let value = Mp::Array(vec![
            Mp::Boolean(true),
            Mp::Nil,
            Mp::Array(vec![Mp::from("hi"), Mp::F64(3.9)]),
            Mp::from(-7),
        ]);
        assert_eq!(
            print(r#"["a","bb",["meta",["x","y"]],"n"]"#, &value).unwrap(),
            r#"{"a":true,"bb":null,"meta":{"x":"hi","y":3.9},"n":-7}"#
        );
    }

    #[test]
    fn numbers_are_exact_and_floats_shortest() {
        let value = Mp::Array(vec![
            Mp::from(u64::MAX),
            Mp::from(i64::MIN),
            Mp::F64(0.1 + 0.2),
            Mp::F64(1e308),
            Mp::F64(2.0),
            Mp::F32(0.5),
            Mp::F64(-0.0),
            Mp::F64(5e-324),
        ]);
        assert_eq!(
            print(r#"["a","b","c","d","e","f","g","h"]"#, &value).unwrap(),
            r#"{"a":18446744073709551615,"b":-9223372036854775808,"c":0.30000000000000004,"d":1e+308,"e":2.0,"f":0.5,"g":-0.0,"h":5e-324}"#
        );
    }

    #[test]
    fn what_json_cannot_express() {
        let value = Mp::Array(vec![
            Mp::F64(f64::NAN),
            Mp::F64(f64::INFINITY),
            Mp::F64(f64::NEG_INFINITY),
            Mp::Map(vec![
                (Mp::from(1), Mp::from("one")),
                (Mp::Nil, Mp::Boolean(false)),
                (Mp::Boolean(true), Mp::Array(vec![])),
                (
                    Mp::Array(vec![Mp::from(1), Mp::from("k\"")]),
                    Mp::Map(vec![]),
                ),
                (Mp::Map(vec![(Mp::from(2), Mp::Nil)]), Mp::from(0)),
                (Mp::F64(1.5), Mp::from(0)),
            ]),
        ]);
        assert_eq!(
            print(r#"["nan","inf","ninf","m"]"#, &value).unwrap(),
            r#"{"nan":null,"inf":null,"ninf":null,"m":{"1":"one","null":false,"true":[],"[1,\"k\\\"\"]":{},"{\"2\":null}":0,"1.5":0}}"#
        );
        let bad = Mp::Array(vec![Mp::from("ok"), Mp::Binary(vec![b'x', 0xff])]);
        assert_eq!(
            print(r#"["a","b"]"#, &bad),
            Err(DecodeError::NotUtf8 { entry: "b".into() })
        );
        // Bytes that are UTF-8 print as a string, str or bin alike.
        let fine = Mp::Array(vec![Mp::Binary("é\u{0}\n".as_bytes().to_vec())]);
        assert_eq!(print(r#"["a"]"#, &fine).unwrap(), r#"{"a":"é\u0000\n"}"#);
    }

    #[test]
    fn empty_and_deep_containers_close_in_order() {
        let value = Mp::Array(vec![
            Mp::Array(vec![]),
            Mp::Map(vec![]),
            Mp::Array(vec![
                Mp::Array(vec![Mp::Array(vec![Mp::from(1)])]),
                Mp::Map(vec![]),
            ]),
        ]);
        assert_eq!(
            print(r#"["a","b","c"]"#, &value).unwrap(),
            r#"{"a":[],"b":{},"c":[[[1]],{}]}"#
        );
        // Deeper than the frames kept in place, keys and values at every level.
        let mut deep = Mp::from(1);
        for level in 0..40 {
            deep = Mp::Map(vec![(Mp::from(level), deep), (Mp::from("n"), Mp::Nil)]);
        }
        let text = print(r#"["d"]"#, &Mp::Array(vec![deep])).unwrap();
        let mut expected = "1".to_string();
        for level in 0..40 {
            expected = format!(r#"{{"{level}":{expected},"n":null}}"#);
        }
        assert_eq!(text, format!(r#"{{"d":{expected}}}"#));
    }
}
