//! CALC.TEMPLATE.SET | GET | INFO | DEL | LIST: the server-wide template
//! registry, modelled on FUNCTION LOAD. Templates are not keys; SET and DEL
//! replicate as themselves so replicas and the AOF hold the same registry.

use crate::error::{printable, CalcError};
use crate::msgpack::Sink;
use crate::redis::reply::ReplyWriter;
use crate::redis::{effects, Arg, Ctx, RedisStr};
use crate::registry::{registry, registry_mut, OnMismatch, Policy};
use crate::template::Template;

/// CALC.TEMPLATE.SET name definition [ONMISMATCH ERROR|NIL] [FINGERPRINT REQUIRED|OPTIONAL]
pub fn set(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, name, definition, options @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    let policy = parse_policy(options)?;
    let template = Template::parse(definition.bytes())
        .map_err(|reason| CalcError::InvalidTemplate { reason })?;
    registry_mut().set(name.bytes(), template, policy);
    effects::verbatim(ctx);
    reply.ok();
    Ok(())
}

/// `[ONMISMATCH ERROR|NIL] [FINGERPRINT REQUIRED|OPTIONAL]`, in any order.
fn parse_policy(options: &[Arg]) -> Result<Policy, CalcError> {
    let syntax = |reason: String| CalcError::Syntax { reason };
    let mut policy = Policy::default();
    let mut rest = options;
    while let [option, value, tail @ ..] = rest {
        let (option, value) = (option.bytes(), value.bytes());
        if option.eq_ignore_ascii_case(b"ONMISMATCH") {
            policy.on_mismatch = OnMismatch::parse(value).ok_or_else(|| {
                syntax(format!(
                    "ONMISMATCH takes ERROR or NIL, got '{}'",
                    printable(value)
                ))
            })?;
        } else if option.eq_ignore_ascii_case(b"FINGERPRINT") {
            policy.fingerprint_required = if value.eq_ignore_ascii_case(b"REQUIRED") {
                true
            } else if value.eq_ignore_ascii_case(b"OPTIONAL") {
                false
            } else {
                return Err(syntax(format!(
                    "FINGERPRINT takes REQUIRED or OPTIONAL, got '{}'",
                    printable(value)
                )));
            };
        } else {
            return Err(syntax(format!("unknown option '{}'", printable(option))));
        }
        rest = tail;
    }
    match rest {
        [] => Ok(policy),
        [option, ..] => Err(syntax(format!(
            "option '{}' needs a value",
            printable(option.bytes())
        ))),
    }
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
