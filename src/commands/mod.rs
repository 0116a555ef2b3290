//! Command families, one file each. Every command has the same shape:
//! parse args -> open keys with checks -> act -> effects -> reply.
//! `COMMANDS` is how each one is declared to Redis.

pub mod dict;
pub mod hash;
pub mod purge;
pub mod template;

use std::cell::Cell;

use crate::error::CalcError;
use crate::handler;
use crate::redis::command::{ArgDoc, ArgKind, Command, KeyFlags, KeySpec};
use crate::redis::{Arg, Ctx, RedisStr};

const SINCE: &std::ffi::CStr = c"0.1.0";

/// A key at argument `index`.
const fn key_at(index: i32, flags: KeyFlags) -> KeySpec {
    KeySpec {
        flags,
        index,
        last: 0,
        step: 1,
    }
}

/// Written as HSET declares its key (`RW UPDATE`: INSERT, UPDATE and DELETE
/// are exclusive, and adding a field to a hash is an update of its value).
const HASH_WRITE: KeyFlags = KeyFlags::RW.with(KeyFlags::UPDATE);
const HASH_READ: KeyFlags = KeyFlags::RO.with(KeyFlags::ACCESS);

const KEY: ArgDoc = ArgDoc::new(c"key", ArgKind::Key(0));
const TEMPLATE_NAME: ArgDoc = ArgDoc::new(c"template", ArgKind::String);
/// `seconds` from now, or `PXAT` and a unix time in milliseconds.
const EXPIRATION: ArgDoc = ArgDoc::new(c"expiration", ArgKind::OneOf).sub(&[
    ArgDoc::new(c"seconds", ArgKind::Integer),
    ArgDoc::new(c"unix-time-milliseconds", ArgKind::UnixTime).token(c"PXAT"),
]);
const NAME: ArgDoc = ArgDoc::new(c"name", ArgKind::String);

