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
            ctx.log_warning(&format!(
                "calc: command aborted by an internal error: {what}"
            ));
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

/// The latest "now" the expiry bound allows for: 2^43 ms after the epoch, the
/// year 2248. It lets `parse_ttl` reject every expiry that could overflow
/// without reading the clock on the hot path (an existing key needs no expiry).
const LATEST_NOW_MS: i64 = 1 << 43;
const MAX_TTL_SECONDS: i64 = (i64::MAX - LATEST_NOW_MS) / 1000;

/// A validated TTL. The absolute expiry is computed on first use, once per
/// command, so every key one command creates expires at the same instant.
pub struct Ttl {
    ms: i64,
    at: std::cell::Cell<Option<i64>>,
}

impl Ttl {
    pub fn expire_at(&self) -> i64 {
        let at = self.at.get().unwrap_or_else(|| now_ms() + self.ms);
        self.at.set(Some(at));
        at
    }
}

/// `seconds`: a positive integer whose expiry cannot overflow; anything else
/// is `ERR invalid expire time`.
pub fn parse_ttl(seconds: &RedisString, command: &'static str) -> Result<Ttl, CalcError> {
    // Digits only (no sign, no spaces), folded by hand since it runs on every
    // HSETEX; an empty string folds to 0, which the range refuses.
    bytes_of(seconds.inner)
        .iter()
        .try_fold(0i64, |n, &b| {
            b.is_ascii_digit()
                .then(|| n.checked_mul(10)?.checked_add(i64::from(b - b'0')))
                .flatten()
        })
        .filter(|&s| (1..=MAX_TTL_SECONDS).contains(&s))
        .map(|s| Ttl {
            ms: s * 1000,
            at: std::cell::Cell::new(None),
        })
        .ok_or(CalcError::InvalidExpire { command })
}
