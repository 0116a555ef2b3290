//! Registration at load: `RedisModule_CreateCommand` and
//! `RedisModule_SetCommandInfo` (both Redis 7.0) for every declared command,
//! and the ACL calls only where the server has them (`SetCommandACLCategories`
//! 7.2+ and Valkey, `AddACLCategory` 7.4+ and Valkey 8).

use std::ffi::{c_int, CStr};
use std::ptr;

use redis_module::raw;

use super::command::{ArgDoc, ArgKind, Command, Container, Handler, KeySpec, RawCtx};

/// Registers every command; an `Err` names the one that failed. Where the
/// server lets a module add an ACL category (Redis 7.4+), every command is
/// also in `category`.
pub(super) fn register_all(
    ctx: RawCtx,
    commands: &[Command],
    containers: &[Container],
    category: &CStr,
) -> Result<(), String> {
    // SAFETY: reads an optional API pointer, filled in by RedisModule_Init.
    let add_category = unsafe { raw::RedisModule_AddACLCategory };
    let calc_category = add_category.is_some_and(|add| {
        // SAFETY: OnLoad's context and a NUL-terminated name.
        unsafe { add(ctx, category.as_ptr()) == raw::REDISMODULE_OK as c_int }
    });
    let category = calc_category.then_some(category);
    let failed = |name: &CStr, parent: Option<&CStr>| {
        let full = match parent {
            Some(parent) => format!("{}|{}", parent.to_string_lossy(), name.to_string_lossy()),
            None => name.to_string_lossy().into_owned(),
        };
        move |what: &str| format!("cannot register {full}: {what}")
    };
    for command in commands {
        register(ctx, command, category, None).map_err(failed(command.name, None))?;
    }
    for container in containers {
        let parent = register_container(ctx, container).map_err(failed(container.name, None))?;
        for sub in container.subcommands {
            register(ctx, sub, category, Some((parent, container.name)))
                .map_err(failed(sub.name, Some(container.name)))?;
        }
    }
    Ok(())
}

/// A container command: no handler of its own, only subcommands.
fn register_container(
    ctx: RawCtx,
    container: &Container,
) -> Result<*mut raw::RedisModuleCommand, &'static str> {
    let handle = create(ctx, None, container.name, None, c"", (0, 0, 0))?;
    // SAFETY: a handle `create` returned; static NUL-terminated strings; the
    // info struct lives until SetCommandInfo (which copies it) returns.
    unsafe {
        let mut info = raw::RedisModuleCommandInfo {
            version: &COMMAND_INFO_VERSION,
            summary: container.summary.as_ptr(),
            complexity: ptr::null(),
            since: container.since.as_ptr(),
            history: ptr::null_mut(),
            tips: ptr::null(),
            arity: -2,
            key_specs: ptr::null_mut(),
            args: ptr::null_mut(),
        };
        if raw::RedisModule_SetCommandInfo.unwrap()(handle, &mut info)
            != raw::REDISMODULE_OK as c_int
        {
            return Err("SetCommandInfo refused its info");
        }
        Ok(handle)
    }
}

/// Creates the command `name` (or, with `parent`, its handle and name, the
/// subcommand `name` of it) and returns its handle. `handler` is `None` for a
/// container.
fn create(
    ctx: RawCtx,
    parent: Option<(*mut raw::RedisModuleCommand, &CStr)>,
    name: &CStr,
    handler: Option<Handler>,
    flags: &CStr,
    (first, last, step): (c_int, c_int, c_int),
) -> Result<*mut raw::RedisModuleCommand, &'static str> {
    // A safe `extern "C" fn` where the binding takes an `unsafe` one.
    let handler: raw::RedisModuleCmdFunc = handler.map(|h| {
        h as unsafe extern "C" fn(RawCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int
    });
    // SAFETY: OnLoad's context, a parent handle GetCommand returned, and
    // NUL-terminated strings that outlive the calls.
    unsafe {
        let (created, full_name) = match parent {
            None => (
                raw::RedisModule_CreateCommand.unwrap()(
                    ctx,
                    name.as_ptr(),
                    handler,
                    flags.as_ptr(),
                    first,
                    last,
                    step,
                ),
                name.to_owned(),
            ),
            Some((parent, parent_name)) => {
                let mut full = parent_name.to_bytes().to_vec();
                full.push(b'|');
                full.extend_from_slice(name.to_bytes());
                (
                    raw::RedisModule_CreateSubcommand.unwrap()(
                        parent,
                        name.as_ptr(),
                        handler,
                        flags.as_ptr(),
                        first,
                        last,
                        step,
                    ),
                    std::ffi::CString::new(full).unwrap_or_default(),
                )
            }
        };
        if created != raw::REDISMODULE_OK as c_int {
            return Err("CreateCommand refused it");
        }
        // A subcommand is found by its full name, `container|name`.
        let handle = raw::RedisModule_GetCommand.unwrap()(ctx, full_name.as_ptr());
        if handle.is_null() {
            return Err("GetCommand did not find it");
        }
        Ok(handle)
    }
}

