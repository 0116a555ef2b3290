//! What a write tells the rest of the server: replication (to replicas and the
//! AOF) and keyspace notifications, the same events the design note's Lua
//! scripts produce.
//!
//! Every write replicates as one module command and never with a relative
//! expiry: as sent (`verbatim`), where the data the replica already holds
//! decides the whole outcome (keys that exist, a purge) or the call gave an
//! absolute expiry; else in its absolute form (`... PXAT <unix-ms>`), the time
//! the keys it created got.

use std::ffi::{c_longlong, CStr};

use redis_module::raw;

use super::{Arg, Ctx, RedisStr};

fn notify(ctx: Ctx, class: i32, event: &CStr, key: &impl RedisStr) {
    unsafe {
        raw::RedisModule_NotifyKeyspaceEvent.unwrap()(ctx.ptr, class, event.as_ptr(), key.ptr())
    };
}

/// Fields of the hash at `key` were set (HSET's event).
pub fn notify_hset(ctx: Ctx, key: &impl RedisStr) {
    notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hset", key);
}

/// A key the command created got its expiry (EXPIRE's event).
pub fn notify_expire(ctx: Ctx, key: &impl RedisStr) {
    notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"expire", key);
}

/// A field of the hash at `key` was removed; `emptied` when that deleted the
/// hash (HDEL then also emits `del`).
pub fn notify_hdel(ctx: Ctx, key: &impl RedisStr, emptied: bool) {
    notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hdel", key);
    if emptied {
        notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", key);
    }
}

/// The key existed and was deleted.
pub fn notify_del(ctx: Ctx, key: &impl RedisStr) {
    notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", key);
}

/// The command replicates as it was sent.
pub fn verbatim(ctx: Ctx) {
    unsafe { raw::RedisModule_ReplicateVerbatim.unwrap()(ctx.ptr) };
}

/// `CALC.HSETEX key field value ... PXAT at`. `Arg` is a transparent Redis
/// string pointer: the slice is the vector the "v" format takes.
pub fn replicate_hsetex_at(ctx: Ctx, key: &Arg, pairs: &[Arg], at_ms: i64) {
    unsafe {
        raw::RedisModule_Replicate.unwrap()(
            ctx.ptr,
            c"CALC.HSETEX".as_ptr(),
            c"svcl".as_ptr(),
            key.ptr(),
            pairs.as_ptr(),
            pairs.len(),
            c"PXAT".as_ptr(),
            at_ms as c_longlong,
        );
    }
}

/// `CALC.A2BSET akey bkey id_a id_b value PXAT at`.
pub fn replicate_a2bset_at(ctx: Ctx, stash: &[Arg], at_ms: i64) {
    unsafe {
        raw::RedisModule_Replicate.unwrap()(
            ctx.ptr,
            c"CALC.A2BSET".as_ptr(),
            c"vcl".as_ptr(),
            stash.as_ptr(),
            stash.len(),
            c"PXAT".as_ptr(),
            at_ms as c_longlong,
        );
    }
}
