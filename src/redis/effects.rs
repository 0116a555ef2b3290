//! What a write tells the rest of the server: replication (to replicas and the
//! AOF, as effects: plain HSET/PEXPIREAT/HDEL/DEL, never a relative expiry, never
//! the module command itself) and keyspace notifications, the same events the
//! design note's Lua scripts produce. Redis wraps everything one command
//! replicates in MULTI/EXEC, so replicas apply it atomically.

use std::ffi::{c_longlong, CStr};

use redis_module::raw;

use crate::keys::KeyName;

type Ctx = *mut raw::RedisModuleCtx;

fn notify(ctx: Ctx, class: i32, event: &CStr, key: &impl KeyName) {
    unsafe {
        raw::RedisModule_NotifyKeyspaceEvent.unwrap()(ctx, class, event.as_ptr(), key.key_ptr())
    };
}

/// `HSET key field value ...` for the given pairs (already applied).
pub fn hset(ctx: Ctx, key: &impl KeyName, pairs: &[*mut raw::RedisModuleString]) {
    let replicate = unsafe { raw::RedisModule_Replicate.unwrap() };
    unsafe {
        match pairs {
            [field, value] => replicate(
                ctx,
                c"HSET".as_ptr(),
                c"sss".as_ptr(),
                key.key_ptr(),
                *field,
                *value,
            ),
            _ => replicate(
                ctx,
                c"HSET".as_ptr(),
                c"sv".as_ptr(),
                key.key_ptr(),
                pairs.as_ptr(),
                pairs.len(),
            ),
        };
    }
    notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hset", key);
}

/// The expiry of a key the command created, as the absolute time it was set to.
pub fn expire_at(ctx: Ctx, key: &impl KeyName, at_ms: i64) {
    unsafe {
        raw::RedisModule_Replicate.unwrap()(
            ctx,
            c"PEXPIREAT".as_ptr(),
            c"sl".as_ptr(),
            key.key_ptr(),
            at_ms as c_longlong,
        );
    }
    notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"expire", key);
}

/// `HDEL key field` that removed the field; `emptied` when that deleted the hash
/// (HDEL then also emits `del`).
pub fn hdel(ctx: Ctx, key: &impl KeyName, field: *mut raw::RedisModuleString, emptied: bool) {
    unsafe {
        raw::RedisModule_Replicate.unwrap()(
            ctx,
            c"HDEL".as_ptr(),
            c"ss".as_ptr(),
            key.key_ptr(),
            field,
        );
    }
    notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hdel", key);
    if emptied {
        notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", key);
    }
}

/// `DEL key` of a key that existed.
pub fn del(ctx: Ctx, key: &impl KeyName) {
    unsafe {
        raw::RedisModule_Replicate.unwrap()(ctx, c"DEL".as_ptr(), c"s".as_ptr(), key.key_ptr());
    }
    notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", key);
}

/// Template commands have no keyspace effect; they replicate as sent.
pub fn verbatim(ctx: Ctx) {
    unsafe { raw::RedisModule_ReplicateVerbatim.unwrap()(ctx) };
}
