//! The module's start-up, the top of the crate: `RedisModule_OnLoad` registers
//! the commands, the INFO section and the template aux data, and makes Redis's
//! allocator the module's own.

use std::ffi::c_int;
use std::sync::atomic::Ordering;

use redis_module::raw;

use crate::commands::{COMMANDS, CONTAINERS};
use crate::limits;
use crate::persistence::{self, AuxReader, AuxWriter};
use crate::redis::aux::{AuxHooks, AuxIo, AuxType};
use crate::redis::command::RawCtx;
use crate::redis::config::{self, Numeric};
use crate::redis::load::{self, InfoSection};
use crate::redis::{effects, rewrite, Ctx};
use crate::registry::{registry, registry_mut};
use crate::stats;

// Every allocation of the module goes through Redis's allocator, so it shows
// in `used_memory` and `maxmemory` applies to it.
#[global_allocator]
static ALLOCATOR: redis_module::alloc::RedisAlloc = redis_module::alloc::RedisAlloc;

/// The template registry lives in the RDB as this type's aux data.
static TEMPLATE_AUX: AuxType = AuxType::new("calc-tmpl", persistence::ENCODING_VERSION);

/// # Safety
/// Called by Redis once, with a valid context, when it loads the module.
#[no_mangle]
pub unsafe extern "C" fn RedisModule_OnLoad(
    ctx: RawCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    // Nothing may allocate before `init`: the allocator is Redis's.
    // SAFETY: Redis calls OnLoad once, with its context.
    let Some(ctx) = (unsafe { load::init(ctx, c"calc") }) else {
        return raw::REDISMODULE_ERR as c_int;
    };
    if let Err(reason) = register_limits(ctx) {
        ctx.log_warning(&format!("calc: {reason}"));
        return raw::REDISMODULE_ERR as c_int;
    }
    let started = TEMPLATE_AUX
        .register(
            ctx,
            AuxHooks {
                save: save_templates,
                load: load_templates,
            },
        )
        .and_then(|()| load::register_commands(ctx, COMMANDS, CONTAINERS, c"calc"));
    if let Err(reason) = started {
        ctx.log_warning(&format!("calc: {reason}"));
        return raw::REDISMODULE_ERR as c_int;
    }
    if let Err(reason) = rewrite::on_aof_rewrite(ctx, record_templates_in_aof) {
        ctx.log_warning(&format!("calc: {reason}"));
        return raw::REDISMODULE_ERR as c_int;
    }
    load::register_info(ctx, info);
    crate::redis::effects::detect_field_expiry(ctx);
    load::handle_io_errors(ctx);
    raw::REDISMODULE_OK as c_int
}

/// At the start of an AOF rewrite: templates live in the RDB as aux data, which
/// a rewrite with the RDB preamble carries; one without it writes only the
/// keyspace, so the templates are recorded as `CALC.TEMPLATE SET` commands at
/// the head of the new incremental AOF file, which loads right after the base.
fn record_templates_in_aof(ctx: Ctx) {
    if load::config(ctx, "aof-use-rdb-preamble").as_deref() != Some("no") {
        return;
    }
    let commands = persistence::as_set_commands(&registry());
    for args in &commands {
        effects::record_in_aof(ctx, c"CALC.TEMPLATE", &args.each_ref().map(Vec::as_slice));
    }
    if !commands.is_empty() {
        ctx.log_warning(&format!(
            "calc: the AOF is rewritten without the RDB preamble, which holds no templates: \
             {} templates recorded as CALC.TEMPLATE SET after the rewritten base",
            commands.len()
        ));
    }
}

/// The limits a user can set, as module configs (`calc.<name>`), with the
/// values `redis.conf`, the command line or `MODULE LOADEX` gave.
fn register_limits(ctx: crate::redis::Ctx) -> Result<(), String> {
    for limit in limits::ALL {
        let numeric = Numeric {
            name: limit.name,
            default: limit.default,
            min: limit.min,
            max: limit.max,
            bytes: limit.bytes,
        };
        config::register_numeric(ctx, &numeric, &limit.value)?;
    }
    config::load_configs(ctx)
}

/// `INFO calc`.
fn info(section: &mut InfoSection) {
    section.field(c"templates", registry().len() as u64);
    let counters = [
        (c"commands_served", &stats::COMMANDS_SERVED),
        (c"decode_errors", &stats::DECODE_ERRORS),
        (c"pack_errors", &stats::PACK_ERRORS),
        (c"mismatches_read_as_nil", &stats::MISMATCHES_READ_AS_NIL),
    ];
    for (name, counter) in counters {
        section.field(name, counter.load(Ordering::Relaxed));
    }
}

impl AuxWriter for AuxIo {
    fn save_unsigned(&mut self, value: u64) {
        AuxIo::save_unsigned(self, value);
    }
    fn save_bytes(&mut self, value: &[u8]) {
        AuxIo::save_bytes(self, value);
    }
}

impl AuxReader for AuxIo {
    fn load_unsigned(&mut self) -> Option<u64> {
        AuxIo::load_unsigned(self)
    }
    fn load_bytes(&mut self) -> Option<Vec<u8>> {
        AuxIo::load_bytes(self)
    }
}

fn save_templates(io: &mut AuxIo) {
    persistence::save(io, &registry());
}

/// Replaces the registry, never merges: the file is the state to restore. A
/// half-read file leaves the registry in memory as it was.
fn load_templates(io: &mut AuxIo, version: i32) -> Result<(), String> {
    let loaded = persistence::load(io, version)
        .map_err(|reason| format!("calc: cannot load templates from the RDB: {reason}"))?;
    *registry_mut() = loaded;
    Ok(())
}
