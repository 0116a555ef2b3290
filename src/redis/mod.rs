//! The one layer that talks to Redis. Every `RedisModule_*` call and every raw
//! pointer of the project lives below this folder: the module's load and
//! command registration (`module`, `command`, `register`), key access with the ACL, slot
//! and type checks (`keys`), what a write tells the rest of the server
//! (`effects`), the reply writer (`reply`) and the RDB aux I/O (`aux`). The
//! command files above it read as plain Rust.

pub mod aux;
pub mod command;
pub mod effects;
pub mod keys;
#[cfg(not(any(test, fuzzing)))]
mod module;
#[cfg(not(any(test, fuzzing)))]
mod register;
pub mod reply;

use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

use redis_module::{raw, ContextFlags};

/// The context of the command (or callback) being run. Only the redis layer
/// makes one, from the pointer Redis hands it; it lives as long as that call.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    ptr: *mut raw::RedisModuleCtx,
    _call: PhantomData<&'a ()>,
}

impl Ctx<'_> {
    fn new(ptr: *mut raw::RedisModuleCtx) -> Self {
        Ctx {
            ptr,
            _call: PhantomData,
        }
    }

    /// Not the crate's `log_warning`: it passes the message as the printf
    /// format (a `%` in it would be read as a conversion) and panics on a NUL,
    /// and a message may carry a client's bytes.
    pub fn log_warning(&self, message: &str) {
        let message = c_text(message);
        unsafe {
            raw::RedisModule_Log.unwrap()(
                self.ptr,
                c"warning".as_ptr(),
                c"%s".as_ptr(),
                message.as_ptr(),
            );
        }
    }

    /// The context's flags (cluster mode, replicated, loading, ...).
    pub(super) fn flags(&self) -> ContextFlags {
        redis_module::Context::new(self.ptr).get_flags()
    }

    /// The server's unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        unsafe { raw::RedisModule_Milliseconds.unwrap()() }
    }

    /// A string this module owns (a derived key name), freed when dropped.
    pub fn string(&self, bytes: &[u8]) -> OwnedString {
        OwnedString::new(self.ptr, bytes)
    }
}

/// A string Redis owns: one argument of the command being run, borrowed for
/// that call. `repr(transparent)` over Redis's pointer, so the argument vector
/// Redis hands a command is a `&[Arg]` as it is, with no copy or retain.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Arg<'a> {
    ptr: NonNull<raw::RedisModuleString>,
    _call: PhantomData<&'a ()>,
}

/// A Redis string this module created (a derived key name, a value read from a
/// hash), freed when dropped. Binary-safe.
pub struct OwnedString {
    ctx: *mut raw::RedisModuleCtx,
    ptr: NonNull<raw::RedisModuleString>,
}

impl OwnedString {
    fn new(ctx: *mut raw::RedisModuleCtx, bytes: &[u8]) -> OwnedString {
        let ptr = unsafe {
            raw::RedisModule_CreateString.unwrap()(ctx, bytes.as_ptr().cast(), bytes.len())
        };
        // CreateString aborts the server on OOM rather than returning NULL.
        OwnedString {
            ctx,
            ptr: NonNull::new(ptr).unwrap_or(NonNull::dangling()),
        }
    }
}

impl Drop for OwnedString {
    fn drop(&mut self) {
        unsafe { raw::RedisModule_FreeString.unwrap()(self.ctx, self.ptr.as_ptr()) };
    }
}

/// Anything that is a Redis string: an argument or a string the module made.
pub trait RedisStr {
    /// For the redis layer: the pointer Redis's API takes.
    fn ptr(&self) -> *mut raw::RedisModuleString;

    /// The bytes, borrowed for as long as the string lives.
    fn bytes(&self) -> &[u8] {
        bytes_of(self.ptr())
    }
}

impl RedisStr for Arg<'_> {
    fn ptr(&self) -> *mut raw::RedisModuleString {
        self.ptr.as_ptr()
    }
}

impl RedisStr for OwnedString {
    fn ptr(&self) -> *mut raw::RedisModuleString {
        self.ptr.as_ptr()
    }
}

/// `text` for a C API: an interior NUL (which would cut it short) is written
/// as `\x00`.
pub(super) fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\\x00")).unwrap_or_default()
}

fn bytes_of<'a>(s: *const raw::RedisModuleString) -> &'a [u8] {
    let mut len = 0usize;
    unsafe {
        let ptr = raw::RedisModule_StringPtrLen.unwrap()(s, &mut len);
        if ptr.is_null() {
            return &[];
        }
        std::slice::from_raw_parts(ptr.cast::<u8>(), len)
    }
}