/// A command, or with `parent` (its handle and name) a subcommand of it.
fn register(
    ctx: RawCtx,
    command: &Command,
    category: Option<&CStr>,
    parent: Option<(*mut raw::RedisModuleCommand, &CStr)>,
) -> Result<(), &'static str> {
    // The legacy key range (firstkey, lastkey, step) of the first key spec;
    // Redis also derives it from the key specs set below.
    let (first, last, step) = match command.keys.first() {
        Some(k) if k.last >= 0 => (k.index, k.index + k.last, k.step),
        Some(k) => (k.index, k.last, k.step),
        None => (0, 0, 0),
    };
    let handle = create(
        ctx,
        parent,
        command.name,
        Some(command.handler),
        command.flags,
        (first, last, step),
    )?;
    // SAFETY: a handle `create` returned; every string is NUL-terminated and
    // static or outlives the call that reads it; the key spec and argument
    // arrays are zero-terminated and alive until SetCommandInfo (which copies
    // them) returns; the optional ACL call is used only where the server has it.
    unsafe {
        if let Some(set_categories) = raw::RedisModule_SetCommandACLCategories {
            let categories = if let Some(category) = category {
                format!(
                    "{} {}",
                    command.categories.to_string_lossy(),
                    category.to_string_lossy()
                )
            } else {
                command.categories.to_string_lossy().into_owned()
            };
            let categories = std::ffi::CString::new(categories).unwrap_or_default();
            if set_categories(handle, categories.as_ptr()) != raw::REDISMODULE_OK as c_int {
                return Err("SetCommandACLCategories refused its categories");
            }
        }
        let key_specs: Vec<raw::RedisModuleCommandKeySpec> = command
            .keys
            .iter()
            .map(raw_key_spec)
            .chain(std::iter::once(std::mem::zeroed()))
            .collect();
        // Sub-argument arrays must outlive SetCommandInfo (which copies them).
        let mut keep = Vec::new();
        let args = raw_args(command.args, &mut keep);
        let mut info = raw::RedisModuleCommandInfo {
            version: &COMMAND_INFO_VERSION,
            summary: command.summary.as_ptr(),
            complexity: command.complexity.as_ptr(),
            since: command.since.as_ptr(),
            history: ptr::null_mut(),
            tips: ptr::null(),
            arity: command.arity,
            key_specs: key_specs.as_ptr().cast_mut(),
            args: args.as_ptr().cast_mut(),
        };
        if raw::RedisModule_SetCommandInfo.unwrap()(handle, &mut info)
            != raw::REDISMODULE_OK as c_int
        {
            return Err("SetCommandInfo refused its info");
        }
    }
    Ok(())
}

const COMMAND_INFO_VERSION: raw::RedisModuleCommandInfoVersion =
    raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };

fn raw_key_spec(spec: &KeySpec) -> raw::RedisModuleCommandKeySpec {
    raw::RedisModuleCommandKeySpec {
        notes: ptr::null(),
        flags: spec.flags.bits(),
        begin_search_type: raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX,
        bs: raw::RedisModuleCommandKeySpec__bindgen_ty_1 {
            index: raw::RedisModuleCommandKeySpec__bindgen_ty_1__bindgen_ty_1 { pos: spec.index },
        },
        find_keys_type: raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE,
        fk: raw::RedisModuleCommandKeySpec__bindgen_ty_2 {
            range: raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
                lastkey: spec.last,
                keystep: spec.step,
                limit: 0,
            },
        },
    }
}

/// The zero-terminated argument array for `docs`; nested arrays go to `keep`.
fn raw_args(
    docs: &[ArgDoc],
    keep: &mut Vec<Vec<raw::RedisModuleCommandArg>>,
) -> Vec<raw::RedisModuleCommandArg> {
    let mut out: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(docs.len() + 1);
    for doc in docs {
        let subargs = if doc.sub.is_empty() {
            ptr::null_mut()
        } else {
            let sub = raw_args(doc.sub, keep);
            let p = sub.as_ptr().cast_mut();
            keep.push(sub);
            p
        };
        let (kind, key_spec_index) = match doc.kind {
            ArgKind::Key(index) => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                index,
            ),
            ArgKind::String => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                -1,
            ),
            ArgKind::Integer => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                -1,
            ),
            ArgKind::UnixTime => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_UNIX_TIME,
                -1,
            ),
            ArgKind::PureToken => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN,
                -1,
            ),
            ArgKind::OneOf => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                -1,
            ),
            ArgKind::Block => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
                -1,
            ),
        };
        let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
        if doc.optional {
            flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
        }
        if doc.multiple {
            flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
        }
        out.push(raw::RedisModuleCommandArg {
            name: doc.name.as_ptr(),
            type_: kind,
            key_spec_index,
            token: doc.token.map_or(ptr::null(), CStr::as_ptr),
            summary: ptr::null(),
            since: ptr::null(),
            flags: flags as c_int,
            deprecated_since: ptr::null(),
            subargs,
            display_text: ptr::null(),
        });
    }
    // SAFETY: an all-zero RedisModuleCommandArg (null pointers, zero flags)
    // is the terminator Redis looks for.
    out.push(unsafe { std::mem::zeroed() });
    out
}
