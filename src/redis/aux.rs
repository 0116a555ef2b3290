//! RDB aux I/O: the template registry saved before the keyspace and loaded
//! back, through the layout in `crate::persistence`.

use std::ffi::c_int;

use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::persistence::{self, AuxReader, AuxWriter};
use crate::registry::{registry, registry_mut};

pub static TEMPLATE_AUX_TYPE: RedisType = RedisType::new(
    "calc-tmpl",
    persistence::ENCODING_VERSION,
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
);

struct Rdb(*mut raw::RedisModuleIO);

impl AuxWriter for Rdb {
    fn save_unsigned(&mut self, value: u64) {
        raw::save_unsigned(self.0, value);
    }
    fn save_bytes(&mut self, value: &[u8]) {
        raw::save_slice(self.0, value);
    }
}

impl AuxReader for Rdb {
    fn load_unsigned(&mut self) -> Option<u64> {
        raw::load_unsigned(self.0).ok()
    }
    fn load_bytes(&mut self) -> Option<Vec<u8>> {
        raw::load_string_buffer(self.0)
            .ok()
            .map(|buffer| buffer.as_ref().to_vec())
    }
}

extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, when: c_int) {
    if when == raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
        persistence::save(&mut Rdb(rdb), &registry());
    }
}

extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, version: c_int, when: c_int) -> c_int {
    if when != raw::REDISMODULE_AUX_BEFORE_RDB as c_int {
        return raw::REDISMODULE_OK as c_int;
    }
    let loaded = std::panic::catch_unwind(|| persistence::load(&mut Rdb(rdb), version))
        .unwrap_or_else(|_| Err("internal error".to_string()));
    match loaded {
        Ok(loaded) => {
            // Replace, never merge: the file is the state to restore.
            *registry_mut() = loaded;
            raw::REDISMODULE_OK as c_int
        }
        Err(reason) => {
            log_load_error(
                rdb,
                &format!("calc: cannot load templates from the RDB: {reason}"),
            );
            raw::REDISMODULE_ERR as c_int
        }
    }
}

/// A warning in the server log about the file being loaded. The message names
/// templates read from the file, so it goes through `"%s"`: the crate's
/// `log_io_error` passes it as the printf format itself.
fn log_load_error(rdb: *mut raw::RedisModuleIO, message: &str) {
    let message = super::c_text(message);
    unsafe {
        raw::RedisModule_LogIOError.unwrap()(
            rdb,
            c"warning".as_ptr(),
            c"%s".as_ptr(),
            message.as_ptr(),
        );
    }
}
