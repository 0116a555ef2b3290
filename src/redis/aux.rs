//! RDB aux data: a module type that holds no keys, whose only methods save one
//! blob before the keyspace and load it back. What the blob holds is decided
//! above this layer, by the `AuxHooks` given at load, which write and read
//! through `AuxIo`.

use std::ffi::c_int;
use std::sync::OnceLock;

use redis_module::native_types::RedisType;
use redis_module::raw;

use super::Ctx;

/// The RDB being written or read, for the hooks.
pub struct AuxIo(*mut raw::RedisModuleIO);

impl AuxIo {
    pub fn save_unsigned(&mut self, value: u64) {
        raw::save_unsigned(self.0, value);
    }

    pub fn save_bytes(&mut self, value: &[u8]) {
        raw::save_slice(self.0, value);
    }

    /// `None` when the file is cut short or unreadable.
    pub fn load_unsigned(&mut self) -> Option<u64> {
        raw::load_unsigned(self.0).ok()
    }

    /// `None` when the file is cut short or unreadable.
    pub fn load_bytes(&mut self) -> Option<Vec<u8>> {
        raw::load_string_buffer(self.0)
            .ok()
            .map(|buffer| buffer.as_ref().to_vec())
    }

    /// A warning in the server log about the file being loaded.
    fn log_warning(&self, message: &str) {
        super::log_text(message, |format, text| {
            // SAFETY: `self.0` is the IO handle of the load in progress; the
            // format is a literal "%s" and `text` a NUL-terminated string.
            unsafe {
                raw::RedisModule_LogIOError.unwrap()(self.0, c"warning".as_ptr(), format, text)
            }
        });
    }
}

/// What the aux data is: `save` writes it, `load` reads it back for the
/// encoding version the file was written with, and either takes it over
/// entirely or answers why the file cannot be loaded (the load then stops
/// with that line in the log).
pub struct AuxHooks {
    pub save: fn(&mut AuxIo),
    pub load: fn(&mut AuxIo, i32) -> Result<(), String>,
}

/// One aux type per module: the hooks the extern functions below call.
static HOOKS: OnceLock<AuxHooks> = OnceLock::new();

/// The module type that carries the aux data. A `static`, as Redis keeps a
/// pointer to it.
pub struct AuxType(RedisType);

impl AuxType {
    /// `name` is the 9-character type name Redis requires; `version` the
    /// encoding version written with the data.
    pub const fn new(name: &'static str, version: i32) -> AuxType {
        AuxType(RedisType::new(
            name,
            version,
            raw::RedisModuleTypeMethods {
                version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
                rdb_load: None,
                rdb_save: None,
                aof_rewrite: None,
                mem_usage: None,
                digest: None,
                free: None,
                aux_load: Some(aux_load),
                aux_save: Some(aux_save),
                aux_save_triggers: raw::REDISMODULE_AUX_BEFORE_RDB as c_int,
                free_effort: None,
                unlink: None,
                copy: None,
                defrag: None,
                mem_usage2: None,
                free_effort2: None,
                unlink2: None,
                copy2: None,
                aux_save2: None,
            },
        ))
    }

    /// Registers the type with Redis (only while the module loads), with the
    /// hooks that save and load its data.
    pub fn register(&'static self, ctx: Ctx, hooks: AuxHooks) -> Result<(), String> {
        HOOKS
            .set(hooks)
            .map_err(|_| "the aux hooks are already set".to_string())?;
        self.0
            .create_data_type(ctx.ptr)
            .map_err(|e| format!("cannot create the aux data type: {e}"))
    }
}

extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, when: c_int) {
    if when != raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
        return;
    }
    if let Some(hooks) = HOOKS.get() {
        (hooks.save)(&mut AuxIo(rdb));
    }
}

extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, version: c_int, when: c_int) -> c_int {
    if when != raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
        return raw::REDISMODULE_OK as c_int;
    }
    let Some(hooks) = HOOKS.get() else {
        return raw::REDISMODULE_ERR as c_int;
    };
    let mut io = AuxIo(rdb);
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (hooks.load)(&mut io, version)
    }))
    .unwrap_or_else(|_| Err("internal error".to_string()));
    match loaded {
        Ok(()) => raw::REDISMODULE_OK as c_int,
        Err(reason) => {
            io.log_warning(&reason);
            raw::REDISMODULE_ERR as c_int
        }
    }
}
