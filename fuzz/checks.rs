//! The properties the fuzz targets check, shared with the regression test that
//! replays every input that ever found a bug (`fuzz/regressions/`) and the seed
//! inputs (`fuzz/seeds/`) in `make test`. Included by path: as the library's
//! `fuzz_checks` module (its unit tests) and by each fuzz target, both of
//! which have `msgpack`, `template`, `json_pack` and `json_print` beside it.

use serde_json::{Map, Value};

use super::json_pack::pack_json;
use super::json_print::{max_len, Count, JsonPrinter};
use super::msgpack::{decode_with_template, locate_entries, Sink, Validate};
use super::template::Template;

/// Templates a fuzzed value is decoded against; the first input byte picks one.
const TEMPLATES: &[&str] = &[
    r#"["a"]"#,
    r#"["a","bb","ccc"]"#,
    r#"["a",["meta",["x","y"]],"b"]"#,
    r#"[["l1",[["l2",[["l3",["leaf"]]]]]]]"#,
];

/// Counts what a reply writer would be asked to write, checking that containers
/// announce exactly as many children as follow.
#[derive(Default)]
struct Structure {
    /// Children still owed by each open container.
    owed: Vec<usize>,
    events: usize,
}

impl Structure {
    fn value(&mut self) {
        self.events += 1;
        while let Some(top) = self.owed.last_mut() {
            if *top > 0 {
                *top -= 1;
                break;
            }
            self.owed.pop();
        }
        // Containers whose last child just arrived are complete.
        while self.owed.last() == Some(&0) {
            self.owed.pop();
        }
    }
    fn open(&mut self, children: usize) {
        self.value();
        if children > 0 {
            self.owed.push(children);
        }
    }
}

impl Sink for Structure {
    fn nil(&mut self) {
        self.value()
    }
    fn boolean(&mut self, _: bool) {
        self.value()
    }
    fn int(&mut self, _: i64) {
        self.value()
    }
    fn big_uint(&mut self, v: u64) {
        assert!(v > i64::MAX as u64);
        self.value()
    }
    fn float(&mut self, _: f64) {
        self.value()
    }
    fn bytes(&mut self, _: &[u8]) {
        self.value()
    }
    fn array(&mut self, len: usize) {
        self.open(len)
    }
    fn map(&mut self, pairs: usize) {
        self.open(pairs * 2)
    }
}

/// Builds the JSON value a decode describes, as a client would from msgpack
/// (Python's `msgpack` + `json`): the reference the JSON printer's text is
/// compared with. NaN and the infinities are `null`, a non-string map key is
/// its own JSON text, bytes that are not UTF-8 have no JSON form.
#[derive(Default)]
struct Tree {
    /// Open containers, each with the items (keys and values) it still expects.
    stack: Vec<(Open, usize)>,
    done: Option<Value>,
    not_utf8: bool,
    /// A map was a map key: its text depends on the printer's key order,
    /// which a `Value` does not keep, so the comparison is skipped.
    map_as_key: bool,
}

enum Open {
    Array(Vec<Value>),
    Map(Map<String, Value>, Option<String>),
}

impl Tree {
    fn push(&mut self, value: Value) {
        let mut value = value;
        loop {
            let Some((open, left)) = self.stack.last_mut() else {
                self.done = Some(value);
                return;
            };
            match open {
                Open::Array(items) => items.push(value),
                Open::Map(map, key) => match key.take() {
                    Some(k) => {
                        map.insert(k, value);
                    }
                    None => {
                        self.map_as_key |= value.is_object() || value.is_array();
                        *key = Some(match value {
                            Value::String(s) => s,
                            other => other.to_string(),
                        });
                    }
                },
            }
            *left -= 1;
            if *left > 0 {
                return;
            }
            value = match self.stack.pop() {
                Some((Open::Array(items), _)) => Value::Array(items),
                Some((Open::Map(map, _), _)) => Value::Object(map),
                None => return,
            };
        }
    }

    fn open(&mut self, open: Open, items: usize) {
        if items == 0 {
            self.push(match open {
                Open::Array(_) => Value::Array(Vec::new()),
                Open::Map(..) => Value::Object(Map::new()),
            });
        } else {
            self.stack.push((open, items));
        }
    }
}

impl Sink for Tree {
    fn nil(&mut self) {
        self.push(Value::Null)
    }
    fn boolean(&mut self, v: bool) {
        self.push(Value::Bool(v))
    }
    fn int(&mut self, v: i64) {
        self.push(Value::from(v))
    }
    fn big_uint(&mut self, v: u64) {
        self.push(Value::from(v))
    }
    fn float(&mut self, v: f64) {
        self.push(Value::from(v))
    }
    fn bytes(&mut self, v: &[u8]) {
        match std::str::from_utf8(v) {
            Ok(s) => self.push(Value::String(s.to_string())),
            Err(_) => {
                self.not_utf8 = true;
                self.push(Value::Null)
            }
        }
    }
    fn array(&mut self, len: usize) {
        self.open(Open::Array(Vec::with_capacity(len.min(64))), len)
    }
    fn map(&mut self, pairs: usize) {
        self.open(Open::Map(Map::new(), None), pairs * 2)
    }
}

