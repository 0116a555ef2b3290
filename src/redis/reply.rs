//! The one reply writer. Commands and the decoder write replies through it,
//! straight into the client's output buffer: no intermediate reply tree.
//! Redis itself renders RESP3 types for RESP2 clients (map -> flat array,
//! boolean -> integer 1/0, double and big number -> bulk string).

use std::ffi::c_long;
use std::io::Write;

use redis_module::raw;

pub struct ReplyWriter {
    ctx: *mut raw::RedisModuleCtx,
}

// SAFETY (every method): `self.ctx` is the context of the command being run,
// alive for as long as the writer (which `command::run` makes per call); the
// pointers passed with a length describe live bytes.
impl ReplyWriter {
    pub(super) fn new(ctx: *mut raw::RedisModuleCtx) -> Self {
        ReplyWriter { ctx }
    }

    pub fn integer(&mut self, value: i64) {
        // SAFETY: see the impl.
        unsafe { raw::RedisModule_ReplyWithLongLong.unwrap()(self.ctx, value) };
    }

    pub fn ok(&mut self) {
        // SAFETY: see the impl; a static NUL-terminated string.
        unsafe { raw::RedisModule_ReplyWithSimpleString.unwrap()(self.ctx, c"OK".as_ptr()) };
    }

    /// A simple string (a status line, as HELP texts are).
    pub fn simple(&mut self, line: &str) {
        let line = super::c_text(line);
        // SAFETY: see the impl; a NUL-terminated copy of the line.
        unsafe { raw::RedisModule_ReplyWithSimpleString.unwrap()(self.ctx, line.as_ptr()) };
    }

    pub fn null(&mut self) {
        // SAFETY: see the impl.
        unsafe { raw::RedisModule_ReplyWithNull.unwrap()(self.ctx) };
    }

    pub fn boolean(&mut self, value: bool) {
        // SAFETY: see the impl.
        unsafe { raw::RedisModule_ReplyWithBool.unwrap()(self.ctx, value as i32) };
    }

    /// An unsigned integer above `i64::MAX`: a RESP3 big number (RESP2: a bulk
    /// string).
    pub fn big_uint(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let mut w = &mut digits[..];
        // u64::MAX has 20 digits: the buffer always fits.
        let _ = write!(w, "{value}");
        let len = 20 - w.len();
        // SAFETY: see the impl; `len` digits were written to `digits`.
        unsafe {
            raw::RedisModule_ReplyWithBigNumber.unwrap()(self.ctx, digits.as_ptr().cast(), len)
        };
    }

    pub fn double(&mut self, value: f64) {
        // SAFETY: see the impl.
        unsafe { raw::RedisModule_ReplyWithDouble.unwrap()(self.ctx, value) };
    }

    /// A bulk string; binary-safe.
    pub fn bytes(&mut self, value: &[u8]) {
        // SAFETY: see the impl; `value` is live for its length.
        unsafe {
            raw::RedisModule_ReplyWithStringBuffer.unwrap()(
                self.ctx,
                value.as_ptr().cast(),
                value.len(),
            )
        };
    }

    /// An array of `len` elements; the next `len` replies are its elements.
    pub fn array(&mut self, len: usize) {
        // SAFETY: see the impl.
        unsafe { raw::RedisModule_ReplyWithArray.unwrap()(self.ctx, len as c_long) };
    }

    /// A map of `pairs` entries (RESP2: a flat array); the next `2 * pairs`
    /// replies are its keys and values.
    pub fn map(&mut self, pairs: usize) {
        // SAFETY: see the impl.
        unsafe { raw::RedisModule_ReplyWithMap.unwrap()(self.ctx, pairs as c_long) };
    }

    pub fn wrong_arity(&mut self) {
        // SAFETY: see the impl.
        unsafe { raw::RedisModule_WrongArity.unwrap()(self.ctx) };
    }

    /// `message` starts with its error code (`ERR`, `WRONGTYPE`, ...). Redis
    /// replaces any newline in it; an interior NUL is replaced here.
    pub fn error(&mut self, message: &str) {
        let message = super::c_text(message);
        // SAFETY: see the impl; a NUL-terminated copy of the message.
        unsafe { raw::RedisModule_ReplyWithError.unwrap()(self.ctx, message.as_ptr()) };
    }
}
