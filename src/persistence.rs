//! The template registry in the RDB, as module aux data written before the
//! keyspace (templates are not keys). The redis layer (`redis::aux`) does the
//! I/O; this file is the layout, one version after another:
//!
//! - version 1: u64 count, then per template: name, JSON definition.
//! - version 2: as 1, plus per template a u64 of policy bits: bit 0 set for
//!   `ONMISMATCH NIL`, bit 1 for `FINGERPRINT REQUIRED`.
//!
//! Files written in an older version still load (the default policy, as then).
//!
//! An AOF rewritten without the RDB preamble has no aux data: there the
//! registry is recorded as `CALC.TEMPLATE SET` commands (`as_set_commands`)
//! right after the rewritten base.

use crate::printable::printable;
use crate::registry::{OnMismatch, Policy, TemplateRegistry};
use crate::template::Template;

const NIL_BIT: u64 = 1;
const FINGERPRINT_BIT: u64 = 2;

pub const ENCODING_VERSION: i32 = 2;

pub trait AuxWriter {
    fn save_unsigned(&mut self, value: u64);
    fn save_bytes(&mut self, value: &[u8]);
}

/// Each read is `None` when the file is cut short or unreadable.
pub trait AuxReader {
    fn load_unsigned(&mut self) -> Option<u64>;
    fn load_bytes(&mut self) -> Option<Vec<u8>>;
}

pub fn save(out: &mut impl AuxWriter, registry: &TemplateRegistry) {
    out.save_unsigned(registry.len() as u64);
    for (name, registered) in registry.iter() {
        out.save_bytes(name);
        out.save_bytes(registered.template.to_json().as_bytes());
        let policy = registered.policy;
        let nil = (policy.on_mismatch == OnMismatch::Nil) as u64 * NIL_BIT;
        let fingerprint = policy.fingerprint_required as u64 * FINGERPRINT_BIT;
        out.save_unsigned(nil | fingerprint);
    }
}

/// The registry as the arguments of one `CALC.TEMPLATE SET` per template
/// (after the command name), the policy spelled out, so that running them on
/// an empty registry rebuilds this one.
pub fn as_set_commands(registry: &TemplateRegistry) -> Vec<[Vec<u8>; 7]> {
    registry
        .iter()
        .map(|(name, registered)| {
            let policy = registered.policy;
            let fingerprint: &[u8] = if policy.fingerprint_required {
                b"REQUIRED"
            } else {
                b"OPTIONAL"
            };
            [
                b"SET".to_vec(),
                name.clone(),
                registered.template.to_json().into_bytes(),
                b"ONMISMATCH".to_vec(),
                policy.on_mismatch.word().as_bytes().to_vec(),
                b"FINGERPRINT".to_vec(),
                fingerprint.to_vec(),
            ]
        })
        .collect()
}

