//! The one layer that talks to Redis. Every `RedisModule_*` call and every raw
//! pointer of the project lives in this folder, and nothing here imports from
//! the rest of the crate: load and registration (`load`, `register`, `api`,
//! `command`), module configs (`config`), key access with the ACL, slot and type checks (`keys`), what a
//! write tells the rest of the server (`effects`), the reply writer (`reply`)
//! RDB aux data (`aux`), and the start of an AOF rewrite (`rewrite`). The code above it reads as plain Rust.

pub mod acl;
pub mod api;
pub mod aux;
pub mod command;
#[cfg(not(any(test, fuzzing)))]
pub mod config;
pub mod effects;
pub mod keys;
#[cfg(not(any(test, fuzzing)))]
pub mod load;
#[cfg(not(any(test, fuzzing)))]
mod register;
pub mod reply;
#[cfg(not(any(test, fuzzing)))]
pub mod rewrite;

use std::ffi::{c_char, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

use redis_module::{raw, ContextFlags};

/// The context of the command (or callback) being run. Only this layer makes
/// one, from the pointer Redis hands it; it lives as long as that call.
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

    /// A warning in the server log.
    pub fn log_warning(&self, message: &str) {
        log_text(message, |format, text| {
            // SAFETY: `self.ptr` is the live context of this call; the
            // format is a literal "%s" and `text` a NUL-terminated string.
            unsafe { raw::RedisModule_Log.unwrap()(self.ptr, c"warning".as_ptr(), format, text) }
        });
    }

    /// The context's flags (cluster mode, replicated, loading, ...).
    fn flags(&self) -> ContextFlags {
        redis_module::Context::new(self.ptr).get_flags()
    }

    /// The server's unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        // SAFETY: takes no argument, reads the server's clock.
        unsafe { raw::RedisModule_Milliseconds.unwrap()() }
    }

    /// A string this module owns (a derived key name), freed when dropped.
    pub fn string(&self, bytes: &[u8]) -> OwnedString {
        OwnedString::new(self.ptr, bytes)
    }
}

/// The one way this layer logs a message: always through `"%s"`, never as the
/// printf format itself (a message may carry a client's bytes, and a `%` in it
/// would be read as a conversion), with an interior NUL written as `\x00`.
fn log_text(message: &str, log: impl FnOnce(*const c_char, *const c_char)) {
    let text = c_text(message);
    log(c"%s".as_ptr(), text.as_ptr());
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
        // SAFETY: `bytes` is valid for its length; Redis copies it.
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
        // SAFETY: this string was created (or handed over) for this context
        // and is freed exactly once, here.
        unsafe { raw::RedisModule_FreeString.unwrap()(self.ctx, self.ptr.as_ptr()) };
    }
}

/// Anything that is a Redis string: an argument or a string the module made.
pub trait RedisStr {
    /// For this layer: the pointer Redis's API takes.
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

/// So the argument grammars above this layer are plain functions on bytes.
impl AsRef<[u8]> for Arg<'_> {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// `text` for a C API: an interior NUL (which would cut it short) is written
/// as `\x00`.
fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\\x00")).unwrap_or_default()
}

fn bytes_of<'a>(s: *const raw::RedisModuleString) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: `s` is a live Redis string (an argument of this call or one the
    // module holds); the pointer and length Redis returns describe its bytes,
    // which live as long as the string.
    unsafe {
        let ptr = raw::RedisModule_StringPtrLen.unwrap()(s, &mut len);
        if ptr.is_null() {
            return &[];
        }
        std::slice::from_raw_parts(ptr.cast::<u8>(), len)
    }
}