pub static COMMANDS: &[Command] = &[
    Command {
        name: c"calc.hsetex",
        handler: handler!(hash::hsetex),
        flags: c"write deny-oom fast",
        categories: c"write hash fast",
        arity: -5,
        keys: &[key_at(1, HASH_WRITE)],
        summary: c"Sets hash fields; sets the key's expiry only if the call creates the key.",
        complexity: c"O(N) where N is the number of field-value pairs.",
        since: SINCE,
        args: &[
            KEY,
            ArgDoc::new(c"data", ArgKind::Block).multiple().sub(&[
                ArgDoc::new(c"field", ArgKind::String),
                ArgDoc::new(c"value", ArgKind::String),
            ]),
            EXPIRATION,
        ],
    },
    Command {
        name: c"calc.a2bset",
        handler: handler!(hash::a2bset),
        flags: c"write deny-oom fast",
        categories: c"write hash fast",
        arity: -7,
        keys: &[key_at(1, HASH_WRITE), key_at(2, HASH_WRITE)],
        summary: c"Stashes a value under akey[id_b] and bkey[id_a] atomically; each key gets the expiry only if the call creates it.",
        complexity: c"O(1)",
        since: SINCE,
        args: &[
            ArgDoc::new(c"akey", ArgKind::Key(0)),
            ArgDoc::new(c"bkey", ArgKind::Key(1)),
            ArgDoc::new(c"id_a", ArgKind::String),
            ArgDoc::new(c"id_b", ArgKind::String),
            ArgDoc::new(c"value", ArgKind::String),
            EXPIRATION,
        ],
    },
    Command {
        name: c"calc.getdict",
        handler: handler!(dict::getdict),
        flags: c"readonly fast",
        categories: c"read hash fast",
        arity: 4,
        keys: &[key_at(1, HASH_READ)],
        summary: c"Reads a hash field and decodes its msgpack value against a template into a map.",
        complexity: c"O(M) where M is the size of the value.",
        since: SINCE,
        args: &[KEY, ArgDoc::new(c"field", ArgKind::String), TEMPLATE_NAME],
    },
    Command {
        name: c"calc.mgetdict",
        handler: handler!(dict::mgetdict),
        flags: c"readonly",
        categories: c"read hash slow",
        arity: -4,
        keys: &[key_at(1, HASH_READ)],
        summary: c"Reads several fields of a hash, each decoded against a template into a map.",
        complexity: c"O(N*M) where N is the number of fields and M the size of a value.",
        since: SINCE,
        args: &[
            KEY,
            TEMPLATE_NAME,
            ArgDoc::new(c"field", ArgKind::String).multiple(),
        ],
    },
    Command {
        name: c"calc.purgea",
        handler: handler!(purge::purgea),
        flags: c"write",
        categories: c"write hash slow",
        arity: 4,
        keys: &[key_at(
            1,
            KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE),
        )],
        summary: c"Removes member from the hash bprefix..b for every field b of akey, then deletes akey.",
        complexity: c"O(N) where N is the number of fields of akey.",
        since: SINCE,
        args: &[
            ArgDoc::new(c"akey", ArgKind::Key(0)),
            ArgDoc::new(c"bprefix", ArgKind::String),
            ArgDoc::new(c"member", ArgKind::String),
        ],
    },
    Command {
        name: c"calc.template.set",
        handler: handler!(template::set),
        flags: c"write deny-oom",
        categories: c"write slow",
        arity: -3,
        keys: &[],
        summary: c"Registers a template (a JSON array of names) under a name, replacing one of the same name.",
        complexity: c"O(N) where N is the size of the definition.",
        since: SINCE,
        args: &[
            NAME,
            ArgDoc::new(c"definition", ArgKind::String),
            ArgDoc::new(c"policy", ArgKind::OneOf)
                .token(c"ONMISMATCH")
                .optional()
                .sub(&[
                    ArgDoc::new(c"error", ArgKind::PureToken).token(c"ERROR"),
                    ArgDoc::new(c"nil", ArgKind::PureToken).token(c"NIL"),
                ]),
            ArgDoc::new(c"marking", ArgKind::OneOf)
                .token(c"FINGERPRINT")
                .optional()
                .sub(&[
                    ArgDoc::new(c"required", ArgKind::PureToken).token(c"REQUIRED"),
                    ArgDoc::new(c"optional", ArgKind::PureToken).token(c"OPTIONAL"),
                ]),
        ],
    },
    Command {
        name: c"calc.template.get",
        handler: handler!(template::get),
        flags: c"readonly",
        categories: c"slow",
        arity: 2,
        keys: &[],
        summary: c"Returns a template's definition as compact JSON.",
        complexity: c"O(N) where N is the size of the definition.",
        since: SINCE,
        args: &[NAME],
    },
    Command {
        name: c"calc.template.info",
        handler: handler!(template::info),
        flags: c"readonly",
        categories: c"slow",
        arity: 2,
        keys: &[],
        summary: c"Returns a template's definition, mismatch policy and fingerprint.",
        complexity: c"O(N) where N is the size of the definition.",
        since: SINCE,
        args: &[NAME],
    },
    Command {
        name: c"calc.template.del",
        handler: handler!(template::del),
        flags: c"write",
        categories: c"write slow",
        arity: 2,
        keys: &[],
        summary: c"Deletes a template.",
        complexity: c"O(1)",
        since: SINCE,
        args: &[NAME],
    },
    Command {
        name: c"calc.template.list",
        handler: handler!(template::list),
        flags: c"readonly",
        categories: c"slow",
        arity: 1,
        keys: &[],
        summary: c"Returns the names of the registered templates, sorted.",
        complexity: c"O(N) where N is the number of templates.",
        since: SINCE,
        args: &[],
    },
];

/// The latest "now" the expiry bound allows for: 2^43 ms after the epoch, the
/// year 2248. It lets `parse_seconds` reject every expiry that could overflow
/// without reading the clock on the hot path (an existing key needs no expiry).
const LATEST_NOW_MS: i64 = 1 << 43;
const MAX_TTL_SECONDS: i64 = (i64::MAX - LATEST_NOW_MS) / 1000;

/// When a key the command creates expires: `seconds` from now, or at a unix
/// time in milliseconds (`PXAT`). The absolute time is computed on first use,
/// once per command, so every key one command creates expires at the same
/// instant.
pub struct Expiry {
    ms: i64,
    relative: bool,
    at: Cell<Option<i64>>,
}

impl Expiry {
    pub fn at(&self, ctx: Ctx) -> i64 {
        let at = self.at.get().unwrap_or_else(|| {
            if self.relative {
                ctx.now_ms() + self.ms
            } else {
                self.ms
            }
        });
        self.at.set(Some(at));
        at
    }

    /// Whether the call gave the absolute time itself (and so replicates as
    /// it was sent).
    pub fn is_absolute(&self) -> bool {
        !self.relative
    }
}

