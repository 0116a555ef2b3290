//! The start of an AOF rewrite, for state the rewrite does not write. A
//! rewrite with the RDB preamble carries the module's aux data; one without it
//! writes only the keyspace (and Functions), and the module API has no hook
//! into it for aux data. What it does offer: the rewrite opens the new
//! incremental AOF file before it forks, and everything propagated from then
//! on is appended to that file, which a restart loads right after the
//! rewritten base. So a hook run in the parent when the AOF child is born can
//! record the state there as commands (`effects::record_in_aof`).

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use redis_module::{raw, RedisValue};

use super::Ctx;

static HOOK: OnceLock<fn(Ctx)> = OnceLock::new();

/// A retry is waiting for a client pause to end.
static RETRY_ARMED: AtomicBool = AtomicBool::new(false);

/// How often a hook held back by a client pause looks again, in ms.
const RETRY_MS: i64 = 100;

/// Runs `hook` each time an AOF rewrite starts (in the server, not the child),
/// after the new incremental file is open. While clients are paused (`CLIENT
/// PAUSE WRITE`, a failover) Redis forbids propagating anything, so the hook
/// then runs when the pause ends.
pub fn on_aof_rewrite(ctx: Ctx, hook: fn(Ctx)) -> Result<(), String> {
    HOOK.set(hook)
        .map_err(|_| "the AOF rewrite hook is already set".to_string())?;
    let event = raw::RedisModuleEvent {
        id: raw::REDISMODULE_EVENT_FORK_CHILD,
        dataver: 1,
    };
    // SAFETY: called during OnLoad with its context; `fork_child` lives
    // forever.
    let status = unsafe {
        raw::RedisModule_SubscribeToServerEvent.unwrap()(ctx.ptr, event, Some(fork_child))
    };
    if status == raw::REDISMODULE_OK as c_int {
        Ok(())
    } else {
        Err("cannot subscribe to the fork event".to_string())
    }
}

extern "C" fn fork_child(
    ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    if subevent != raw::REDISMODULE_SUBEVENT_FORK_CHILD_BORN {
        return;
    }
    let ctx = Ctx::new(ctx);
    // The child just born is the AOF rewrite's (not a BGSAVE's or a module's).
    if aof_rewrite_in_progress(ctx) {
        run_hook(ctx);
    }
}

fn aof_rewrite_in_progress(ctx: Ctx) -> bool {
    let context = redis_module::Context::new(ctx.ptr);
    let text = match context.call("INFO", &["persistence"]) {
        Ok(RedisValue::SimpleString(s) | RedisValue::BulkString(s)) => s,
        Ok(RedisValue::StringBuffer(bytes) | RedisValue::VerbatimString((_, bytes))) => {
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => return false,
    };
    text.lines()
        .any(|line| line.trim_end() == "aof_rewrite_in_progress:1")
}

fn run_hook(ctx: Ctx) {
    // SAFETY: takes no argument, reads the server's pause state.
    let paused = unsafe { raw::RedisModule_AvoidReplicaTraffic.unwrap()() } != 0;
    if paused {
        if !RETRY_ARMED.swap(true, Ordering::Relaxed) {
            // SAFETY: the context of the event or timer in progress; `retry`
            // lives forever and takes no data.
            unsafe {
                raw::RedisModule_CreateTimer.unwrap()(
                    ctx.ptr,
                    RETRY_MS,
                    Some(retry),
                    ptr::null_mut(),
                )
            };
        }
        return;
    }
    if let Some(hook) = HOOK.get() {
        hook(ctx);
    }
}

extern "C" fn retry(ctx: *mut raw::RedisModuleCtx, _data: *mut c_void) {
    RETRY_ARMED.store(false, Ordering::Relaxed);
    run_hook(Ctx::new(ctx));
}
