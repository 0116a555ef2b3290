//! Every error a command can answer with. Each variant renders as one Redis error
//! reply whose first word is the Redis error code (`ERR`, `WRONGTYPE`, `NOPERM`,
//! `CROSSSLOT`), so clients classify it the way they classify native errors.

use std::ffi::CStr;
use std::fmt;

use crate::json_pack::PackError;
use crate::msgpack::DecodeError;
use crate::printable::printable;
use crate::redis::keys::KeyError;

#[derive(Debug, PartialEq)]
pub enum CalcError {
    /// Answered with Redis's own "wrong number of arguments" text.
    WrongArity,
    WrongType {
        key: String,
    },
    /// An argument that must be an integer is not one as Redis reads one
    /// (`string2ll`), or is out of the 64-bit range.
    NotAnInteger,
    InvalidExpire {
        command: &'static CStr,
    },
    NoPerm {
        key: String,
    },
    /// The caller may not run the operation under its other name (a dotted
    /// alias and the container's subcommand are one operation).
    NoPermCommand {
        command: String,
        other: String,
    },
    CrossSlot {
        key: String,
        slot: u16,
        declared: String,
        declared_slot: u16,
    },
    TryAgain {
        slot: u16,
    },
    UnknownTemplate {
        name: String,
    },
    InvalidTemplate {
        reason: String,
    },
    /// A malformed option.
    Syntax {
        reason: String,
    },
    Decode(DecodeError),
    /// A decode error in one of several fields (MGETDICT).
    DecodeField {
        field: String,
        error: DecodeError,
    },
    /// A JSON value CALC.SETDICT cannot pack against its template.
    Pack {
        field: String,
        error: PackError,
    },
    /// A name the template lacks (CALC.GETVALUES).
    UnknownName {
        name: String,
        template: String,
    },
    /// A JSON reply (all its texts together) over `calc.json-reply-max-bytes`.
    JsonReplyTooLarge {
        limit: usize,
    },
}

impl CalcError {
    /// Decode errors are counted in `INFO calc`: they mean a producer wrote a value
    /// that does not match the template it is read with.
    pub fn is_decode(&self) -> bool {
        matches!(self, CalcError::Decode(_) | CalcError::DecodeField { .. })
    }

    /// Pack errors are counted in `INFO calc`: a writer sent JSON that does
    /// not fit the template.
    pub fn is_pack(&self) -> bool {
        matches!(self, CalcError::Pack { .. })
    }
}

impl From<KeyError> for CalcError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::WrongType { key } => CalcError::WrongType {
                key: printable(&key),
            },
            KeyError::NoPerm { key } => CalcError::NoPerm {
                key: printable(&key),
            },
            KeyError::CrossSlot {
                key,
                slot,
                declared,
                declared_slot,
            } => CalcError::CrossSlot {
                key: printable(&key),
                slot,
                declared: printable(&declared),
                declared_slot,
            },
            KeyError::TryAgain { slot } => CalcError::TryAgain { slot },
        }
    }
}

impl From<DecodeError> for CalcError {
    fn from(e: DecodeError) -> Self {
        CalcError::Decode(e)
    }
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalcError::WrongArity => write!(f, "ERR wrong number of arguments"),
            CalcError::WrongType { key } => write!(
                f,
                "WRONGTYPE Operation against a key holding the wrong kind of value (key '{key}' is not a hash)"
            ),
            CalcError::NotAnInteger => write!(f, "ERR value is not an integer or out of range"),
            CalcError::InvalidExpire { command } => {
                write!(
                    f,
                    "ERR invalid expire time in '{}' command",
                    command.to_string_lossy()
                )
            }
            CalcError::NoPerm { key } => write!(
                f,
                "NOPERM this user has no permissions to access the '{key}' key"
            ),
            CalcError::NoPermCommand { command, other } => write!(
                f,
                "NOPERM this user has no permissions to run the '{command}' command (the same command as '{other}')"
            ),
            CalcError::CrossSlot { key, slot, declared, declared_slot } => write!(
                f,
                "CROSSSLOT Keys in request don't hash to the same slot (derived key '{key}' is in slot {slot}, '{declared}' in slot {declared_slot})"
            ),
            CalcError::TryAgain { slot } => write!(
                f,
                "TRYAGAIN Multiple keys request during rehashing of slot (slot {slot} is migrating and a derived key is not here)"
            ),
            CalcError::UnknownTemplate { name } => write!(
                f,
                "NOTEMPLATE unknown template '{name}' (register it on this node with CALC.TEMPLATE SET)"
            ),
            CalcError::InvalidTemplate { reason } => write!(f, "ERR invalid template definition: {reason}"),
            CalcError::Syntax { reason } => write!(f, "ERR syntax error: {reason}"),
            CalcError::Decode(e) => write!(f, "ERR {e}"),
            CalcError::DecodeField { field, error } => write!(f, "ERR field '{field}': {error}"),
            CalcError::Pack { field, error } => write!(f, "ERR field '{field}': {error}"),
            CalcError::UnknownName { name, template } => {
                write!(f, "ERR template '{template}' has no name '{name}'")
            }
            CalcError::JsonReplyTooLarge { limit } => write!(
                f,
                "ERR the JSON reply would be over the limit of {limit} bytes (calc.json-reply-max-bytes)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_starts_with_its_redis_code() {
        let cases = [
            (CalcError::WrongType { key: "k".into() }, "WRONGTYPE "),
            (
                CalcError::InvalidExpire {
                    command: c"calc.hsetex",
                },
                "ERR invalid expire time",
            ),
            (
                CalcError::NotAnInteger,
                "ERR value is not an integer or out of range",
            ),
            (CalcError::NoPerm { key: "k".into() }, "NOPERM "),
            (
                CalcError::NoPermCommand {
                    command: "calc.template|set".into(),
                    other: "calc.template.set".into(),
                },
                "NOPERM ",
            ),
            (
                CalcError::CrossSlot {
                    key: "b".into(),
                    slot: 1,
                    declared: "a".into(),
                    declared_slot: 2,
                },
                "CROSSSLOT ",
            ),
            (
                CalcError::UnknownTemplate { name: "t".into() },
                "NOTEMPLATE unknown template 't'",
            ),
        ];
        for (err, prefix) in cases {
            assert!(err.to_string().starts_with(prefix), "{err}");
        }
    }
}
