//! A template: the ordered field names a packed value is decoded against.
//!
//! A definition mirrors the design note's `payload_template`: a JSON array whose
//! entries are a field name, or `[name, sub-definition]` for a nested dict.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::printable::printable;

/// Deepest template nesting (`[name, sub]` levels). Deeper than any dict a cache
/// holds, and well inside serde_json's recursion limit of 128 brackets (each
/// level costs two) and the decoder's `MAX_DEPTH` of 64 for the stored value.
pub const MAX_TEMPLATE_DEPTH: usize = 32;

#[derive(Debug, PartialEq)]
pub struct Template {
    pub entries: Vec<Entry>,
    /// The first 4 bytes of the SHA-256 of the compact JSON definition (as
    /// `to_json` writes it). A value written under this definition may carry it
    /// (see `msgpack`), so it is never decoded under another definition.
    pub fingerprint: [u8; 4],
}

#[derive(Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    /// `Some` when the value at this position is itself a packed dict.
    pub sub: Option<Template>,
}

impl Template {
    /// Parses and validates a JSON definition. Rejects empty arrays, duplicate
    /// names within one level, non-string names and nesting deeper than
    /// `MAX_TEMPLATE_DEPTH`.
    pub fn parse(definition: &[u8]) -> Result<Template, String> {
        // serde_json has its own recursion limit (128), so hostile nesting is an
        // error here, never a stack overflow.
        let value: Value =
            serde_json::from_slice(definition).map_err(|e| format!("not valid JSON ({e})"))?;
        let mut template = Template::from_json(&value, 1)?;
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

    fn from_json(value: &Value, depth: usize) -> Result<Template, String> {
        if depth > MAX_TEMPLATE_DEPTH {
            return Err(format!("nested deeper than {MAX_TEMPLATE_DEPTH} levels"));
        }
        let items = value
            .as_array()
            .ok_or_else(|| format!("expected an array of names, got {}", kind(value)))?;
        if items.is_empty() {
            return Err("empty array".to_string());
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
        for item in items {
            let entry = match item {
                Value::String(name) => Entry {
                    name: name.clone(),
                    sub: None,
                },
                Value::Array(pair) => match pair.as_slice() {
                    [Value::String(name), sub] => Entry {
                        name: name.clone(),
                        sub: Some(Template::from_json(sub, depth + 1)?),
                    },
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
            if entries.iter().any(|e| e.name == entry.name) {
                return Err(format!(
                    "duplicate name '{}'",
                    printable(entry.name.as_bytes())
                ));
            }
            entries.push(entry);
        }
        Ok(Template {
            entries,
            fingerprint: [0; 4],
        })
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

    fn names(t: &Template) -> Vec<&str> {
        t.entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn parses_flat_and_nested_definitions_in_order() {
        let t = Template::parse(br#"["a","bb","ccc",["meta",["x","y"]]]"#).unwrap();
        assert_eq!(names(&t), ["a", "bb", "ccc", "meta"]);
        let meta = t.entries[3].sub.as_ref().unwrap();
        assert_eq!(names(meta), ["x", "y"]);
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
    fn duplicate_names_are_allowed_across_levels() {
        assert!(Template::parse(br#"["a",["m",["a"]]]"#).is_ok());
    }

    #[test]
    fn nesting_limit_is_enforced_without_overflowing_the_stack() {
        let nest = |levels: usize| {
            let mut def = String::from("[\"leaf\"]");
            for _ in 1..levels {
                def = format!("[[\"n\",{def}]]");
            }
            def
        };
        assert!(Template::parse(nest(MAX_TEMPLATE_DEPTH).as_bytes()).is_ok());
        let err = Template::parse(nest(MAX_TEMPLATE_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(err.contains("deeper"), "{err}");
        // Far past serde_json's own recursion limit: an error, not a crash.
        let hostile = "[".repeat(1_000_000);
        assert!(Template::parse(hostile.as_bytes()).is_err());
    }
}
