//! The server-wide registry of templates, modelled on Redis Functions: not
//! keys, so FLUSHALL leaves it; persisted as RDB aux data (`persistence`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::msgpack::{decode_with_template, DecodeError, Sink};
use crate::template::Template;

/// How GETDICT/MGETDICT read a value that does not decode against the
/// template (wrong shape, malformed msgpack, an extension type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMismatch {
    /// Answer the decode error (the default).
    #[default]
    Error,
    /// Answer nil, as for a missing field: a cache treats the value as a miss.
    Nil,
}

impl OnMismatch {
    pub fn parse(word: &[u8]) -> Option<OnMismatch> {
        if word.eq_ignore_ascii_case(b"ERROR") {
            Some(OnMismatch::Error)
        } else if word.eq_ignore_ascii_case(b"NIL") {
            Some(OnMismatch::Nil)
        } else {
            None
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            OnMismatch::Error => "ERROR",
            OnMismatch::Nil => "NIL",
        }
    }
}

/// How a template is read, besides its definition: set with its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    pub on_mismatch: OnMismatch,
    /// `FINGERPRINT REQUIRED`: a value without the template's fingerprint is a
    /// mismatch too (for writers, like the dogpile backend, that always mark).
    pub fingerprint_required: bool,
}

/// A template as registered: its definition and its policy.
#[derive(Debug, PartialEq)]
pub struct Registered {
    pub template: Template,
    pub policy: Policy,
}

impl Registered {
    /// Decodes `stored` against this template, under its fingerprint rule.
    pub fn decode<S: Sink>(
        &self,
        stored: &[u8],
        name: &[u8],
        sink: &mut S,
    ) -> Result<(), DecodeError> {
        let required = self.policy.fingerprint_required;
        decode_with_template(stored, &self.template, name, required, sink)
    }
}

/// Server-wide name -> template map. Names are binary-safe; `BTreeMap` keeps
/// `LIST` sorted. Templates are shared as `Arc` so a command can decode without
/// holding the lock.
#[derive(Default)]
pub struct TemplateRegistry {
    templates: BTreeMap<Vec<u8>, Arc<Registered>>,
}

impl TemplateRegistry {
    pub fn get(&self, name: &[u8]) -> Option<Arc<Registered>> {
        self.templates.get(name).cloned()
    }

    pub fn set(&mut self, name: &[u8], template: Template, policy: Policy) {
        let registered = Registered { template, policy };
        self.templates.insert(name.to_vec(), Arc::new(registered));
    }

    pub fn remove(&mut self, name: &[u8]) -> bool {
        self.templates.remove(name).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Arc<Registered>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_replaces_removes_and_lists_sorted() {
        let mut r = TemplateRegistry::default();
        let nil = Policy {
            on_mismatch: OnMismatch::Nil,
            fingerprint_required: true,
        };
        r.set(
            b"zeta",
            Template::parse(br#"["a"]"#).unwrap(),
            Policy::default(),
        );
        r.set(
            b"alpha",
            Template::parse(br#"["a"]"#).unwrap(),
            Policy::default(),
        );
        r.set(b"zeta", Template::parse(br#"["b"]"#).unwrap(), nil);
        assert_eq!(r.len(), 2);
        let zeta = r.get(b"zeta").unwrap();
        assert_eq!(zeta.template.entries[0].name, "b");
        assert_eq!(zeta.policy, nil);
        let listed: Vec<&[u8]> = r.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(listed, [b"alpha".as_slice(), b"zeta".as_slice()]);
        assert!(r.remove(b"alpha"));
        assert!(!r.remove(b"alpha"));
    }

    #[test]
    fn policy_words_parse_case_insensitively_and_round_trip() {
        for policy in [OnMismatch::Error, OnMismatch::Nil] {
            assert_eq!(OnMismatch::parse(policy.word().as_bytes()), Some(policy));
        }
        assert_eq!(OnMismatch::parse(b"nil"), Some(OnMismatch::Nil));
        assert_eq!(OnMismatch::parse(b"IGNORE"), None);
    }
}
