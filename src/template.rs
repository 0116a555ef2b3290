//! Templates: the ordered field names a packed value is decoded against, the
//! server-wide registry that holds them, and their persistence as RDB aux data.
//!
//! A definition mirrors the design note's `payload_template`: a JSON array whose
//! entries are a field name, or `[name, sub-definition]` for a nested dict.

use std::collections::BTreeMap;
use std::ffi::c_int;
use std::os::raw::c_void;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use redis_module::logging::log_io_error;
use redis_module::logging::RedisLogLevel;
use redis_module::native_types::RedisType;
use redis_module::raw;
use serde_json::Value;

use crate::error::printable;

/// Deepest template nesting (`[name, sub]` levels). Deeper than any dict a cache
/// holds, and well inside serde_json's recursion limit of 128 brackets (each
/// level costs two) and the decoder's `MAX_DEPTH` of 64 for the stored value.
pub const MAX_TEMPLATE_DEPTH: usize = 32;

#[derive(Debug, PartialEq)]
pub struct Template {
    pub entries: Vec<Entry>,
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
        Template::from_json(&value, 1)
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
        Ok(Template { entries })
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

/// Server-wide name -> template map. Names are binary-safe; `BTreeMap` keeps
/// `LIST` sorted. Templates are shared as `Arc` so a command can decode without
/// holding the lock.
#[derive(Default)]
pub struct TemplateRegistry {
    templates: BTreeMap<Vec<u8>, Arc<Template>>,
}

impl TemplateRegistry {
    pub fn get(&self, name: &[u8]) -> Option<Arc<Template>> {
        self.templates.get(name).cloned()
    }

    pub fn set(&mut self, name: &[u8], template: Template) {
        self.templates.insert(name.to_vec(), Arc::new(template));
    }

    pub fn remove(&mut self, name: &[u8]) -> bool {
        self.templates.remove(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Arc<Template>)> {
        self.templates.iter()
    }
}

static REGISTRY: RwLock<TemplateRegistry> = RwLock::new(TemplateRegistry {
    templates: BTreeMap::new(),
});

// Commands run on Redis's main thread; the lock only guards against the
// (unexpected) case of a module thread touching the registry. A poisoned lock
// still holds a consistent map (every mutation is a single insert/remove).
pub fn registry() -> RwLockReadGuard<'static, TemplateRegistry> {
    REGISTRY.read().unwrap_or_else(|p| p.into_inner())
}

pub fn registry_mut() -> RwLockWriteGuard<'static, TemplateRegistry> {
    REGISTRY.write().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------
// RDB persistence. Templates are not keys, so they travel as module aux data,
// written before the keyspace. Layout (encoding version 1):
//   u64 count, then per template: string name, string JSON definition.
// The type's encoding version is passed back to `aux_load`, so a later layout
// can still read files written by this one.

pub const AUX_ENCODING_VERSION: i32 = 1;

pub static TEMPLATE_AUX_TYPE: RedisType = RedisType::new(
    "calc-tmpl",
    AUX_ENCODING_VERSION,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: None,
        rdb_save: None,
        aof_rewrite: None,
        mem_usage: None,
        digest: None,
        free: None,
        aux_load: Some(aux_load),
        aux_save: Some(aux_save),
        aux_save_triggers: raw::REDISMODULE_AUX_BEFORE_RDB as c_int,
        free_effort: None,
        unlink: None,
        copy: None,
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: None,
    },
);

unsafe fn save_bytes(rdb: *mut raw::RedisModuleIO, bytes: &[u8]) {
    raw::RedisModule_SaveStringBuffer.unwrap()(rdb, bytes.as_ptr().cast(), bytes.len());
}

/// Reads one string, copying it out of the Redis allocation. `None` on I/O error.
unsafe fn load_bytes(rdb: *mut raw::RedisModuleIO) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let ptr = raw::RedisModule_LoadStringBuffer.unwrap()(rdb, &mut len);
    if raw::RedisModule_IsIOError.unwrap()(rdb) != 0 || ptr.is_null() {
        return None;
    }
    let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len).to_vec();
    raw::RedisModule_Free.unwrap()(ptr.cast::<c_void>());
    Some(bytes)
}

extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, when: c_int) {
    if when != raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
        return;
    }
    let registry = registry();
    unsafe {
        raw::RedisModule_SaveUnsigned.unwrap()(rdb, registry.len() as u64);
        for (name, template) in registry.iter() {
            save_bytes(rdb, name);
            save_bytes(rdb, template.to_json().as_bytes());
        }
    }
}

extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, encver: c_int, when: c_int) -> c_int {
    if when != raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
        return raw::REDISMODULE_OK as c_int;
    }
    match std::panic::catch_unwind(|| unsafe { load_registry(rdb, encver) }) {
        Ok(Ok(loaded)) => {
            // Replace, never merge: the file is the state to restore.
            *registry_mut() = loaded;
            raw::REDISMODULE_OK as c_int
        }
        Ok(Err(reason)) => {
            log_io_error(
                rdb,
                RedisLogLevel::Warning,
                &format!("calc: cannot load templates from the RDB: {reason}"),
            );
            raw::REDISMODULE_ERR as c_int
        }
        Err(_) => {
            log_io_error(
                rdb,
                RedisLogLevel::Warning,
                "calc: cannot load templates from the RDB: internal error",
            );
            raw::REDISMODULE_ERR as c_int
        }
    }
}

/// Builds a complete registry or fails: a half-read file never replaces the
/// templates in memory.
unsafe fn load_registry(
    rdb: *mut raw::RedisModuleIO,
    encver: c_int,
) -> Result<TemplateRegistry, String> {
    if encver != AUX_ENCODING_VERSION {
        return Err(format!(
            "unknown encoding version {encver} (this module reads version {AUX_ENCODING_VERSION})"
        ));
    }
    let count = raw::RedisModule_LoadUnsigned.unwrap()(rdb);
    if raw::RedisModule_IsIOError.unwrap()(rdb) != 0 {
        return Err("truncated template count".to_string());
    }
    let mut loaded = TemplateRegistry::default();
    // No pre-sizing by `count`: it comes from the file.
    for i in 0..count {
        let name = load_bytes(rdb).ok_or_else(|| format!("truncated name of template #{i}"))?;
        let json =
            load_bytes(rdb).ok_or_else(|| format!("truncated definition of template #{i}"))?;
        let template =
            Template::parse(&json).map_err(|e| format!("template '{}': {e}", printable(&name)))?;
        loaded.set(&name, template);
    }
    Ok(loaded)
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

    #[test]
    fn registry_replaces_removes_and_lists_sorted() {
        let mut r = TemplateRegistry::default();
        r.set(b"zeta", Template::parse(br#"["a"]"#).unwrap());
        r.set(b"alpha", Template::parse(br#"["a"]"#).unwrap());
        r.set(b"zeta", Template::parse(br#"["b"]"#).unwrap());
        assert_eq!(r.len(), 2);
        assert_eq!(r.get(b"zeta").unwrap().entries[0].name, "b");
        let listed: Vec<&[u8]> = r.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(listed, [b"alpha".as_slice(), b"zeta".as_slice()]);
        assert!(r.remove(b"alpha"));
        assert!(!r.remove(b"alpha"));
    }
}
