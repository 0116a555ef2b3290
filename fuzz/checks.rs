//! The properties the fuzz targets check, shared with the regression test that
//! replays every input that ever found a bug (`fuzz/regressions/`) and the seed
//! inputs (`fuzz/seeds/`) in `make test`. Included by path: as the library's
//! `fuzz_checks` module (its unit tests) and by each fuzz target, both of
//! which have `msgpack` and `template` beside it.

use super::msgpack::{decode_with_template, Sink, Validate};
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

/// Decoding never panics, validation and emission agree, and an emitted reply
/// is structurally complete (every container gets exactly its children).
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
    }
}