/// Builds a complete registry or fails: a half-read file never replaces the
/// templates in memory.
pub fn load(input: &mut impl AuxReader, version: i32) -> Result<TemplateRegistry, String> {
    if !(1..=ENCODING_VERSION).contains(&version) {
        return Err(format!(
            "unknown encoding version {version} (this module reads versions 1 to {ENCODING_VERSION})"
        ));
    }
    let count = input
        .load_unsigned()
        .ok_or_else(|| "truncated template count".to_string())?;
    let mut loaded = TemplateRegistry::default();
    // No pre-sizing by `count`: it comes from the file.
    for i in 0..count {
        let name = input
            .load_bytes()
            .ok_or_else(|| format!("truncated name of template #{i}"))?;
        let json = input
            .load_bytes()
            .ok_or_else(|| format!("truncated definition of template #{i}"))?;
        let template =
            Template::parse(&json).map_err(|e| format!("template '{}': {e}", printable(&name)))?;
        let policy = if version >= 2 {
            let bits = input
                .load_unsigned()
                .ok_or_else(|| format!("truncated policy of template #{i}"))?;
            if bits & !(NIL_BIT | FINGERPRINT_BIT) != 0 {
                return Err(format!(
                    "template '{}': unknown policy bits {bits:#x}",
                    printable(&name)
                ));
            }
            Policy {
                on_mismatch: if bits & NIL_BIT != 0 {
                    OnMismatch::Nil
                } else {
                    OnMismatch::Error
                },
                fingerprint_required: bits & FINGERPRINT_BIT != 0,
            }
        } else {
            Policy::default()
        };
        loaded.set(&name, template, policy);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    enum Item {
        Unsigned(u64),
        Bytes(Vec<u8>),
    }

    #[derive(Default)]
    struct Tape(VecDeque<Item>);

    impl AuxWriter for Tape {
        fn save_unsigned(&mut self, value: u64) {
            self.0.push_back(Item::Unsigned(value));
        }
        fn save_bytes(&mut self, value: &[u8]) {
            self.0.push_back(Item::Bytes(value.to_vec()));
        }
    }

    impl AuxReader for Tape {
        fn load_unsigned(&mut self) -> Option<u64> {
            match self.0.pop_front()? {
                Item::Unsigned(v) => Some(v),
                Item::Bytes(_) => None,
            }
        }
        fn load_bytes(&mut self) -> Option<Vec<u8>> {
            match self.0.pop_front()? {
                Item::Bytes(v) => Some(v),
                Item::Unsigned(_) => None,
            }
        }
    }

    fn sample() -> TemplateRegistry {
        let mut r = TemplateRegistry::default();
        let nil = Policy {
            on_mismatch: OnMismatch::Nil,
            fingerprint_required: true,
        };
        r.set(
            b"perms",
            Template::parse(br#"["a",["m",["x"]]]"#).unwrap(),
            nil,
        );
        r.set(
            b"plain",
            Template::parse(br#"["b"]"#).unwrap(),
            Policy::default(),
        );
        r
    }

    #[test]
    fn the_current_version_round_trips_definitions_and_policies() {
        let mut tape = Tape::default();
        save(&mut tape, &sample());
        let loaded = load(&mut tape, ENCODING_VERSION).unwrap();
        assert_eq!(loaded.get(b"perms"), sample().get(b"perms"));
        assert_eq!(loaded.get(b"plain"), sample().get(b"plain"));
        assert_eq!(loaded.len(), 2);
    }

    #[test]
    fn the_set_commands_rebuild_the_registry() {
        let mut rebuilt = TemplateRegistry::default();
        for [set, name, definition, options @ ..] in as_set_commands(&sample()) {
            assert_eq!(set, b"SET");
            let policy = Policy::parse_options(&options).unwrap();
            rebuilt.set(&name, Template::parse(&definition).unwrap(), policy);
        }
        assert_eq!(rebuilt.len(), 2);
        assert_eq!(rebuilt.get(b"perms"), sample().get(b"perms"));
        assert_eq!(rebuilt.get(b"plain"), sample().get(b"plain"));
    }

    #[test]
    fn version_one_files_load_with_the_error_policy() {
        let mut tape = Tape::default();
        tape.save_unsigned(1);
        tape.save_bytes(b"perms");
        tape.save_bytes(br#"["a","b"]"#);
        let loaded = load(&mut tape, 1).unwrap();
        assert_eq!(loaded.get(b"perms").unwrap().policy, Policy::default());
    }

    #[test]
    fn the_loader_applies_the_definition_limits() {
        let names: Vec<String> = (0..65_537).map(|i| format!("{i:x}")).collect();
        let many = serde_json::to_string(&names).unwrap().into_bytes();
        let huge = vec![b' '; (1 << 20) + 1];
        for (definition, limit) in [
            (many, "more than 65536 names"),
            (huge, "over the limit of 1048576 bytes"),
        ] {
            let mut tape = Tape::default();
            tape.save_unsigned(1);
            tape.save_bytes(b"big");
            tape.save_bytes(&definition);
            tape.save_unsigned(0);
            let Err(err) = load(&mut tape, ENCODING_VERSION) else {
                panic!("loaded a definition over the limits");
            };
            assert!(err.starts_with("template 'big': "), "{err}");
            assert!(err.contains(limit), "{err}");
        }
    }

    #[test]
    fn every_truncation_and_unknown_version_is_an_error() {
        let mut full = Tape::default();
        save(&mut full, &sample());
        let items = full.0.len();
        for keep in 0..items {
            let mut tape = Tape::default();
            save(&mut tape, &sample());
            tape.0.truncate(keep);
            assert!(
                load(&mut tape, ENCODING_VERSION).is_err(),
                "kept {keep} of {items}"
            );
        }
        assert!(load(&mut Tape::default(), ENCODING_VERSION + 1).is_err());
        assert!(load(&mut Tape::default(), 0).is_err());
    }
}
