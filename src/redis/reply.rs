//! The one reply writer. Commands and the decoder write replies through it,
//! straight into the client's output buffer: no intermediate reply tree.
//! Redis itself renders RESP3 types for RESP2 clients (map -> flat array,
//! boolean -> integer 1/0, double and big number -> bulk string).

use std::ffi::c_long;
use std::io::Write;

use redis_module::raw;

use crate::msgpack::Sink;

pub struct ReplyWriter {
    ctx: *mut raw::RedisModuleCtx,
}

impl ReplyWriter {
    pub(super) fn new(ctx: *mut raw::RedisModuleCtx) -> Self {
        ReplyWriter { ctx }
    }

    pub fn integer(&mut self, value: i64) {
        unsafe { raw::RedisModule_ReplyWithLongLong.unwrap()(self.ctx, value) };
    }

    pub fn ok(&mut self) {
        unsafe { raw::RedisModule_ReplyWithSimpleString.unwrap()(self.ctx, c"OK".as_ptr()) };
    }

    pub fn null(&mut self) {
        unsafe { raw::RedisModule_ReplyWithNull.unwrap()(self.ctx) };
    }

    pub fn wrong_arity(&mut self) {
        unsafe { raw::RedisModule_WrongArity.unwrap()(self.ctx) };
    }

    /// `message` starts with its error code (`ERR`, `WRONGTYPE`, ...). Redis
    /// replaces any newline in it; an interior NUL is replaced here.
    pub fn error(&mut self, message: &str) {
        let message = super::c_text(message);
        unsafe { raw::RedisModule_ReplyWithError.unwrap()(self.ctx, message.as_ptr()) };
    }
}

impl Sink for ReplyWriter {
    fn nil(&mut self) {
        self.null();
    }

    fn boolean(&mut self, value: bool) {
        unsafe { raw::RedisModule_ReplyWithBool.unwrap()(self.ctx, value as i32) };
    }

    fn int(&mut self, value: i64) {
        self.integer(value);
    }

    fn big_uint(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let mut w = &mut digits[..];
        // u64::MAX has 20 digits: the buffer always fits.
        let _ = write!(w, "{value}");
        let len = 20 - w.len();
        unsafe {
            raw::RedisModule_ReplyWithBigNumber.unwrap()(self.ctx, digits.as_ptr().cast(), len)
        };
    }

    fn float(&mut self, value: f64) {
        unsafe { raw::RedisModule_ReplyWithDouble.unwrap()(self.ctx, value) };
    }

    fn bytes(&mut self, value: &[u8]) {
        unsafe {
            raw::RedisModule_ReplyWithStringBuffer.unwrap()(
                self.ctx,
                value.as_ptr().cast(),
                value.len(),
            )
        };
    }

    fn array(&mut self, len: usize) {
        unsafe { raw::RedisModule_ReplyWithArray.unwrap()(self.ctx, len as c_long) };
    }

    fn map(&mut self, pairs: usize) {
        unsafe { raw::RedisModule_ReplyWithMap.unwrap()(self.ctx, pairs as c_long) };
    }
}
