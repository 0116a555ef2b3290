//! Commands as Redis sees them: the declaration every command makes (flags,
//! arity, key specs, docs, ACL categories), its registration at load, and the
//! boundary between Redis and a command body.
//!
//! Registration uses `RedisModule_CreateCommand` and `RedisModule_SetCommandInfo`
//! (both Redis 7.0), and the ACL calls only where the server has them
//! (`SetCommandACLCategories` 7.2+ and Valkey, `AddACLCategory` 7.4+).

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::Ordering;

use redis_module::raw;

use super::reply::ReplyWriter;
use super::{Arg, Ctx};
use crate::error::CalcError;
use crate::stats;

/// A command body: parse `args` (the command name first) -> open keys with
/// checks -> act -> effects -> reply through the writer, or return the error
/// to answer with. On error it must not have changed anything or replied.
pub type Body = for<'a> fn(Ctx<'a>, &[Arg<'a>], &mut ReplyWriter) -> Result<(), CalcError>;

/// The C entry point Redis calls; `handler!` makes one per body.
pub type Handler = extern "C" fn(RawCtx, RawArgv, c_int) -> c_int;
pub type RawCtx = *mut raw::RedisModuleCtx;
pub type RawArgv = *mut *mut raw::RedisModuleString;

/// The `extern "C"` handler for a command body, behind the `run` boundary.
#[macro_export]
macro_rules! handler {
    ($body:path) => {{
        extern "C" fn handler(
            ctx: $crate::redis::command::RawCtx,
            argv: $crate::redis::command::RawArgv,
            argc: ::std::ffi::c_int,
        ) -> ::std::ffi::c_int {
            $crate::redis::command::run(ctx, argv, argc, $body)
        }
        handler as $crate::redis::command::Handler
    }};
}

/// Runs a command body and answers its error. A panic is caught here, the last
/// line of defence: unwinding into Redis's C code would abort the server and
/// take every user's data with it.
pub fn run(ctx: RawCtx, argv: RawArgv, argc: c_int, body: Body) -> c_int {
    stats::COMMANDS_SERVED.fetch_add(1, Ordering::Relaxed);
    let ctx = Ctx::new(ctx);
    // `Arg` is a transparent Redis string pointer: Redis's argument vector is
    // the slice, valid for this call. No copy, no retain.
    let args: &[Arg] = match usize::try_from(argc) {
        Ok(len) if !argv.is_null() => unsafe { std::slice::from_raw_parts(argv.cast(), len) },
        _ => &[],
    };
    let mut reply = ReplyWriter::new(ctx.ptr);
    let error = match catch_unwind(AssertUnwindSafe(|| body(ctx, args, &mut reply))) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ctx.log_warning(&format!(
                "calc: command aborted by an internal error: {what}"
            ));
            Some(CalcError::Internal)
        }
    };
    match error {
        None => {}
        Some(CalcError::WrongArity) => reply.wrong_arity(),
        Some(e) => {
            if e.is_decode() {
                stats::DECODE_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
            reply.error(&e.to_string());
        }
    }
    raw::REDISMODULE_OK as c_int
}

/// How a command declares itself to Redis.
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

/// A key spec whose keys stand at fixed positions: from `index` to `index +
/// last` (or to the end, for `last` -1), every `step`.
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
}

/// One argument in `COMMAND DOCS` (and so in `HELP` and redis-cli's hints).
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

/// The ACL category every CALC command is also in, where the server lets a
/// module add one (Redis 7.4+).
const CALC_CATEGORY: &CStr = c"calc";

/// Registers every command; an `Err` names the one that failed.
pub(super) fn register_all(ctx: RawCtx, commands: &[Command]) -> Result<(), String> {
    let calc_category = match unsafe { raw::RedisModule_AddACLCategory } {
        Some(add) => (unsafe { add(ctx, CALC_CATEGORY.as_ptr()) }) == raw::REDISMODULE_OK as c_int,
        None => false,
    };
    for command in commands {
        register(ctx, command, calc_category).map_err(|what| {
            format!("cannot register {}: {what}", command.name.to_string_lossy())
        })?;
    }
    Ok(())
}

