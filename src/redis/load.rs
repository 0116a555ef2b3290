//! What the module's start-up asks of Redis: the API handshake, the commands,
//! an INFO section, the RDB option, a configuration value. The start-up itself
//! (`RedisModule_OnLoad`), which decides what is registered, is above this
//! layer, in `crate::module`.

use std::ffi::{c_int, CStr};
use std::sync::OnceLock;

use redis_module::raw::{self, ModuleOptions};
use redis_module::RedisValue;

use super::command::{Command, Container, RawCtx};
use super::{api, register, Ctx};

/// `RedisModule_Init` under `name`, then the check that every API call the
/// module unwraps exists on this server (Redis 7.0 or newer); a missing one is
/// logged. `None`: the module must refuse to load.
///
/// # Safety
/// `ctx` is the context Redis passed to `RedisModule_OnLoad`; call once,
/// before anything allocates (the allocator is Redis's).
pub unsafe fn init<'a>(ctx: RawCtx, name: &CStr) -> Option<Ctx<'a>> {
    // SAFETY: as the caller promises, `ctx` is OnLoad's context.
    let status = unsafe {
        raw::Export_RedisModule_Init(ctx, name.as_ptr(), 1, raw::REDISMODULE_APIVER_1 as c_int)
    };
    if status == raw::REDISMODULE_ERR as c_int {
        return None;
    }
    let context = Ctx::new(ctx);
    match api::missing() {
        None => Some(context),
        Some(call) => {
            context.log_warning(&format!(
                "{}: this server lacks the module API call {call} (Redis 7.0 or newer is required)",
                name.to_string_lossy()
            ));
            None
        }
    }
}

/// Registers every command of `commands` and every container with its
/// subcommands, each also in the ACL `category` where the server lets a
/// module add one; an `Err` names the one that failed.
pub fn register_commands(
    ctx: Ctx,
    commands: &[Command],
    containers: &[Container],
    category: &CStr,
) -> Result<(), String> {
    register::register_all(ctx.ptr, commands, containers, category)
}

/// One INFO section, written by the function given to `register_info`.
pub struct InfoSection(*mut raw::RedisModuleInfoCtx);

impl InfoSection {
    pub fn field(&mut self, name: &CStr, value: u64) {
        // SAFETY: `self.0` is the INFO context of the call in progress.
        unsafe { raw::RedisModule_InfoAddFieldULongLong.unwrap()(self.0, name.as_ptr(), value) };
    }
}

static INFO_FIELDS: OnceLock<fn(&mut InfoSection)> = OnceLock::new();

/// The module's own INFO section (`INFO <module name>`), whose fields `fields`
/// writes each time it is asked for.
pub fn register_info(ctx: Ctx, fields: fn(&mut InfoSection)) {
    if INFO_FIELDS.set(fields).is_ok() {
        // SAFETY: called during OnLoad with its context; `info` lives forever.
        unsafe { raw::RedisModule_RegisterInfoFunc.unwrap()(ctx.ptr, Some(info)) };
    }
}

extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    let Some(fields) = INFO_FIELDS.get() else {
        return;
    };
    // SAFETY: `ctx` is the INFO context Redis passes to this callback; an
    // empty section name gives the section the module's own name.
    unsafe { raw::RedisModule_InfoAddSection.unwrap()(ctx, c"".as_ptr()) };
    fields(&mut InfoSection(ctx));
}

/// Lets aux loaders check every read, so a truncated file is a refused load
/// with the module's log line, not a crash inside the loader.
pub fn handle_io_errors(ctx: Ctx) {
    redis_module::Context::new(ctx.ptr).set_module_options(ModuleOptions::HANDLE_IO_ERRORS);
}

/// A configuration value (`CONFIG GET name`), if it is a string.
pub fn config(ctx: Ctx, name: &str) -> Option<String> {
    let context = redis_module::Context::new(ctx.ptr);
    match context.call("CONFIG", &["GET", name]) {
        Ok(RedisValue::Array(pair)) => match pair.get(1) {
            Some(RedisValue::SimpleString(s) | RedisValue::BulkString(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}
