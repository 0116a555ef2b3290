//! Commands as Redis sees them: the declaration every command makes (flags,
//! arity, key specs, docs, ACL categories) and the boundary between Redis and
//! a command body. `register` turns the declarations into Redis's structures.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use super::reply::ReplyWriter;
use super::{Arg, Ctx};

/// How a command body that did not succeed is answered. It must not have
/// changed anything or replied.
pub enum Failure {
    /// Redis's own "wrong number of arguments for '<name>' command".
    WrongArity,
    /// One error reply; the text starts with its code (`ERR`, `WRONGTYPE`, ...).
    Error(String),
}

/// The C entry point Redis calls for a command.
pub type Handler = extern "C" fn(RawCtx, RawArgv, c_int) -> c_int;
pub type RawCtx = *mut raw::RedisModuleCtx;
pub type RawArgv = *mut *mut raw::RedisModuleString;

/// Runs a command body and answers its failure. A panic is caught here, the
/// last line of defence: unwinding into Redis's C code would abort the server
/// and take every user's data with it.
pub fn run(
    ctx: RawCtx,
    argv: RawArgv,
    argc: c_int,
    body: impl for<'a> FnOnce(Ctx<'a>, &[Arg<'a>], &mut ReplyWriter) -> Result<(), Failure>,
) -> c_int {
    let ctx = Ctx::new(ctx);
    let args: &[Arg] = match usize::try_from(argc) {
        // SAFETY: Redis hands a command `argc` valid string pointers in
        // `argv`, alive for this call; `Arg` is a transparent wrapper of one
        // such pointer, so the vector is the slice as it is. No copy, no retain.
        Ok(len) if !argv.is_null() => unsafe { std::slice::from_raw_parts(argv.cast(), len) },
        _ => &[],
    };
    let mut reply = ReplyWriter::new(ctx.ptr);
    let failure = match catch_unwind(AssertUnwindSafe(|| body(ctx, args, &mut reply))) {
        Ok(Ok(())) => None,
        Ok(Err(failure)) => Some(failure),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ctx.log_warning(&format!(
                "calc: command aborted by an internal error: {what}"
            ));
            Some(Failure::Error(
                "ERR internal error in the calc module; the command was aborted (see the server log)"
                    .to_string(),
            ))
        }
    };
    match failure {
        None => {}
        Some(Failure::WrongArity) => reply.wrong_arity(),
        Some(Failure::Error(message)) => reply.error(&message),
    }
    raw::REDISMODULE_OK as c_int
}

/// How a command declares itself to Redis.
#[derive(Clone, Copy)]
pub struct Command {
    pub name: &'static CStr,
    pub handler: Handler,
    /// `CreateCommand` flags: `write deny-oom`, `readonly fast`, ...
    pub flags: &'static CStr,
    /// ACL categories, as a native command of its kind has them (`write hash
    /// fast`); set where the server lets a module set them.
    pub categories: &'static CStr,
    /// Exact argument count, or -N for at least N (the name counts).
    pub arity: i32,
    pub keys: &'static [KeySpec],
    pub summary: &'static CStr,
    pub complexity: &'static CStr,
    pub since: &'static CStr,
    pub args: &'static [ArgDoc],
}

impl Command {
    /// The same command as the subcommand `name` of a container, with its
    /// own handler (which sees the container's name first): one more
    /// argument, as `FUNCTION LOAD` counts both words.
    pub const fn subcommand(self, name: &'static CStr, handler: Handler) -> Command {
        let arity = if self.arity < 0 {
            self.arity - 1
        } else {
            self.arity + 1
        };
        // Evaluated at compile time (the tables are statics): key positions
        // would count the container's word too, and no subcommand has keys.
        assert!(self.keys.is_empty(), "a subcommand with keys");
        Command {
            name,
            handler,
            arity,
            ..self
        }
    }
}

/// A command that only holds subcommands (`CALC.TEMPLATE SET ...`, as
/// `FUNCTION LOAD ...`).
pub struct Container {
    pub name: &'static CStr,
    pub summary: &'static CStr,
    pub since: &'static CStr,
    pub subcommands: &'static [Command],
}

/// A key spec whose keys stand at fixed positions: from `index` to `index +
/// last` (or to the end, for `last` -1), every `step`.
#[derive(Clone, Copy)]
pub struct KeySpec {
    pub flags: KeyFlags,
    pub index: i32,
    pub last: i32,
    pub step: i32,
}

#[derive(Clone, Copy)]
pub struct KeyFlags(u64);

impl KeyFlags {
    pub const RO: KeyFlags = KeyFlags(raw::REDISMODULE_CMD_KEY_RO as u64);
    pub const RW: KeyFlags = KeyFlags(raw::REDISMODULE_CMD_KEY_RW as u64);
    pub const ACCESS: KeyFlags = KeyFlags(raw::REDISMODULE_CMD_KEY_ACCESS as u64);
    pub const UPDATE: KeyFlags = KeyFlags(raw::REDISMODULE_CMD_KEY_UPDATE as u64);
    pub const DELETE: KeyFlags = KeyFlags(raw::REDISMODULE_CMD_KEY_DELETE as u64);

    pub const fn with(self, other: KeyFlags) -> KeyFlags {
        KeyFlags(self.0 | other.0)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }
}

/// One argument in `COMMAND DOCS` (and so in `HELP` and redis-cli's hints).
#[derive(Clone, Copy)]
pub struct ArgDoc {
    pub name: &'static CStr,
    pub kind: ArgKind,
    pub token: Option<&'static CStr>,
    pub optional: bool,
    pub multiple: bool,
    pub sub: &'static [ArgDoc],
}

#[derive(Clone, Copy)]
pub enum ArgKind {
    /// A key name: the index of its key spec.
    Key(i32),
    String,
    Integer,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

impl ArgDoc {
    pub const fn new(name: &'static CStr, kind: ArgKind) -> ArgDoc {
        ArgDoc {
            name,
            kind,
            token: None,
            optional: false,
            multiple: false,
            sub: &[],
        }
    }
    pub const fn token(self, token: &'static CStr) -> ArgDoc {
        ArgDoc {
            token: Some(token),
            ..self
        }
    }
    pub const fn optional(self) -> ArgDoc {
        ArgDoc {
            optional: true,
            ..self
        }
    }
    pub const fn multiple(self) -> ArgDoc {
        ArgDoc {
            multiple: true,
            ..self
        }
    }
    pub const fn sub(self, sub: &'static [ArgDoc]) -> ArgDoc {
        ArgDoc { sub, ..self }
    }
}
