//! The limits a user can set: module configs (`calc.<name>` in `redis.conf`,
//! `--calc.<name>` on the command line, `CONFIG SET` / `CONFIG GET`), read
//! where they apply, every time. Registered with the server at load
//! (`crate::module`); the server checks a new value against `min..=max`
//! before it is stored, so a value read here is always within them.

use std::sync::atomic::{AtomicI64, Ordering};

/// One limit: its config name (without the module's `calc.` prefix), its
/// default and bounds, and its current value.
pub struct Limit {
    pub name: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
    /// A size in bytes: `CONFIG SET` also takes `64mb`, `1gb`, ...
    pub bytes: bool,
    pub value: AtomicI64,
}

impl Limit {
    const fn new(name: &'static str, default: i64, min: i64, max: i64, bytes: bool) -> Limit {
        Limit {
            name,
            default,
            min,
            max,
            bytes,
            value: AtomicI64::new(default),
        }
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> usize {
        usize::try_from(self.value.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

const MIB: i64 = 1 << 20;

/// Longest template definition, in bytes, checked before it is parsed:
/// 1 MiB by default, about 3,000 times the design note's 25-flag template.
/// Parsing takes milliseconds per MiB, and the definition is kept and
/// written into every RDB; at most 64 MiB.
pub static TEMPLATE_MAX_BYTES: Limit = Limit::new("template-max-bytes", MIB, 1, 64 * MIB, true);

/// Most names in one template, every level counted (a nested entry's own
/// name too): 65,536 by default. `CALC.GETDICT` answers twice as many reply
/// items. At most 2^24 (a 64 MiB definition holds fewer).
pub static TEMPLATE_MAX_NAMES: Limit = Limit::new("template-max-names", 65_536, 1, 1 << 24, false);

/// Deepest template nesting (`[name, sub]` levels): 32 by default. At most
/// 64, the decoder's nesting limit for a stored value (`msgpack::MAX_DEPTH`),
/// which counts the template's own levels.
pub static TEMPLATE_MAX_DEPTH: Limit = Limit::new("template-max-depth", 32, 1, 64, false);

/// Most bytes of JSON text one `CALC.GETJSON` or `CALC.MGETJSON` reply may
/// hold (all its fields together): 64 MiB by default, at most 4 GiB.
pub static JSON_REPLY_MAX_BYTES: Limit =
    Limit::new("json-reply-max-bytes", 64 * MIB, 1, 4096 * MIB, true);

/// Every limit, in the order the README lists them.
pub static ALL: [&Limit; 4] = [
    &TEMPLATE_MAX_BYTES,
    &TEMPLATE_MAX_NAMES,
    &TEMPLATE_MAX_DEPTH,
    &JSON_REPLY_MAX_BYTES,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_bounds_and_current() {
        for limit in ALL {
            assert!(
                (limit.min..=limit.max).contains(&limit.default),
                "{}",
                limit.name
            );
            assert!(limit.min >= 1, "{}", limit.name);
            assert_eq!(limit.get() as i64, limit.default, "{}", limit.name);
        }
        assert_eq!(TEMPLATE_MAX_DEPTH.max as usize, crate::msgpack::MAX_DEPTH);
    }
}
