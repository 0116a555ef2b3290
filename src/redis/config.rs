//! Module configs, through Redis 7.0's module configuration API: numeric
//! values the server reads and writes through callbacks, set in `redis.conf`
//! (`calc.<name> <value>` after `loadmodule`), on the command line
//! (`--calc.<name> <value>`), with `MODULE LOADEX ... CONFIG` and with
//! `CONFIG SET`, shown by `CONFIG GET` and kept by `CONFIG REWRITE`, as a
//! native setting is. The server checks a value against its bounds (and
//! parses `64mb` for a size) before it calls the setter.

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_void};
use std::sync::atomic::{AtomicI64, Ordering};

use redis_module::raw;

use super::{c_text, Ctx};

/// One numeric config: its name (the server prefixes the module's name and a
/// dot), its default and its inclusive bounds.
pub struct Numeric<'n> {
    pub name: &'n str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
    /// A size in bytes: the server also reads `64mb`, `1gb`, ...
    pub bytes: bool,
}

/// Registers `config`, stored in `value`; an `Err` says why the server
/// refused it. Call during `RedisModule_OnLoad`, then `load_configs` once.
pub fn register_numeric(
    ctx: Ctx,
    config: &Numeric,
    value: &'static AtomicI64,
) -> Result<(), String> {
    let name = c_text(config.name);
    let flags = match config.bytes {
        true => raw::REDISMODULE_CONFIG_MEMORY,
        false => raw::REDISMODULE_CONFIG_DEFAULT,
    };
    // SAFETY: `ctx` is OnLoad's context; the name is a NUL-terminated string
    // the server copies; the callbacks match the API's types and read
    // `privdata` as what it is, `value`, which lives for the whole process.
    let status = unsafe {
        raw::RedisModule_RegisterNumericConfig.unwrap()(
            ctx.ptr,
            name.as_ptr(),
            config.default,
            flags as c_uint,
            config.min,
            config.max,
            Some(get_numeric),
            Some(set_numeric),
            None,
            (value as *const AtomicI64).cast_mut().cast::<c_void>(),
        )
    };
    match status == raw::REDISMODULE_OK as c_int {
        true => Ok(()),
        false => Err(format!("cannot register the config '{}'", config.name)),
    }
}

/// Applies the values `redis.conf`, the command line or `MODULE LOADEX` gave
/// to the registered configs (the defaults to the others). An `Err`: a value
/// the server refused (it logs which).
pub fn load_configs(ctx: Ctx) -> Result<(), String> {
    // SAFETY: `ctx` is OnLoad's context, after every config is registered.
    let status = unsafe { raw::RedisModule_LoadConfigs.unwrap()(ctx.ptr) };
    match status == raw::REDISMODULE_OK as c_int {
        true => Ok(()),
        false => Err("cannot apply the configured values of the module's configs".to_string()),
    }
}

extern "C" fn get_numeric(_name: *const c_char, privdata: *mut c_void) -> c_longlong {
    // SAFETY: `privdata` is the `&'static AtomicI64` given at registration.
    let value = unsafe { &*privdata.cast::<AtomicI64>() };
    value.load(Ordering::Relaxed)
}

extern "C" fn set_numeric(
    _name: *const c_char,
    new: c_longlong,
    privdata: *mut c_void,
    _err: *mut *mut raw::RedisModuleString,
) -> c_int {
    // SAFETY: `privdata` is the `&'static AtomicI64` given at registration.
    let value = unsafe { &*privdata.cast::<AtomicI64>() };
    value.store(new, Ordering::Relaxed);
    raw::REDISMODULE_OK as c_int
}
