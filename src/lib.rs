//! redis-calc: hashes with a creation-only TTL, msgpack values decoded against
//! templates, and symmetric a2b purges, as native atomic Redis commands.
//! This file only declares the module; each concern lives in its own file.

pub mod commands;
pub mod effects;
pub mod error;
#[cfg(any(test, fuzzing))]
pub mod fuzz_checks;
pub mod keys;
pub mod msgpack;
pub mod reply;
pub mod template;

// Unit tests and fuzz targets link this crate as a plain library, outside
// Redis: there the module (and its Redis-backed global allocator) must not exist.
#[cfg(not(any(test, fuzzing)))]
mod module {
    use std::ffi::c_int;
    use std::sync::atomic::Ordering;

    use redis_module::{raw, redis_module, Context, RedisString, RedisValue, Status};

    use crate::commands::{dict, hash, purge, template as tpl, COMMANDS_SERVED, DECODE_ERRORS};
    use crate::template::{registry, TEMPLATE_AUX_TYPE};

    /// Module API calls the commands make. All exist since Redis 7.0; checking them
    /// at load makes a missing one a refused `loadmodule`, never a crash later.
    fn required_api_present() -> bool {
        [
            unsafe { raw::RedisModule_ReplyWithMap }.is_some(),
            unsafe { raw::RedisModule_ReplyWithBool }.is_some(),
            unsafe { raw::RedisModule_ReplyWithBigNumber }.is_some(),
            unsafe { raw::RedisModule_ReplyWithDouble }.is_some(),
            unsafe { raw::RedisModule_ReplyWithNull }.is_some(),
            unsafe { raw::RedisModule_HashSet }.is_some(),
            unsafe { raw::RedisModule_HashGet }.is_some(),
            unsafe { raw::RedisModule_ScanKey }.is_some(),
            unsafe { raw::RedisModule_SetExpire }.is_some(),
            unsafe { raw::RedisModule_Replicate }.is_some(),
            unsafe { raw::RedisModule_ReplicateVerbatim }.is_some(),
            unsafe { raw::RedisModule_NotifyKeyspaceEvent }.is_some(),
            unsafe { raw::RedisModule_ACLCheckKeyPermissions }.is_some(),
            unsafe { raw::RedisModule_GetCurrentUserName }.is_some(),
            unsafe { raw::RedisModule_GetModuleUserFromUserName }.is_some(),
            unsafe { raw::RedisModule_FreeModuleUser }.is_some(),
            unsafe { raw::RedisModule_RegisterInfoFunc }.is_some(),
            unsafe { raw::RedisModule_SetModuleOptions }.is_some(),
            unsafe { raw::RedisModule_ScanCursorCreate }.is_some(),
            unsafe { raw::RedisModule_ScanCursorDestroy }.is_some(),
            unsafe { raw::RedisModule_GetContextFlags }.is_some(),
            unsafe { raw::RedisModule_Milliseconds }.is_some(),
            unsafe { raw::RedisModule_ReplyWithStringBuffer }.is_some(),
            unsafe { raw::RedisModule_ReplyWithArray }.is_some(),
            unsafe { raw::RedisModule_IsIOError }.is_some(),
            unsafe { raw::RedisModule_InfoAddSection }.is_some(),
            unsafe { raw::RedisModule_InfoAddFieldULongLong }.is_some(),
            // The core calls, there since Redis 4.0: listed so that every
            // pointer the module unwraps is one checked here.
            unsafe { raw::RedisModule_OpenKey }.is_some(),
            unsafe { raw::RedisModule_CloseKey }.is_some(),
            unsafe { raw::RedisModule_KeyType }.is_some(),
            unsafe { raw::RedisModule_ValueLength }.is_some(),
            unsafe { raw::RedisModule_DeleteKey }.is_some(),
            unsafe { raw::RedisModule_CreateString }.is_some(),
            unsafe { raw::RedisModule_FreeString }.is_some(),
            unsafe { raw::RedisModule_StringPtrLen }.is_some(),
            unsafe { raw::RedisModule_Free }.is_some(),
            unsafe { raw::RedisModule_ReplyWithError }.is_some(),
            unsafe { raw::RedisModule_ReplyWithLongLong }.is_some(),
            unsafe { raw::RedisModule_ReplyWithSimpleString }.is_some(),
            unsafe { raw::RedisModule_WrongArity }.is_some(),
            unsafe { raw::RedisModule_SaveUnsigned }.is_some(),
            unsafe { raw::RedisModule_LoadUnsigned }.is_some(),
            unsafe { raw::RedisModule_SaveStringBuffer }.is_some(),
            unsafe { raw::RedisModule_LoadStringBuffer }.is_some(),
        ]
        .iter()
        .all(|&present| present)
    }

