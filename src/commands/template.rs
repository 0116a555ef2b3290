//! CALC.TEMPLATE.SET | GET | INFO | DEL | LIST: the server-wide template
//! registry, modelled on FUNCTION LOAD. Templates are not keys; SET and DEL
//! replicate as themselves so replicas and the AOF hold the same registry.

use crate::error::CalcError;
use crate::redis::reply::ReplyWriter;
use crate::redis::{effects, Arg, Ctx, RedisStr};
use crate::registry::{registry, registry_mut, Policy};
use crate::template::Template;

/// CALC.TEMPLATE.SET name definition [ONMISMATCH ERROR|NIL] [FINGERPRINT REQUIRED|OPTIONAL]
pub fn set(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, name, definition, options @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    let policy = Policy::parse_options(options).map_err(|reason| CalcError::Syntax { reason })?;
    let template = Template::parse(definition.bytes())
        .map_err(|reason| CalcError::InvalidTemplate { reason })?;
    registry_mut().set(name.bytes(), template, policy);
    effects::verbatim(ctx);
    reply.ok();
    Ok(())
}

/// CALC.TEMPLATE.GET name
pub fn get(_: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, name] = args else {
        return Err(CalcError::WrongArity);
    };
    match registry().get(name.bytes()) {
        Some(registered) => reply.bytes(registered.template.to_json().as_bytes()),
        None => reply.null(),
    }
    Ok(())
}

/// CALC.TEMPLATE.INFO name: a map of name, definition, onmismatch, fingerprint
/// and whether values must carry it, or nil.
pub fn info(_: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, name] = args else {
        return Err(CalcError::WrongArity);
    };
    let Some(registered) = registry().get(name.bytes()) else {
        reply.null();
        return Ok(());
    };
    reply.map(5);
    reply.bytes(b"name");
    reply.bytes(name.bytes());
    reply.bytes(b"definition");
    reply.bytes(registered.template.to_json().as_bytes());
    reply.bytes(b"onmismatch");
    reply.bytes(registered.policy.on_mismatch.word().as_bytes());
    reply.bytes(b"fingerprint");
    reply.bytes(registered.template.fingerprint_hex().as_bytes());
    reply.bytes(b"fingerprint-required");
    reply.boolean(registered.policy.fingerprint_required);
    Ok(())
}

/// CALC.TEMPLATE.DEL name
pub fn del(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, name] = args else {
        return Err(CalcError::WrongArity);
    };
    let removed = registry_mut().remove(name.bytes());
    if removed {
        effects::verbatim(ctx);
    }
    reply.integer(removed as i64);
    Ok(())
}

/// CALC.TEMPLATE.LIST
pub fn list(_: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_] = args else {
        return Err(CalcError::WrongArity);
    };
    let registry = registry();
    reply.array(registry.len());
    for (name, _) in registry.iter() {
        reply.bytes(name);
    }
    Ok(())
}

/// CALC.TEMPLATE HELP: one line per subcommand, as `FUNCTION HELP` answers.
pub fn help(_: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_] = args else {
        return Err(CalcError::WrongArity);
    };
    const LINES: &[&str] = &[
        "CALC.TEMPLATE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "SET <name> <definition> [ONMISMATCH ERROR|NIL] [FINGERPRINT REQUIRED|OPTIONAL]",
        "    Register a template (a JSON array of names), replacing one of the same name.",
        "GET <name>",
        "    Return the definition as compact JSON, or nil.",
        "INFO <name>",
        "    Return the definition, mismatch policy and fingerprint, or nil.",
        "DEL <name>",
        "    Delete a template; 1 if it existed.",
        "LIST",
        "    Return the registered names, sorted.",
        "HELP",
        "    Print this help.",
    ];
    reply.array(LINES.len());
    for line in LINES {
        reply.simple(line);
    }
    Ok(())
}
