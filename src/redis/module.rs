//! The module's load: `RedisModule_OnLoad`, written here rather than by
//! `redis_module!`, so that registration is ours (own `argv` handling, command
//! info, ACL categories) and a start logs nothing that is not a problem.

use std::ffi::c_int;
use std::sync::atomic::Ordering;

use redis_module::raw::{self, ModuleOptions};

use super::aux::TEMPLATE_AUX_TYPE;
use super::{register, Ctx};
use crate::commands::COMMANDS;
use crate::registry::registry;
use crate::stats;

// Every allocation of the module goes through Redis's allocator, so it shows
// in `used_memory` and `maxmemory` applies to it.
#[global_allocator]
static ALLOCATOR: redis_module::alloc::RedisAlloc = redis_module::alloc::RedisAlloc;

const OK: c_int = raw::REDISMODULE_OK as c_int;
const ERR: c_int = raw::REDISMODULE_ERR as c_int;

/// # Safety
/// Called by Redis once, with a valid context, when it loads the module.
#[no_mangle]
pub unsafe extern "C" fn RedisModule_OnLoad(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    // Nothing may allocate before Init: the allocator is Redis's.
    if raw::Export_RedisModule_Init(ctx, c"calc".as_ptr(), 1, raw::REDISMODULE_APIVER_1 as c_int)
        == ERR
    {
        return ERR;
    }
    let context = Ctx::new(ctx);
    if !required_api_present() {
        context.log_warning(
            "calc: this server lacks module API calls the module needs (Redis 7.0 or newer is required)",
        );
        return ERR;
    }
    if TEMPLATE_AUX_TYPE.create_data_type(ctx).is_err() {
        return ERR;
    }
    if let Err(e) = register::register_all(ctx, COMMANDS) {
        context.log_warning(&format!("calc: {e}"));
        return ERR;
    }
    // Our own INFO section ("# calc").
    raw::RedisModule_RegisterInfoFunc.unwrap()(ctx, Some(info));
    // The template aux loader checks every read, so a truncated file is a
    // refused load with our log line, not a crash inside the loader.
    redis_module::Context::new(ctx).set_module_options(ModuleOptions::HANDLE_IO_ERRORS);
    warn_if_aof_cannot_hold_templates(ctx);
    super::effects::detect_field_expiry(ctx);
    OK
}

