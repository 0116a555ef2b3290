//! What a write tells the rest of the server: replication (to replicas and the
//! AOF) and keyspace notifications, the same events the design note's Lua
//! scripts produce. Redis wraps everything one command replicates in
//! MULTI/EXEC, so replicas apply it atomically.
//!
//! A write replicates one of two ways (`Replication`). Where the data the
//! replica already holds decides the whole outcome (a write to keys that
//! exist, a purge), the command itself is cheaper: one `ReplicateVerbatim`
//! at the end. A write that creates a key replicates as effects, `HSET` then
//! `PEXPIREAT` with the absolute time, so no relative expiry ever reaches a
//! replica or the AOF.

use std::ffi::{c_longlong, CStr};

use redis_module::raw;

use super::{Arg, Ctx, RedisStr};

fn notify(ctx: Ctx, class: i32, event: &CStr, key: &impl RedisStr) {
    unsafe {
        raw::RedisModule_NotifyKeyspaceEvent.unwrap()(ctx.ptr, class, event.as_ptr(), key.ptr())
    };
}

/// How a command's writes reach replicas and the AOF.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// As the command itself: `verbatim` once, after every change.
    Verbatim,
    /// As one plain command per change.
    Effects,
}

/// `HSET key field value ...` for the given pairs (already applied).
pub fn hset(ctx: Ctx, how: Replication, key: &impl RedisStr, pairs: &[Arg]) {
    notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hset", key);
    if how == Replication::Verbatim {
        return;
    }
    let replicate = unsafe { raw::RedisModule_Replicate.unwrap() };
    unsafe {
        match pairs {
            [field, value] => replicate(
                ctx.ptr,
                c"HSET".as_ptr(),
                c"sss".as_ptr(),
                key.ptr(),
                field.ptr(),
                value.ptr(),
            ),
            // `Arg` is a transparent Redis string pointer: the slice is the
            // vector the "v" format takes.
            _ => replicate(
                ctx.ptr,
                c"HSET".as_ptr(),
                c"sv".as_ptr(),
                key.ptr(),
                pairs.as_ptr(),
                pairs.len(),
            ),
        };
    }
}

/// The expiry of a key the command created, as the absolute time it was set
/// to: always an effect.
pub fn expire_at(ctx: Ctx, key: &impl RedisStr, at_ms: i64) {
    unsafe {
        raw::RedisModule_Replicate.unwrap()(
            ctx.ptr,
            c"PEXPIREAT".as_ptr(),
            c"sl".as_ptr(),
            key.ptr(),
            at_ms as c_longlong,
        );
    }
    notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"expire", key);
}

/// `HDEL key field` that removed the field; `emptied` when that deleted the hash
/// (HDEL then also emits `del`).
pub fn hdel(ctx: Ctx, how: Replication, key: &impl RedisStr, field: &impl RedisStr, emptied: bool) {
    if how == Replication::Effects {
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
    notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hdel", key);
    if emptied {
        notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", key);
    }
}

/// `DEL key` of a key that existed.
pub fn del(ctx: Ctx, how: Replication, key: &impl RedisStr) {
    if how == Replication::Effects {
        unsafe {
            raw::RedisModule_Replicate.unwrap()(ctx.ptr, c"DEL".as_ptr(), c"s".as_ptr(), key.ptr());
        }
    }
    notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", key);
}

/// The command replicates as sent: after a `Verbatim` write's changes, and for
/// template commands, which have no keyspace effect.
pub fn verbatim(ctx: Ctx) {
    unsafe { raw::RedisModule_ReplicateVerbatim.unwrap()(ctx.ptr) };
}
