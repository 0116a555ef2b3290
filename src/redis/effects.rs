//! What a write tells the rest of the server: keyspace notifications (fired
//! through `HashKey::close_and_notify`, so a key is always closed first) and
//! replication to replicas and the AOF.

use std::ffi::{c_longlong, CStr};

use redis_module::raw;

use super::{Arg, Ctx};

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
    // SAFETY: the command's context; `Arg` is a transparent Redis string
    // pointer, so `args` is the string vector the "v" format takes, with its
    // length; the other arguments match the format's "c" and "l".
    unsafe {
        let replicate = raw::RedisModule_Replicate.unwrap();
        match pxat {
            Some(at) => replicate(
                ctx.ptr,
                command.as_ptr(),
                c"vcl".as_ptr(),
                args.as_ptr(),
                args.len(),
                c"PXAT".as_ptr(),
                at as c_longlong,
            ),
            None => replicate(
                ctx.ptr,
                command.as_ptr(),
                c"v".as_ptr(),
                args.as_ptr(),
                args.len(),
            ),
        }
    };
}