/// Module API calls the module makes and unwraps. All exist since Redis 7.0
/// (SetAbsExpire included); checking them at load makes a missing one a
/// refused `loadmodule`, never a crash later. The newer ones
/// (SetCommandACLCategories 7.2, AddACLCategory 7.4) are optional and checked
/// where they are used.
fn required_api_present() -> bool {
    unsafe {
        [
            { raw::RedisModule_CreateCommand }.is_some(),
            { raw::RedisModule_GetCommand }.is_some(),
            { raw::RedisModule_SetCommandInfo }.is_some(),
            { raw::RedisModule_ReplyWithMap }.is_some(),
            { raw::RedisModule_ReplyWithBool }.is_some(),
            { raw::RedisModule_ReplyWithBigNumber }.is_some(),
            { raw::RedisModule_ReplyWithDouble }.is_some(),
            { raw::RedisModule_ReplyWithNull }.is_some(),
            { raw::RedisModule_HashSet }.is_some(),
            { raw::RedisModule_HashGet }.is_some(),
            { raw::RedisModule_ScanKey }.is_some(),
            { raw::RedisModule_SetAbsExpire }.is_some(),
            { raw::RedisModule_Replicate }.is_some(),
            { raw::RedisModule_ReplicateVerbatim }.is_some(),
            { raw::RedisModule_NotifyKeyspaceEvent }.is_some(),
            { raw::RedisModule_ACLCheckKeyPermissions }.is_some(),
            { raw::RedisModule_ACLAddLogEntry }.is_some(),
            { raw::RedisModule_GetCurrentUserName }.is_some(),
            { raw::RedisModule_GetModuleUserFromUserName }.is_some(),
            { raw::RedisModule_FreeModuleUser }.is_some(),
            { raw::RedisModule_RegisterInfoFunc }.is_some(),
            { raw::RedisModule_SetModuleOptions }.is_some(),
            { raw::RedisModule_ScanCursorCreate }.is_some(),
            { raw::RedisModule_ScanCursorDestroy }.is_some(),
            { raw::RedisModule_GetContextFlags }.is_some(),
            { raw::RedisModule_Milliseconds }.is_some(),
            { raw::RedisModule_ReplyWithStringBuffer }.is_some(),
            { raw::RedisModule_ReplyWithArray }.is_some(),
            { raw::RedisModule_IsIOError }.is_some(),
            { raw::RedisModule_InfoAddSection }.is_some(),
            { raw::RedisModule_InfoAddFieldULongLong }.is_some(),
            { raw::RedisModule_Log }.is_some(),
            { raw::RedisModule_LogIOError }.is_some(),
            { raw::RedisModule_Call }.is_some(),
            // The core calls, there since Redis 4.0.
            { raw::RedisModule_OpenKey }.is_some(),
            { raw::RedisModule_CloseKey }.is_some(),
            { raw::RedisModule_KeyType }.is_some(),
            { raw::RedisModule_ValueLength }.is_some(),
            { raw::RedisModule_DeleteKey }.is_some(),
            { raw::RedisModule_CreateString }.is_some(),
            { raw::RedisModule_FreeString }.is_some(),
            { raw::RedisModule_StringPtrLen }.is_some(),
            { raw::RedisModule_Free }.is_some(),
            { raw::RedisModule_ReplyWithError }.is_some(),
            { raw::RedisModule_ReplyWithLongLong }.is_some(),
            { raw::RedisModule_ReplyWithSimpleString }.is_some(),
            { raw::RedisModule_WrongArity }.is_some(),
            { raw::RedisModule_SaveUnsigned }.is_some(),
            { raw::RedisModule_LoadUnsigned }.is_some(),
            { raw::RedisModule_SaveStringBuffer }.is_some(),
            { raw::RedisModule_LoadStringBuffer }.is_some(),
        ]
        .iter()
        .all(|&present| present)
    }
}

/// Templates live in the RDB as aux data. An AOF rewritten without the RDB
/// preamble holds only keyspace commands, so templates would not survive it.
fn warn_if_aof_cannot_hold_templates(ctx: *mut raw::RedisModuleCtx) {
    use redis_module::RedisValue;
    let context = redis_module::Context::new(ctx);
    let preamble = context.call("CONFIG", &["GET", "aof-use-rdb-preamble"]);
    let off = matches!(&preamble, Ok(RedisValue::Array(v))
        if v.get(1).is_some_and(|value| matches!(value,
            RedisValue::SimpleString(s) | RedisValue::BulkString(s) if s == "no")));
    if off {
        Ctx::new(ctx).log_warning(
            "calc: aof-use-rdb-preamble is off: templates (RDB aux data) will not survive an AOF rewrite; \
             set aof-use-rdb-preamble yes or re-register templates after a restart",
        );
    }
}

extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    let fields = [
        (c"templates", registry().len() as u64),
        (
            c"commands_served",
            stats::COMMANDS_SERVED.load(Ordering::Relaxed),
        ),
        (
            c"decode_errors",
            stats::DECODE_ERRORS.load(Ordering::Relaxed),
        ),
        (
            c"mismatches_read_as_nil",
            stats::MISMATCHES_READ_AS_NIL.load(Ordering::Relaxed),
        ),
    ];
    unsafe {
        // An empty section name gives the section the module's own name: `INFO calc`.
        raw::RedisModule_InfoAddSection.unwrap()(ctx, c"".as_ptr());
        for (name, value) in fields {
            raw::RedisModule_InfoAddFieldULongLong.unwrap()(ctx, name.as_ptr(), value);
        }
    }
}