    fn init(ctx: &Context, _args: &[RedisString]) -> Status {
        if !required_api_present() {
            ctx.log_warning("calc: this Redis lacks module API calls the module needs (Redis 7.0 or newer is required)");
            return Status::Err;
        }
        unsafe {
            // Our own INFO section ("# calc"), replacing the crate's generic handler.
            raw::RedisModule_RegisterInfoFunc.unwrap()(ctx.ctx, Some(info));
            // The template aux loader checks every read, so a truncated file is a
            // refused load with our log line, not a crash inside the loader.
            raw::RedisModule_SetModuleOptions.unwrap()(
                ctx.ctx,
                raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS as c_int,
            );
        }
        warn_if_aof_cannot_hold_templates(ctx);
        Status::Ok
    }

    /// Templates live in the RDB as aux data. An AOF rewritten without the RDB
    /// preamble holds only keyspace commands, so templates would not survive it.
    fn warn_if_aof_cannot_hold_templates(ctx: &Context) {
        let preamble = ctx.call("CONFIG", &["GET", "aof-use-rdb-preamble"]);
        let off = matches!(&preamble, Ok(RedisValue::Array(v))
            if v.get(1).is_some_and(|value| matches!(value,
                RedisValue::SimpleString(s) | RedisValue::BulkString(s) if s == "no")));
        if off {
            ctx.log_warning(
                "calc: aof-use-rdb-preamble is off: templates (RDB aux data) will not survive an AOF rewrite; \
                 set aof-use-rdb-preamble yes or re-register templates after a restart",
            );
        }
    }

    extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
        let templates = registry().len() as u64;
        unsafe {
            // An empty section name gives the section the module's own name: `INFO calc`.
            raw::RedisModule_InfoAddSection.unwrap()(ctx, c"".as_ptr());
            let field = raw::RedisModule_InfoAddFieldULongLong.unwrap();
            field(ctx, c"templates".as_ptr(), templates);
            field(
                ctx,
                c"commands_served".as_ptr(),
                COMMANDS_SERVED.load(Ordering::Relaxed),
            );
            field(
                ctx,
                c"decode_errors".as_ptr(),
                DECODE_ERRORS.load(Ordering::Relaxed),
            );
        }
    }

    redis_module! {
        name: "calc",
        version: 1,
        allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
        data_types: [TEMPLATE_AUX_TYPE],
        init: init,
        // ACL categories stay "": Redis 7.0 cannot set them for module commands and
        // derives @read/@write/@fast from the flags instead.
        commands: [
            ["calc.hsetex", hash::hsetex, "write deny-oom fast", 1, 1, 1, ""],
            ["calc.a2bset", hash::a2bset, "write deny-oom fast", 1, 2, 1, ""],
            ["calc.getdict", dict::getdict, "readonly fast", 1, 1, 1, ""],
            ["calc.mgetdict", dict::mgetdict, "readonly", 1, 1, 1, ""],
            ["calc.purgea", purge::purgea, "write", 1, 1, 1, ""],
            ["calc.template.set", tpl::set, "write deny-oom", 0, 0, 0, ""],
            ["calc.template.get", tpl::get, "readonly fast", 0, 0, 0, ""],
            ["calc.template.del", tpl::del, "write", 0, 0, 0, ""],
            ["calc.template.list", tpl::list, "readonly", 0, 0, 0, ""],
        ],
    }
}
