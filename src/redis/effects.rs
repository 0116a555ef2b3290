//! What a write tells the rest of the server: replication (to replicas and the
//! AOF) and keyspace notifications, the same events the design note's Lua
//! scripts produce.
//!
//! No write ever replicates a relative expiry. A write replicates as sent
//! (`verbatim`) where the data the replica already holds decides the whole
//! outcome (keys that exist) or the call gave an absolute expiry; as its
//! absolute form (`... PXAT <unix-ms>`), the time the keys it created got;
//! or, where the outcome depends on what the server reads at the time (a
//! purge walks fields that may carry their own TTL), by its effects, native
//! commands that Redis wraps in MULTI/EXEC (`replicate_hdel`, `replicate_del`).

use std::ffi::{c_longlong, CStr};
use std::sync::atomic::{AtomicBool, Ordering};

use redis_module::raw;

use super::{Arg, Ctx, RedisStr};

/// Whether a hash field can carry its own TTL on this server, so that what a
/// command reads can differ, by the clock alone, between the primary, a
/// replica and an AOF load. Yes until the load has placed the server.
static FIELDS_CAN_EXPIRE: AtomicBool = AtomicBool::new(true);

/// Places the server at load: hash-field expiry exists from Redis 7.4 and
/// Valkey 9. A server that cannot be placed counts as having it, which only
/// costs replication by effects where it was not needed.
#[cfg(not(any(test, fuzzing)))]
pub(super) fn detect_field_expiry(ctx: *mut raw::RedisModuleCtx) {
    // SAFETY: called from RedisModule_OnLoad with its context; the info data
    // is freed before returning and the field pointer is not kept.
    let none = unsafe {
        let version = match raw::RedisModule_GetServerVersion {
            Some(version) => version(),
            None => return,
        };
        let (Some(get), Some(field), Some(free)) = (
            raw::RedisModule_GetServerInfo,
            raw::RedisModule_ServerInfoGetFieldC,
            raw::RedisModule_FreeServerInfo,
        ) else {
            return;
        };
        let info = get(ctx, c"server".as_ptr());
        if info.is_null() {
            return;
        }
        // Valkey reports its own version here (8.0.1 is 0x080001).
        let valkey = !field(info, c"valkey_version".as_ptr()).is_null();
        free(ctx, info);
        if valkey {
            version < 0x09_00_00
        } else {
            version < 0x07_04_00
        }
    };
    FIELDS_CAN_EXPIRE.store(!none, Ordering::Relaxed);
}

/// See `FIELDS_CAN_EXPIRE`.
pub fn fields_can_expire() -> bool {
    FIELDS_CAN_EXPIRE.load(Ordering::Relaxed)
}

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

/// `HDEL key field`, one effect of a command replicated by its effects.
pub fn replicate_hdel(ctx: Ctx, key: &impl RedisStr, field: &impl RedisStr) {
    // SAFETY: `ctx` is the running command's context; "ss" takes the two
    // Redis strings, which outlive the call (Redis retains what it keeps).
    unsafe {
        raw::RedisModule_Replicate.unwrap()(
            ctx.ptr,
            c"HDEL".as_ptr(),
            c"ss".as_ptr(),
            key.ptr(),
            field.ptr(),
        );
    }
}

/// `DEL key`, one effect of a command replicated by its effects.
pub fn replicate_del(ctx: Ctx, key: &impl RedisStr) {
    // SAFETY: as in `replicate_hdel`.
    unsafe {
        raw::RedisModule_Replicate.unwrap()(ctx.ptr, c"DEL".as_ptr(), c"s".as_ptr(), key.ptr());
    }
}