/// Whether `arg` is the `PXAT` keyword.
pub fn is_pxat(arg: &Arg) -> bool {
    arg.bytes().eq_ignore_ascii_case(b"PXAT")
}

/// An integer as Redis reads an argument (`string2ll`): an optional `-`,
/// then digits without a leading zero (`0` alone is zero, `-0` is not an
/// integer), within the 64-bit range; no `+`, no spaces, nothing else. Folded
/// by hand since it runs on every write.
pub fn redis_integer(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Accumulated below zero, so that i64::MIN fits.
    let below = digits.iter().try_fold(0i64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_sub(i64::from(digit))
    })?;
    if negative {
        Some(below)
    } else {
        below.checked_neg()
    }
}

/// `seconds`: an integer (else `ERR value is not an integer or out of range`,
/// as `SET ... EX` and `EXPIRE` answer), positive and small enough that the
/// expiry cannot overflow (else `ERR invalid expire time`, as `SET ... EX`).
pub fn parse_seconds(seconds: &[u8], command: &'static str) -> Result<Expiry, CalcError> {
    let seconds = redis_integer(seconds).ok_or(CalcError::NotAnInteger)?;
    if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
        return Err(CalcError::InvalidExpire { command });
    }
    Ok(Expiry {
        ms: seconds * 1000,
        relative: true,
        at: Cell::new(None),
    })
}

/// `PXAT` unix-time-milliseconds: an integer (else `ERR value is not an
/// integer or out of range`), positive (else `ERR invalid expire time`), as
/// `SET ... PXAT` reads it. A time already past creates a key that has
/// already expired, as `PEXPIREAT` does on a replica.
pub fn parse_pxat(at: &[u8], command: &'static str) -> Result<Expiry, CalcError> {
    let ms = redis_integer(at).ok_or(CalcError::NotAnInteger)?;
    if ms < 1 {
        return Err(CalcError::InvalidExpire { command });
    }
    Ok(Expiry {
        ms,
        relative: false,
        at: Cell::new(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (text, value) in [
            ("0", 0),
            ("5", 5),
            ("-1", -1),
            ("10", 10),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(redis_integer(text.as_bytes()), Some(value), "{text}");
        }
        for text in [
            "",
            "-",
            "05",
            "00",
            "-0",
            "-05",
            "+5",
            " 5",
            "5 ",
            "5\n",
            "1e3",
            "5.0",
            "0x10",
            "abc",
            "5a",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
        ] {
            assert_eq!(redis_integer(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(redis_integer("٥".as_bytes()), None, "non-ASCII digit");
    }

    fn seconds(text: &str) -> Result<i64, CalcError> {
        parse_seconds(text.as_bytes(), "calc.hsetex").map(|e| e.ms)
    }

    fn pxat(text: &str) -> Result<i64, CalcError> {
        parse_pxat(text.as_bytes(), "calc.hsetex").map(|e| e.ms)
    }

    #[test]
    fn seconds_are_an_integer_first_then_a_valid_expiry() {
        let invalid = Err(CalcError::InvalidExpire {
            command: "calc.hsetex",
        });
        assert_eq!(seconds("5"), Ok(5000));
        assert_eq!(
            seconds(&MAX_TTL_SECONDS.to_string()),
            Ok(MAX_TTL_SECONDS * 1000)
        );
        for text in ["05", "+5", " 5", "", "-0", "5.0", "9223372036854775808"] {
            assert_eq!(seconds(text), Err(CalcError::NotAnInteger), "{text:?}");
        }
        for text in ["0", "-1", "-9223372036854775808", "9223372036854775807"] {
            assert_eq!(seconds(text), invalid, "{text:?}");
        }
        assert_eq!(seconds(&(MAX_TTL_SECONDS + 1).to_string()), invalid);
    }

    #[test]
    fn pxat_is_an_integer_first_then_positive() {
        let invalid = Err(CalcError::InvalidExpire {
            command: "calc.hsetex",
        });
        assert_eq!(pxat("1"), Ok(1));
        assert_eq!(pxat("9223372036854775807"), Ok(i64::MAX));
        for text in ["05", "+1", "1 ", "", "-0", "1e3"] {
            assert_eq!(pxat(text), Err(CalcError::NotAnInteger), "{text:?}");
        }
        for text in ["0", "-1", "-9223372036854775808"] {
            assert_eq!(pxat(text), invalid, "{text:?}");
        }
    }
}
