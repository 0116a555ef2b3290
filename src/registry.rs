//! The server-wide registry of templates, modelled on Redis Functions: not
//! keys, so FLUSHALL leaves it; persisted as RDB aux data (`persistence`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::msgpack::{decode_with_template, locate_entries, DecodeError, Located, Sink};
use crate::printable::printable;
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

impl Policy {
    /// `[ONMISMATCH ERROR|NIL] [FINGERPRINT REQUIRED|OPTIONAL]`, in any order,
    /// words in any case; a later option overrides an earlier one. The error
    /// says what is wrong (`CALC.TEMPLATE.SET` answers it as a syntax error).
    pub fn parse_options<T: AsRef<[u8]>>(options: &[T]) -> Result<Policy, String> {
        let mut policy = Policy::default();
        let mut rest = options;
        while let [option, value, tail @ ..] = rest {
            let (option, value) = (option.as_ref(), value.as_ref());
            if option.eq_ignore_ascii_case(b"ONMISMATCH") {
                policy.on_mismatch = OnMismatch::parse(value).ok_or_else(|| {
                    format!("ONMISMATCH takes ERROR or NIL, got '{}'", printable(value))
                })?;
            } else if option.eq_ignore_ascii_case(b"FINGERPRINT") {
                policy.fingerprint_required = if value.eq_ignore_ascii_case(b"REQUIRED") {
                    true
                } else if value.eq_ignore_ascii_case(b"OPTIONAL") {
                    false
                } else {
                    return Err(format!(
                        "FINGERPRINT takes REQUIRED or OPTIONAL, got '{}'",
                        printable(value)
                    ));
                };
            } else {
                return Err(format!("unknown option '{}'", printable(option)));
            }
            rest = tail;
        }
        match rest {
            [] => Ok(policy),
            [option, ..] => Err(format!(
                "option '{}' needs a value",
                printable(option.as_ref())
            )),
        }
    }
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

    /// Validates `stored` as `decode` does and locates its top-level entries.
    pub fn locate<'a>(&self, stored: &'a [u8], name: &[u8]) -> Result<Located<'a>, DecodeError> {
        let required = self.policy.fingerprint_required;
        locate_entries(stored, &self.template, name, required)
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
    fn options_parse_in_any_order_and_case() {
        let parse = |words: &[&str]| Policy::parse_options(words);
        assert_eq!(parse(&[]), Ok(Policy::default()));
        let both = Policy {
            on_mismatch: OnMismatch::Nil,
            fingerprint_required: true,
        };
        assert_eq!(
            parse(&["ONMISMATCH", "NIL", "FINGERPRINT", "REQUIRED"]),
            Ok(both)
        );
        assert_eq!(
            parse(&["fingerprint", "required", "onmismatch", "nil"]),
            Ok(both)
        );
        assert_eq!(
            parse(&["ONMISMATCH", "NIL", "ONMISMATCH", "ERROR"]),
            Ok(Policy::default())
        );
        assert_eq!(parse(&["FINGERPRINT", "OPTIONAL"]), Ok(Policy::default()));
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        let err = |words: &[&str]| Policy::parse_options(words).unwrap_err();
        assert_eq!(
            err(&["ONMISMATCH", "IGNORE"]),
            "ONMISMATCH takes ERROR or NIL, got 'IGNORE'"
        );
        assert_eq!(
            err(&["FINGERPRINT", "yes"]),
            "FINGERPRINT takes REQUIRED or OPTIONAL, got 'yes'"
        );
        assert_eq!(err(&["TTL", "5"]), "unknown option 'TTL'");
        assert_eq!(err(&["ONMISMATCH"]), "option 'ONMISMATCH' needs a value");
        assert_eq!(
            err(&["ONMISMATCH", "NIL", "FINGERPRINT"]),
            "option 'FINGERPRINT' needs a value"
        );
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
