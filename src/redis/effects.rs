//! What a write tells the rest of the server: keyspace notifications (fired
//! through `HashKey::close_and_notify`, so a key is always closed first) and
//! replication to replicas and the AOF.
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

use super::{Arg, Ctx, OwnedString, RedisStr};

/// Whether a hash field can carry its own TTL on this server, so that what a
/// command reads can differ, by the clock alone, between the primary, a
/// replica and an AOF load. Yes until the load has placed the server.
static FIELDS_CAN_EXPIRE: AtomicBool = AtomicBool::new(true);

/// Places the server at load: hash-field expiry exists from Redis 7.4 and
/// Valkey 9. A server that cannot be placed counts as having it, which only
/// costs replication by effects where it was not needed.
#[cfg(not(any(test, fuzzing)))]
pub fn detect_field_expiry(ctx: Ctx) {
    // SAFETY: called from RedisModule_OnLoad with its context; the optional
    // calls are used only where present; the info data is freed before
    // returning and the field pointer is not kept.
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
        let info = get(ctx.ptr, c"server".as_ptr());
        if info.is_null() {
            return;
        }
        // Valkey reports its own version here (8.0.1 is 0x080001).
        let valkey = !field(info, c"valkey_version".as_ptr()).is_null();
        free(ctx.ptr, info);
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

/// A keyspace event, as the native command that makes the same change fires it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Fields of a hash were set (HSET).
    Hset,
    /// A key got an expiry (EXPIRE).
    Expire,
    /// A field of a hash was removed (HDEL).
    Hdel,
    /// A key was deleted (DEL, or HDEL emptying a hash).
    Del,
}

impl Event {
    fn class_and_name(self) -> (i32, &'static CStr) {
        match self {
            Event::Hset => (raw::REDISMODULE_NOTIFY_HASH, c"hset"),
            Event::Expire => (raw::REDISMODULE_NOTIFY_GENERIC, c"expire"),
            Event::Hdel => (raw::REDISMODULE_NOTIFY_HASH, c"hdel"),
            Event::Del => (raw::REDISMODULE_NOTIFY_GENERIC, c"del"),
        }
    }
}

/// Fires `event` on the key named `key`, which no handle holds open.
pub(super) fn notify(ctx: Ctx, event: Event, key: *mut raw::RedisModuleString) {
    let (class, name) = event.class_and_name();
    // SAFETY: the command's context, a static event name and a live key name.
    unsafe { raw::RedisModule_NotifyKeyspaceEvent.unwrap()(ctx.ptr, class, name.as_ptr(), key) };
}

/// The command replicates as it was sent.
pub fn verbatim(ctx: Ctx) {
    // SAFETY: the command's context.
    unsafe { raw::RedisModule_ReplicateVerbatim.unwrap()(ctx.ptr) };
}

/// Replicates `command args...`, followed by `PXAT at` when `pxat` is given:
/// one command, as the replica and the AOF will run it.
pub fn replicate(ctx: Ctx, command: &CStr, args: &[Arg], pxat: Option<i64>) {
    // `Arg` is a transparent Redis string pointer, so `args` is the string
    // vector the "v" format takes.
    replicate_vector(
        ctx,
        command,
        args.as_ptr().cast(),
        args.len(),
        pxat,
        Target::All,
    );
}

/// `replicate` for strings the command made (`CALC.SETDICT`'s packed values)
/// among its arguments.
pub fn replicate_strings(ctx: Ctx, command: &CStr, strings: &[&dyn RedisStr], pxat: Option<i64>) {
    let vector: Vec<*mut raw::RedisModuleString> = strings.iter().map(|s| s.ptr()).collect();
    replicate_vector(
        ctx,
        command,
        vector.as_ptr(),
        vector.len(),
        pxat,
        Target::All,
    );
}

/// Where a replicated command goes.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// Replicas and the AOF, as every write.
    All,
    /// The AOF alone (the "R" modifier: no replica sees it).
    AofOnly,
}

fn replicate_vector(
    ctx: Ctx,
    command: &CStr,
    vector: *const *mut raw::RedisModuleString,
    len: usize,
    pxat: Option<i64>,
    target: Target,
) {
    let (with_pxat, plain) = match target {
        Target::All => (c"vcl", c"v"),
        Target::AofOnly => (c"Rvcl", c"Rv"),
    };
    // SAFETY: the context of the call in progress; `vector` points to `len`
    // live Redis strings (the "v" format's vector and length); the other
    // arguments match the format's "c" and "l" ("R" takes none).
    unsafe {
        let replicate = raw::RedisModule_Replicate.unwrap();
        match pxat {
            Some(at) => replicate(
                ctx.ptr,
                command.as_ptr(),
                with_pxat.as_ptr(),
                vector,
                len,
                c"PXAT".as_ptr(),
                at as c_longlong,
            ),
            None => replicate(ctx.ptr, command.as_ptr(), plain.as_ptr(), vector, len),
        }
    };
}

/// `HDEL key field`, one effect of a command replicated by its effects.
pub fn replicate_hdel(ctx: Ctx, key: &impl RedisStr, field: &impl RedisStr) {
    replicate_vector(
        ctx,
        c"HDEL",
        [key.ptr(), field.ptr()].as_ptr(),
        2,
        None,
        Target::All,
    );
}

/// `DEL key`, one effect of a command replicated by its effects.
pub fn replicate_del(ctx: Ctx, key: &impl RedisStr) {
    replicate_vector(ctx, c"DEL", [key.ptr()].as_ptr(), 1, None, Target::All);
}

/// `command args...` into the AOF alone, not to replicas (which hold it
/// already): state the server keeps outside the keyspace that a rewritten AOF
/// would otherwise lack. Redis runs it when the AOF is loaded.
pub fn record_in_aof(ctx: Ctx, command: &CStr, args: &[&[u8]]) {
    let strings: Vec<OwnedString> = args.iter().map(|arg| ctx.string(arg)).collect();
    let vector: Vec<*mut raw::RedisModuleString> = strings.iter().map(|s| s.ptr()).collect();
    replicate_vector(
        ctx,
        command,
        vector.as_ptr(),
        vector.len(),
        None,
        Target::AofOnly,
    );
}
