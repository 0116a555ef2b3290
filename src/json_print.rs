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
//!   The text is escaped once, as it is written: a non-string key inside that
//!   key gets quotes (escaped with the rest) but is not escaped a second time,
//!   so `{{{[1]: 2}: 3}: 4}` prints as
//!   `{"{\"{\"[1]\":2}\":3}":4}`. The string then need
//!   not parse as JSON itself, but escaping never compounds with nesting: the
//!   text is at most `BYTES_PER_STORED_BYTE` bytes per stored byte plus the
//!   template's names (`max_len`), where escaping again at every level would
//!   double it per level.
//! - Bytes that are not UTF-8 have no JSON form: the printer records the
//!   top-level entry that holds them and `finish` answers a decode error
//!   (`DecodeError::NotUtf8`), handled like any other under the template's
//!   policy. Replacing them (U+FFFD) would answer a different value without
//!   saying so; `CALC.GETDICT` returns the bytes as they are.
//!
//! The printer writes into a `Text`: a buffer, or a `Count` of the bytes the
//! same print would write, so a reply's size is known before it is built.

use std::io;

use serde::Serializer as _;

use crate::msgpack::{DecodeError, Sink};
use crate::printable::printable;
use crate::template::{Entry, Template};

/// The most bytes the printer writes per stored byte, besides the template's
/// names (`max_len`). The worst case is a map inside a non-string key whose
/// keys and values are `false`: 2 stored bytes print as `\"false\":false,`
/// (16 bytes).
pub const BYTES_PER_STORED_BYTE: usize = 8;

/// The most bytes the JSON text of a `stored_len`-byte value of `template` can
/// take: what `max_len` bounds is checked by the decode fuzz target. Linear
/// in the stored size, so a reply's size can be bounded before it is built.
#[inline]
pub fn max_len(stored_len: usize, template: &Template) -> usize {
    stored_len
        .saturating_mul(BYTES_PER_STORED_BYTE)
        .saturating_add(template.json_names_len)
}

/// Where the printer writes: a buffer, or a count of its bytes.
pub trait Text {
    fn put(&mut self, bytes: &[u8]);
    fn put_byte(&mut self, byte: u8);
}

impl Text for Vec<u8> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline(always)]
    fn put_byte(&mut self, byte: u8) {
        self.push(byte);
    }
}

/// The number of bytes a print would write, without writing them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub usize);

impl Text for Count {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    #[inline(always)]
    fn put_byte(&mut self, _: u8) {
        self.0 += 1;
    }
}

/// The text being written, escaped as the content of a JSON string while a
/// non-string key is printed.
struct Out<T> {
    text: T,
    /// The depth of the map whose non-string key is being printed (escaped
    /// from its opening quote to its closing one); 0 outside any.
    quoting: usize,
}

impl<T: Text> Out<T> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        if self.quoting == 0 {
            self.text.put(bytes);
        } else {
            self.put_escaped(bytes);
        }
    }

    #[inline(always)]
    fn put_byte(&mut self, byte: u8) {
        if self.quoting == 0 {
            self.text.put_byte(byte);
        } else {
            self.put_escaped(&[byte]);
        }
    }

    /// `bytes` as JSON string content: quotes, backslashes and control
    /// characters escaped (what the printer writes inside a key holds no
    /// control character, each is escaped already, but the output stays
    /// valid JSON whatever it is given).
    fn put_escaped(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(at) = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        {
            let (plain, special) = rest.split_at(at);
            self.text.put(plain);
            let Some((&byte, tail)) = special.split_first() else {
                break;
            };
            match byte {
                b'"' | b'\\' => {
                    self.text.put_byte(b'\\');
                    self.text.put_byte(byte);
                }
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.text.put(b"\\u00");
                    self.text.put_byte(HEX[usize::from(byte >> 4)]);
                    self.text.put_byte(HEX[usize::from(byte & 0xf)]);
                }
            }
            rest = tail;
        }
        self.text.put(rest);
    }
}