/// Decoding never panics, validation and emission agree, and an emitted reply
/// is structurally complete (every container gets exactly its children). The
/// JSON printer (`CALC.GETJSON`) writes valid JSON that parses back to the
/// value the decode describes, or refuses exactly the values JSON cannot
/// express; its text is never longer than `max_len` (a fixed multiple of the
/// stored size, plus the template's names), and counting it gives its length
/// exactly; each located entry (`CALC.GETVALUES`) decodes as in the whole.
pub fn decode(data: &[u8]) {
    let Some((&pick, value)) = data.split_first() else {
        return;
    };
    // The low bits pick the template, the top bit whether it requires a
    // fingerprint; a value may carry the template's own (the input's second
    // byte 0xd6, third 0x63, then any 4 bytes: swapped in for the real one).
    let definition = TEMPLATES[(pick & 0x7f) as usize % TEMPLATES.len()];
    let required = pick & 0x80 != 0;
    let template = Template::parse(definition.as_bytes()).expect("built-in template");
    let mut value = value.to_vec();
    if let [0xd6, 0x63, fingerprint @ ..] = value.as_mut_slice() {
        if fingerprint.len() >= 4 {
            fingerprint[..4].copy_from_slice(&template.fingerprint);
        }
    }
    let value = value.as_slice();
    let validated = decode_with_template(value, &template, b"fuzz", required, &mut Validate);
    let mut structure = Structure::default();
    let emitted = decode_with_template(value, &template, b"fuzz", required, &mut structure);
    assert_eq!(validated, emitted, "validation and emission disagree");
    if emitted.is_ok() {
        assert!(
            structure.owed.is_empty(),
            "reply left containers open: {:?}",
            structure.owed
        );
        // Every element costs at least one input byte (plus the template's names).
        assert!(
            structure.events <= 2 * value.len() + 64,
            "{} events from {} bytes",
            structure.events,
            value.len()
        );
    }

    let mut printer = JsonPrinter::new(Vec::new());
    let printed = decode_with_template(value, &template, b"fuzz", required, &mut printer);
    assert_eq!(printed, validated, "the JSON printer's decode disagrees");
    let mut counter = JsonPrinter::new(Count::default());
    let counted = decode_with_template(value, &template, b"fuzz", required, &mut counter);
    assert_eq!(
        counted, validated,
        "the counting printer's decode disagrees"
    );
    let located = locate_entries(value, &template, b"fuzz", required);
    assert_eq!(located.as_ref().err(), validated.as_ref().err());
    let (Ok(()), Ok(located)) = (validated, located) else {
        return;
    };
    let mut tree = Tree::default();
    decode_with_template(value, &template, b"fuzz", required, &mut tree).expect("validated");
    let reference = tree.done.expect("a complete value");
    let json = printer.finish(&template);
    assert_eq!(json.is_err(), tree.not_utf8, "UTF-8 verdicts differ");
    assert_eq!(
        counter.finish(&template).map(|count| count.0),
        json.as_ref().map(Vec::len).map_err(Clone::clone),
        "the count is not the printed length"
    );
    if let Ok(json) = json {
        assert!(
            json.len() <= max_len(value.len(), &template),
            "{} bytes printed from {} stored",
            json.len(),
            value.len()
        );
        let parsed: Value = serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&json)));
        if !tree.map_as_key {
            assert_eq!(parsed, reference, "{}", String::from_utf8_lossy(&json));
        }
    }
    for (i, entry) in template.entries.iter().enumerate() {
        let mut one = Tree::default();
        located.emit(&template, i, &mut one);
        assert_eq!(one.done.as_ref(), reference.get(&entry.name), "entry {i}");
    }
}

/// The JSON packer (`CALC.SETDICT`) never panics, and what it packs is
/// valid JSON, decodes under the template with its fingerprint required,
/// prints (`CALC.GETJSON`) as the same JSON value, and packs again from
/// that print to the very same bytes.
pub fn pack(data: &[u8]) {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let definition = TEMPLATES[pick as usize % TEMPLATES.len()];
    let template = Template::parse(definition.as_bytes()).expect("built-in template");
    let mut packed = Vec::new();
    if pack_json(json, &template, &mut packed).is_err() {
        return;
    }
    let input: Value = serde_json::from_slice(json).expect("packed input is JSON");
    let mut printer = JsonPrinter::new(Vec::new());
    decode_with_template(&packed, &template, b"fuzz", true, &mut printer)
        .expect("a packed value decodes");
    let printed = printer.finish(&template).expect("packed strings are UTF-8");
    let output: Value = serde_json::from_slice(&printed).expect("printed JSON parses");
    assert!(
        same_json(&input, &output),
        "{} printed as {}",
        String::from_utf8_lossy(json),
        String::from_utf8_lossy(&printed)
    );
    let mut again = Vec::new();
    pack_json(&printed, &template, &mut again).expect("printed JSON packs");
    assert_eq!(again, packed, "packing the print changed the bytes");
}

/// JSON values equal, numbers by kind (integer or float) and value: the
/// integer text `-0` is the integer 0.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.is_f64(), y.is_f64()) {
            (true, true) => x.as_f64() == y.as_f64(),
            (false, false) => x == y,
            // serde_json reads `-0` as the float -0.0.
            (true, false) => x.as_f64() == Some(0.0) && y.as_u64() == Some(0),
            (false, true) => same_json(b, a),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Parsing never panics; a parsed template's JSON parses back to an equal
/// template and prints the same.
pub fn template(data: &[u8]) {
    if let Ok(template) = Template::parse(data) {
        let json = template.to_json();
        let again = Template::parse(json.as_bytes()).expect("a template's own JSON parses");
        assert_eq!(again, template);
        assert_eq!(again.to_json(), json);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Replays `fuzz/seeds/<target>` and `fuzz/regressions/<target>`.
    fn replay(target: &str, check: fn(&[u8])) -> usize {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for kind in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "md") {
                    continue;
                }
                check(&std::fs::read(&path).unwrap());
                replayed += 1;
            }
        }
        replayed
    }

    #[test]
    fn fuzz_inputs_replay_cleanly() {
        assert!(replay("decode", super::decode) > 0);
        assert!(replay("template", super::template) > 0);
        assert!(replay("pack", super::pack) > 0);
    }
}
