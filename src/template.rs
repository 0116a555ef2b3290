//! A template: the ordered field names a packed value is decoded against.
//!
//! A definition mirrors the design note's `payload_template`: a JSON array whose
//! entries are a field name, or `[name, sub-definition]` for a nested dict.

use std::collections::HashSet;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::limits;
use crate::printable::{json_error, printable};

/// The limits a definition is parsed within: by default the current values
/// of the module configs (`crate::limits`: `calc.template-max-bytes`,
/// `calc.template-max-names`, `calc.template-max-depth`), read at each parse,
/// by `CALC.TEMPLATE SET` and by the RDB loader alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest definition, in bytes, checked before it is parsed.
    pub bytes: usize,
    /// Most names, every level counted (a nested entry's own name too), so
    /// also the most in one level; counted while the definition is walked.
    pub names: usize,
    /// Deepest nesting (`[name, sub]` levels).
    pub depth: usize,
}

impl Limits {
    pub fn current() -> Limits {
        Limits {
            bytes: limits::TEMPLATE_MAX_BYTES.get(),
            names: limits::TEMPLATE_MAX_NAMES.get(),
            depth: limits::TEMPLATE_MAX_DEPTH.get(),
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct Template {
    pub entries: Vec<Entry>,
    /// The first 4 bytes of the SHA-256 of the compact JSON definition (as
    /// `to_json` writes it). A value written under this definition may carry it
    /// (see `msgpack`), so it is never decoded under another definition.
    pub fingerprint: [u8; 4],
    /// The positions of `entries`, sorted by name: lookups by name from
    /// input (a JSON object's names, GETVALUES's arguments) in O(log n).
    by_name: Vec<usize>,
    /// What the JSON printer writes for this level and its sub-templates
    /// besides the values, at most: braces, names, colons, commas.
    pub json_names_len: usize,
}

#[derive(Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    /// The name as a JSON object key (quoted, escaped, and its colon), made
    /// once for the JSON printer.
    pub json_key: String,
    /// `Some` when the value at this position is itself a packed dict.
    pub sub: Option<Template>,
}

impl Entry {
    fn new(name: &str, sub: Option<Template>) -> Entry {
        Entry {
            name: name.to_string(),
            json_key: format!("{}:", Value::from(name)),
            sub,
        }
    }
}

impl Template {
    /// Parses and validates a JSON definition, in time linear in its size.
    /// Rejects a definition over the current `Limits` (its bytes before
    /// reading it, its names, its nesting), empty arrays, duplicate names within one level and
    /// non-string names.
    pub fn parse(definition: &[u8]) -> Result<Template, String> {
        Template::parse_within(definition, Limits::current())
    }

    /// `parse` within the given limits.
    pub fn parse_within(definition: &[u8], limits: Limits) -> Result<Template, String> {
        if definition.len() > limits.bytes {
            return Err(format!(
                "{} bytes, over the limit of {} bytes for a definition (calc.template-max-bytes)",
                definition.len(),
                limits.bytes
            ));
        }
        // serde_json has its own recursion limit (128 brackets), so hostile
        // nesting is an error here, never a stack overflow. Reaching it means
        // more than 64 levels, deeper than any depth limit allows.
        let value: Value = serde_json::from_slice(definition).map_err(|e| {
            let message = e.to_string();
            match message.starts_with("recursion limit exceeded") {
                true => too_deep(limits.depth),
                false => format!("not valid JSON ({})", json_error(definition, &message)),
            }
        })?;
        let mut names = 0;
        let mut template = Template::from_json(&value, 1, &mut names, &limits)?;
        let digest = Sha256::digest(template.to_json().as_bytes());
        template.fingerprint.copy_from_slice(&digest[..4]);
        Ok(template)
    }

    pub fn fingerprint_hex(&self) -> String {
        self.fingerprint
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// One level; `names` counts the names of every level walked so far.
    fn from_json(
        value: &Value,
        depth: usize,
        names: &mut usize,
        limits: &Limits,
    ) -> Result<Template, String> {
        if depth > limits.depth {
            return Err(too_deep(limits.depth));
        }
        let items = value
            .as_array()
            .ok_or_else(|| format!("expected an array of names, got {}", kind(value)))?;
        if items.is_empty() {
            return Err("empty array".to_string());
        }
        // Counted for the whole level before any of it is read.
        *names += items.len();
        if *names > limits.names {
            return Err(format!(
                "more than {} names, the limit for one template, all levels together (calc.template-max-names)",
                limits.names
            ));
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
        let mut seen: HashSet<&String> = HashSet::with_capacity(items.len());
        for item in items {
            let (name, sub) = match item {
                Value::String(name) => (name, None),
                Value::Array(pair) => match pair.as_slice() {
                    [Value::String(name), sub] => (name, Some(sub)),
                    [other, _] => {
                        return Err(format!("a name must be a string, got {}", kind(other)))
                    }
                    _ => {
                        return Err(
                            "a nested entry must be a two-element array [name, definition]"
                                .to_string(),
                        )
                    }
                },
                other => return Err(format!("a name must be a string, got {}", kind(other))),
            };
            if !seen.insert(name) {
                return Err(format!("duplicate name '{}'", printable(name.as_bytes())));
            }
            let sub = match sub {
                Some(sub) => Some(Template::from_json(sub, depth + 1, names, limits)?),
                None => None,
            };
            entries.push(Entry::new(name, sub));
        }
        let mut by_name: Vec<usize> = (0..entries.len()).collect();
        by_name.sort_unstable_by(|&a, &b| entries[a].name.cmp(&entries[b].name));
        let json_names_len = entries.iter().fold(2, |len: usize, e| {
            let sub = e.sub.as_ref().map_or(0, |sub| sub.json_names_len);
            len.saturating_add(e.json_key.len() + 1).saturating_add(sub)
        });
        Ok(Template {
            entries,
            fingerprint: [0; 4],
            by_name,
            json_names_len,
        })
    }

    /// The position of the entry called `name`, trying `hint` first: names
    /// usually come in template order.
    #[inline]
    pub fn position(&self, name: &[u8], hint: usize) -> Option<usize> {
        if self.entries.get(hint).is_some_and(|e| same(&e.name, name)) {
            return Some(hint);
        }
        self.search(name)
    }

    fn search(&self, name: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        let found = self
            .by_name
            .binary_search_by(|&i| {
                entries
                    .get(i)
                    .map_or(std::cmp::Ordering::Less, |e| e.name.as_bytes().cmp(name))
            })
            .ok()?;
        self.by_name.get(found).copied()
    }

    pub fn to_json_value(&self) -> Value {
        Value::Array(
            self.entries
                .iter()
                .map(|e| match &e.sub {
                    None => Value::String(e.name.clone()),
                    Some(sub) => {
                        Value::Array(vec![Value::String(e.name.clone()), sub.to_json_value()])
                    }
                })
                .collect(),
        )
    }

    /// Compact JSON that parses back to an equal template.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }
}

/// `name == other`, looking at the last byte first: names of one template
/// often share a prefix (`perm_00`, `perm_01`, ...) and a length.
#[inline]
fn same(name: &str, other: &[u8]) -> bool {
    let name = name.as_bytes();
    name.len() == other.len() && name.last() == other.last() && name == other
}

fn too_deep(limit: usize) -> String {
    format!("nested deeper than {limit} levels (calc.template-max-depth)")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The defaults of the limits (unit tests never change them).
    const MAX_DEFINITION_BYTES: usize = 1 << 20;
    const MAX_TEMPLATE_NAMES: usize = 65_536;
    const MAX_TEMPLATE_DEPTH: usize = 32;

    #[test]
    fn limits_are_the_configured_ones() {
        let defaults = Limits {
            bytes: MAX_DEFINITION_BYTES,
            names: MAX_TEMPLATE_NAMES,
            depth: MAX_TEMPLATE_DEPTH,
        };
        assert_eq!(Limits::current(), defaults);
        let def = br#"["a",["m",["x","y"]]]"#;
        let within = |bytes, names, depth| {
            Template::parse_within(
                def,
                Limits {
                    bytes,
                    names,
                    depth,
                },
            )
            .map(|t| t.to_json())
        };
        assert!(within(def.len(), 4, 2).is_ok());
        assert_eq!(
            within(def.len() - 1, 4, 2).unwrap_err(),
            "21 bytes, over the limit of 20 bytes for a definition (calc.template-max-bytes)"
        );
        assert_eq!(
            within(100, 3, 2).unwrap_err(),
            "more than 3 names, the limit for one template, all levels together (calc.template-max-names)"
        );
        assert_eq!(
            within(100, 4, 1).unwrap_err(),
            "nested deeper than 1 levels (calc.template-max-depth)"
        );
        // Raised: a definition over a default registers.
        let deep = nest(40);
        assert!(Template::parse(deep.as_bytes()).is_err());
        let raised = Limits {
            depth: 64,
            ..defaults
        };
        assert!(Template::parse_within(deep.as_bytes(), raised).is_ok());
        assert!(Template::parse_within(nest(64).as_bytes(), raised).is_ok());
    }

    #[test]
    fn too_deep_names_the_depth_limit_even_past_the_json_parser_s() {
        for levels in [33, 64, 65, 100, 10_000] {
            assert_eq!(
                Template::parse(nest(levels).as_bytes()).unwrap_err(),
                "nested deeper than 32 levels (calc.template-max-depth)",
                "{levels}"
            );
        }
    }

    #[test]
    fn a_lone_trailing_surrogate_is_named_so() {
        assert_eq!(
            Template::parse(br#"["\udc00"]"#).unwrap_err(),
            "not valid JSON (lone trailing surrogate in hex escape at line 1 column 8)"
        );
        assert_eq!(
            Template::parse(b"[\n \"a\",\n \"b\\uDFFF\"]").unwrap_err(),
            "not valid JSON (lone trailing surrogate in hex escape at line 3 column 9)"
        );
        // A leading one without its pair is a lone leading surrogate.
        assert_eq!(
            Template::parse(br#"["\ud800\u0041"]"#).unwrap_err(),
            "not valid JSON (lone leading surrogate in hex escape at line 1 column 14)"
        );
        assert!(Template::parse(br#"["\ud800\udc00"]"#).is_ok());
    }

    /// A definition nested `levels` deep.
    fn nest(levels: usize) -> String {
        let mut def = String::from("[\"leaf\"]");
        for _ in 1..levels {
            def = format!("[[\"n\",{def}]]");
        }
        def
    }

    fn names(t: &Template) -> Vec<&str> {
        t.entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn parses_flat_and_nested_definitions_in_order() {
        let t = Template::parse(br#"["a","bb","ccc",["meta",["x","y"]]]"#).unwrap();
        assert_eq!(names(&t), ["a", "bb", "ccc", "meta"]);
        let meta = t.entries[3].sub.as_ref().unwrap();
        assert_eq!(names(meta), ["x", "y"]);
        let t = Template::parse(r#"["plain","q\"b\\\u0001é"]"#.as_bytes()).unwrap();
        assert_eq!(t.entries[0].json_key, r#""plain":"#);
        assert_eq!(t.entries[1].json_key, r#""q\"b\\\u0001é":"#);
        assert!(t.entries[0].sub.is_none());
    }

    #[test]
    fn json_round_trips_compactly() {
        let src = r#"[ "a", ["meta", ["x", ["deep", ["z"]]]], "b" ]"#;
        let t = Template::parse(src.as_bytes()).unwrap();
        let json = t.to_json();
        assert_eq!(json, r#"["a",["meta",["x",["deep",["z"]]]],"b"]"#);
        assert_eq!(Template::parse(json.as_bytes()).unwrap(), t);
    }

    #[test]
    fn rejects_invalid_definitions() {
        let bad: &[&[u8]] = &[
            b"[]",
            b"[\"a\",\"a\"]",
            b"[1]",
            b"[\"a\",[\"m\",[]]]",
            b"[[\"m\"]]",
            b"[[\"m\",[\"x\"],\"extra\"]]",
            b"[[1,[\"x\"]]]",
            b"{\"a\":1}",
            b"\"a\"",
            b"[\"a\"",
            b"",
            b"\xff\xfe",
        ];
        for def in bad {
            assert!(
                Template::parse(def).is_err(),
                "{:?}",
                String::from_utf8_lossy(def)
            );
        }
    }

    #[test]
    fn the_fingerprint_changes_with_any_change_of_names_or_order() {
        let fp = |def: &str| Template::parse(def.as_bytes()).unwrap().fingerprint;
        let base = fp(r#"["a","bb","ccc"]"#);
        // Same definition, other spacing: same canonical JSON, same fingerprint.
        assert_eq!(base, fp(r#"[ "a", "bb", "ccc" ]"#));
        for other in [
            r#"["bb","a","ccc"]"#,
            r#"["a","bb","cc"]"#,
            r#"["a","bb","ddd"]"#,
            r#"["a","bb",["ccc",["x"]]]"#,
        ] {
            assert_ne!(base, fp(other), "{other}");
        }
        // SHA-256 of `["a","bb","ccc"]`, as the Python backend computes it.
        assert_eq!(
            Template::parse(br#"["a","bb","ccc"]"#)
                .unwrap()
                .fingerprint_hex(),
            "bac51ee3"
        );
    }

    #[test]
    fn positions_by_name_small_and_large() {
        for size in [1, 3, 25, 500] {
            let names: Vec<String> = (0..size)
                .map(|i| format!("n{}", (i * 7919) % 100_003))
                .collect();
            let t = Template::parse(serde_json::to_string(&names).unwrap().as_bytes()).unwrap();
            for (i, name) in names.iter().enumerate().rev() {
                assert_eq!(t.position(name.as_bytes(), 0), Some(i), "{size}: {name}");
                assert_eq!(t.position(name.as_bytes(), i), Some(i));
            }
            assert_eq!(t.position(b"absent", 0), None);
            assert_eq!(t.position(b"", 0), None);
            assert_eq!(t.position(b"n0", usize::MAX), Some(0));
        }
    }

    #[test]
    fn duplicate_names_are_allowed_across_levels() {
        assert!(Template::parse(br#"["a",["m",["a"]]]"#).is_ok());
    }

    /// A flat definition of `n` distinct names.
    fn flat(n: usize) -> String {
        let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        serde_json::to_string(&names).unwrap()
    }

    #[test]
    fn the_definition_bytes_limit_is_checked_before_parsing() {
        // Whitespace pads a valid definition to exactly the limit: accepted.
        let mut def = br#"["a"]"#.to_vec();
        def.resize(MAX_DEFINITION_BYTES, b' ');
        assert!(Template::parse(&def).is_ok());
        def.push(b' ');
        let err = Template::parse(&def).unwrap_err();
        assert!(
            err.contains("1048577 bytes") && err.contains("1048576"),
            "{err}"
        );
        // Not valid JSON at all, yet refused for its size: never parsed.
        let err = Template::parse(&vec![b'['; 2 << 20]).unwrap_err();
        assert!(err.contains("over the limit of 1048576 bytes"), "{err}");
    }

    #[test]
    fn the_names_limit_counts_every_level() {
        let at_limit = Template::parse(flat(MAX_TEMPLATE_NAMES).as_bytes()).unwrap();
        assert_eq!(at_limit.entries.len(), MAX_TEMPLATE_NAMES);
        let err = Template::parse(flat(MAX_TEMPLATE_NAMES + 1).as_bytes()).unwrap_err();
        assert!(err.contains("more than 65536 names"), "{err}");
        // Levels under the limit each, over it together; a nested entry's own
        // name counts too.
        let nested = |top: usize, sub: usize| {
            let mut def = flat(top);
            def.pop();
            format!("{def},[\"m\",{}]]", flat(sub))
        };
        let limit = MAX_TEMPLATE_NAMES;
        assert!(Template::parse(nested(limit / 2, limit / 2 - 1).as_bytes()).is_ok());
        let err = Template::parse(nested(limit / 2, limit / 2).as_bytes()).unwrap_err();
        assert!(err.contains("more than 65536 names"), "{err}");
    }

    #[test]
    fn the_names_limit_bounds_one_level_before_it_is_read() {
        // A level over the limit is refused before its first entry is looked
        // at: the duplicate and the non-string would otherwise be reported.
        let mut def = flat(MAX_TEMPLATE_NAMES + 1);
        def.pop();
        def.push_str(",\"n0\",1]");
        let err = Template::parse(def.as_bytes()).unwrap_err();
        assert!(err.contains("more than 65536 names"), "{err}");
    }

    #[test]
    fn a_duplicate_is_found_anywhere_in_a_large_level() {
        let mut def = flat(60_000);
        def.pop();
        def.push_str(",\"n0\"]");
        let err = Template::parse(def.as_bytes()).unwrap_err();
        assert_eq!(err, "duplicate name 'n0'");
    }

    #[test]
    fn nesting_limit_is_enforced_without_overflowing_the_stack() {
        assert!(Template::parse(nest(MAX_TEMPLATE_DEPTH).as_bytes()).is_ok());
        let err = Template::parse(nest(MAX_TEMPLATE_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(err.contains("deeper"), "{err}");
        // Far past serde_json's own recursion limit: an error, not a crash.
        let hostile = "[".repeat(1_000_000);
        assert!(Template::parse(hostile.as_bytes()).is_err());
    }
}
