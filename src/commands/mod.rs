//! Command families, one file each. Every command has the same shape:
//! parse args -> open keys with checks -> act -> replicate/notify -> reply.
//! `run` is the boundary between Redis and that body.

pub mod dict;
pub mod hash;
pub mod purge;
pub mod template;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use redis_module::{raw, Context, RedisResult, RedisString, RedisValue};

use crate::error::CalcError;
use crate::keys::{bytes_of, now_ms};
use crate::reply::ReplyWriter;

pub type Ctx = *mut raw::RedisModuleCtx;

/// A command body: writes its reply through the writer, or returns the error to
/// answer with. On error it must not have changed anything or written a reply.
pub type Body = fn(Ctx, &[RedisString], &mut ReplyWriter) -> Result<(), CalcError>;

pub static COMMANDS_SERVED: AtomicU64 = AtomicU64::new(0);
pub static DECODE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Runs a command body and answers its error. A panic is caught here, the last
/// line of defence: unwinding into Redis's C code would abort the server and take
/// every user's data with it.
pub fn run(ctx: &Context, args: Vec<RedisString>, body: Body) -> RedisResult {
    COMMANDS_SERVED.fetch_add(1, Ordering::Relaxed);
    let mut reply = ReplyWriter::new(ctx.ctx);
    let error = match catch_unwind(AssertUnwindSafe(|| body(ctx.ctx, &args, &mut reply))) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ctx.log_warning(&format!("calc: command aborted by an internal error: {what}"));
            Some(CalcError::Internal)
        }
    };
    match error {
        None => {}
        Some(CalcError::WrongArity) => reply.wrong_arity(),
        Some(e) => {
            if e.is_decode() {
                DECODE_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
            reply.error(&e.to_string());
        }
    }
    Ok(RedisValue::NoReply)
}

/// `seconds` as the absolute unix time in ms the key expires at. Positive
/// integers only; anything else, or a time that overflows, is an error.
pub fn parse_expire_at(seconds: &RedisString, command: &'static str) -> Result<i64, CalcError> {
    let invalid = CalcError::InvalidExpire { command };
    let seconds: i64 = std::str::from_utf8(bytes_of(seconds.inner))
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(invalid)?;
    seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(now_ms()))
        .filter(|_| seconds > 0)
        .ok_or(CalcError::InvalidExpire { command })
}