fn register(ctx: RawCtx, command: &Command, calc_category: bool) -> Result<(), &'static str> {
    // The legacy key range (firstkey, lastkey, step) of the first key spec;
    // Redis also derives it from the key specs set below.
    let (first, last, step) = match command.keys.first() {
        Some(k) if k.last >= 0 => (k.index, k.index + k.last, k.step),
        Some(k) => (k.index, k.last, k.step),
        None => (0, 0, 0),
    };
    unsafe {
        let created = raw::RedisModule_CreateCommand.unwrap()(
            ctx,
            command.name.as_ptr(),
            Some(command.handler),
            command.flags.as_ptr(),
            first,
            last,
            step,
        );
        if created != raw::REDISMODULE_OK as c_int {
            return Err("CreateCommand refused it");
        }
        let handle = raw::RedisModule_GetCommand.unwrap()(ctx, command.name.as_ptr());
        if handle.is_null() {
            return Err("GetCommand did not find it");
        }
        if let Some(set_categories) = raw::RedisModule_SetCommandACLCategories {
            let categories = if calc_category {
                format!("{} calc", command.categories.to_string_lossy())
            } else {
                command.categories.to_string_lossy().into_owned()
            };
            let categories = std::ffi::CString::new(categories).unwrap_or_default();
            if set_categories(handle, categories.as_ptr()) != raw::REDISMODULE_OK as c_int {
                return Err("SetCommandACLCategories refused its categories");
            }
        }
        let key_specs: Vec<raw::RedisModuleCommandKeySpec> = command
            .keys
            .iter()
            .map(raw_key_spec)
            .chain(std::iter::once(std::mem::zeroed()))
            .collect();
        // Sub-argument arrays must outlive SetCommandInfo (which copies them).
        let mut keep = Vec::new();
        let args = raw_args(command.args, &mut keep);
        let mut info = raw::RedisModuleCommandInfo {
            version: &COMMAND_INFO_VERSION,
            summary: command.summary.as_ptr(),
            complexity: command.complexity.as_ptr(),
            since: command.since.as_ptr(),
            history: ptr::null_mut(),
            tips: ptr::null(),
            arity: command.arity,
            key_specs: key_specs.as_ptr().cast_mut(),
            args: args.as_ptr().cast_mut(),
        };
        if raw::RedisModule_SetCommandInfo.unwrap()(handle, &mut info)
            != raw::REDISMODULE_OK as c_int
        {
            return Err("SetCommandInfo refused its info");
        }
    }
    Ok(())
}

const COMMAND_INFO_VERSION: raw::RedisModuleCommandInfoVersion =
    raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };

fn raw_key_spec(spec: &KeySpec) -> raw::RedisModuleCommandKeySpec {
    raw::RedisModuleCommandKeySpec {
        notes: ptr::null(),
        flags: spec.flags.0,
        begin_search_type: raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX,
        bs: raw::RedisModuleCommandKeySpec__bindgen_ty_1 {
            index: raw::RedisModuleCommandKeySpec__bindgen_ty_1__bindgen_ty_1 { pos: spec.index },
        },
        find_keys_type: raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE,
        fk: raw::RedisModuleCommandKeySpec__bindgen_ty_2 {
            range: raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
                lastkey: spec.last,
                keystep: spec.step,
                limit: 0,
            },
        },
    }
}

/// The zero-terminated argument array for `docs`; nested arrays go to `keep`.
fn raw_args(
    docs: &[ArgDoc],
    keep: &mut Vec<Vec<raw::RedisModuleCommandArg>>,
) -> Vec<raw::RedisModuleCommandArg> {
    let mut out: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(docs.len() + 1);
    for doc in docs {
        let subargs = if doc.sub.is_empty() {
            ptr::null_mut()
        } else {
            let sub = raw_args(doc.sub, keep);
            let p = sub.as_ptr().cast_mut();
            keep.push(sub);
            p
        };
        let (kind, key_spec_index) = match doc.kind {
            ArgKind::Key(index) => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                index,
            ),
            ArgKind::String => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                -1,
            ),
            ArgKind::Integer => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                -1,
            ),
            ArgKind::PureToken => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN,
                -1,
            ),
            ArgKind::OneOf => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                -1,
            ),
            ArgKind::Block => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
                -1,
            ),
        };
        let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
        if doc.optional {
            flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
        }
        if doc.multiple {
            flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
        }
        out.push(raw::RedisModuleCommandArg {
            name: doc.name.as_ptr(),
            type_: kind,
            key_spec_index,
            token: doc.token.map_or(ptr::null(), CStr::as_ptr),
            summary: ptr::null(),
            since: ptr::null(),
            flags: flags as c_int,
            deprecated_since: ptr::null(),
            subargs,
            display_text: ptr::null(),
        });
    }
    out.push(unsafe { std::mem::zeroed() });
    out
}