/// serde_json's serializer writes scalars through this.
impl<T: Text> io::Write for Out<T> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.put(buf);
        Ok(buf.len())
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.put(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An open array or map: how many items (keys and values) it still expects.
#[derive(Clone, Copy, Default)]
struct Frame {
    map: bool,
    left: usize,
    /// Its current key is not a string: it was opened with a quote.
    quoted: bool,
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

pub struct JsonPrinter<T = Vec<u8>> {
    out: Out<T>,
    stack: Stack,
    /// Top-level keys seen so far: which template entry is being printed.
    top_entries: usize,
    /// The top-level entry (its position) that held bytes that are not UTF-8.
    not_utf8: Option<usize>,
}

impl<T: Text> JsonPrinter<T> {
    /// A printer writing into `text` (a buffer, or a `Count`).
    pub fn new(text: T) -> JsonPrinter<T> {
        JsonPrinter {
            out: Out { text, quoting: 0 },
            stack: Stack::default(),
            top_entries: 0,
            not_utf8: None,
        }
    }

    /// The JSON text (or its size) of a value the decoder emitted completely,
    /// or the error for a value JSON cannot express. `template` is the one
    /// decoded against.
    pub fn finish(self, template: &Template) -> Result<T, DecodeError> {
        match self.not_utf8 {
            None => Ok(self.out.text),
            Some(index) => Err(DecodeError::NotUtf8 {
                entry: template
                    .entries
                    .get(index)
                    .map(|e| printable(e.name.as_bytes()))
                    .unwrap_or_default(),
            }),
        }
    }

    /// Before a value that is not a string: as a map key, it opens the
    /// string that holds its text (escaped from here on, unless an enclosing
    /// key already is).
    #[inline]
    fn before_other(&mut self) {
        let depth = self.stack.len;
        if let Some(top) = self.stack.last_mut() {
            if top.map && top.left % 2 == 0 {
                top.quoted = true;
                self.out.put_byte(b'"');
                if self.out.quoting == 0 {
                    self.out.quoting = depth;
                }
            }
        }
    }

    /// After an item: the colon after a key (and the quote that closes a
    /// non-string one), the comma before the next item, and the closing
    /// bracket of every container whose last item it was. (Separators come
    /// after an item, so nothing needs doing before one.)
    #[inline(always)]
    fn after(&mut self) {
        loop {
            let depth = self.stack.len;
            let Some(top) = self.stack.last_mut() else {
                return;
            };
            if top.map && top.left % 2 == 0 {
                if std::mem::take(&mut top.quoted) {
                    if self.out.quoting == depth {
                        self.out.quoting = 0;
                    }
                    self.out.put_byte(b'"');
                }
                self.out.put_byte(b':');
            } else if top.left > 1 {
                self.out.put_byte(b',');
            }
            top.left = top.left.saturating_sub(1);
            if top.left > 0 {
                return;
            }
            let close = if top.map { b'}' } else { b']' };
            self.out.put_byte(close);
            self.stack.pop();
        }
    }

    fn open(&mut self, map: bool, items: usize) {
        self.before_other();
        self.out.put_byte(if map { b'{' } else { b'[' });
        if items == 0 {
            self.out.put_byte(if map { b'}' } else { b']' });
            self.after();
        } else {
            self.stack.push(Frame {
                map,
                left: items,
                quoted: false,
            });
        }
    }

    fn serializer(&mut self) -> serde_json::Serializer<&mut Out<T>> {
        serde_json::Serializer::new(&mut self.out)
    }
}

impl<T: Text> Sink for JsonPrinter<T> {
    fn name(&mut self, entry: &Entry) {
        if self.stack.len == 1 {
            self.top_entries += 1;
        }
        // A name is a key in the open map, never its last item (its value
        // follows): the colon, and one item fewer to wait for.
        if let Some(top) = self.stack.last_mut() {
            top.left = top.left.saturating_sub(1);
        }
        self.out.put(entry.json_key.as_bytes());
    }

    fn nil(&mut self) {
        self.before_other();
        self.out.put(b"null");
        self.after();
    }

    fn boolean(&mut self, value: bool) {
        self.before_other();
        // Two constant-length copies, which compile to plain stores.
        if value {
            self.out.put(b"true");
        } else {
            self.out.put(b"false");
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
            self.out.put_byte(b'"');
            self.out.put(value);
            self.out.put_byte(b'"');
        } else {
            match std::str::from_utf8(value) {
                Ok(text) => {
                    let _ = self.serializer().serialize_str(text);
                }
                Err(_) => {
                    self.not_utf8
                        .get_or_insert(self.top_entries.saturating_sub(1));
                    self.out.put(b"null");
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
        let mut counter = JsonPrinter::new(Count::default());
        let counted = decode_with_template(&bytes, &template, b"t", false, &mut counter)
            .and_then(|()| counter.finish(&template));
        let mut printer = JsonPrinter::new(Vec::new());
        decode_with_template(&bytes, &template, b"t", false, &mut printer)?;
        let json = printer.finish(&template);
        // The count is the print's length, and both agree on errors.
        assert_eq!(
            counted,
            json.as_ref()
                .map(|json| Count(json.len()))
                .map_err(Clone::clone)
        );
        if let Ok(json) = &json {
            assert!(json.len() <= max_len(bytes.len(), &template));
        }
        json.map(|json| String::from_utf8(json).unwrap())
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
    fn a_key_inside_a_key_is_quoted_not_escaped_again() {
        let value = Mp::Array(vec![Mp::Map(vec![(
            Mp::Map(vec![(
                Mp::Map(vec![(Mp::Array(vec![Mp::from(1)]), Mp::from(2))]),
                Mp::from(3),
            )]),
            Mp::from(4),
        )])]);
        assert_eq!(
            print(r#"["m"]"#, &value).unwrap(),
            r#"{"m":{"{\"{\"[1]\":2}\":3}":4}}"#
        );
        // Strings inside a key are escaped once by serde_json, once as the
        // key's content; control characters never appear raw.
        let value = Mp::Array(vec![Mp::Map(vec![(
            Mp::Map(vec![(Mp::from("q\"\\\u{1}"), Mp::from("v\n"))]),
            Mp::Nil,
        )])]);
        let json = print(r#"["m"]"#, &value).unwrap();
        assert_eq!(json, r#"{"m":{"{\"q\\\"\\\\\\u0001\":\"v\\n\"}":null}}"#);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        let key = parsed["m"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        assert_eq!(key, r#"{"q\"\\\u0001":"v\n"}"#);
    }

    /// `{k: 1}` wrapped around `inner` `levels` times, as a map key each time.
    fn keys_around(inner: Mp, levels: usize) -> Mp {
        (0..levels).fold(inner, |key, _| Mp::Map(vec![(key, Mp::from(1))]))
    }

    #[test]
    fn nested_keys_print_in_linear_size() {
        // 26 levels of keys around a string of a quote and a backslash: 61
        // stored bytes, which printed each level's key again as a string
        // (doubling its escapes per level) and took 640 MB.
        let inner = Mp::Map(vec![(Mp::from("x"), Mp::from("\"\\"))]);
        let value = Mp::Array(vec![keys_around(inner, 26), Mp::from(1), Mp::from(2)]);
        let bytes = {
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, &value).unwrap();
            bytes
        };
        assert_eq!(bytes.len(), 61);
        let json = print(r#"["a","b","c"]"#, &value).unwrap();
        assert!(
            json.len() <= 4 * bytes.len(),
            "{} bytes: {json}",
            json.len()
        );
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
        // Deeper and wider: still within the bound (checked by `print`).
        for levels in [1, 2, 10, 62] {
            let inner = Mp::Map(vec![(Mp::Boolean(false), Mp::Boolean(false)); 15]);
            print(r#"["a"]"#, &Mp::Array(vec![keys_around(inner, levels)])).unwrap();
        }
    }

    #[test]
    fn the_worst_values_per_stored_byte_fit_the_bound() {
        // A key holding maps of `false: false` pairs (16 bytes printed for 2
        // stored), control characters inside a key (7 bytes for 1), a string
        // of them as a value (6 bytes for 1).
        let pairs = Mp::Map(vec![(Mp::Boolean(false), Mp::Boolean(false)); 15]);
        let controls = Mp::from("\u{1}".repeat(300));
        let value = Mp::Array(vec![
            Mp::Map(vec![(Mp::Map(vec![(pairs.clone(), pairs)]), Mp::Nil)]),
            Mp::Map(vec![(Mp::Array(vec![controls.clone()]), controls)]),
            Mp::Array(vec![Mp::Nil; 100]),
        ]);
        let json = print(r#"["a","b","c"]"#, &value).unwrap();
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
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
