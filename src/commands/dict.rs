//! CALC.GETDICT and CALC.MGETDICT: read packed values back as maps, decoded in
//! the server against a registered template.

use std::sync::Arc;

use redis_module::{Context, RedisResult, RedisString};

use super::run;
use crate::error::{printable, CalcError};
use crate::keys::{bytes_of, HashKey, OwnedString};
use crate::msgpack::{decode_with_template, Sink, Validate};
use crate::reply::ReplyWriter;
use crate::template::{registry, Template};

/// CALC.GETDICT key field template
pub fn getdict(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    run(ctx, args, |ctx, args, reply| {
        let [_, key, field, name] = args else {
            return Err(CalcError::WrongArity);
        };
        let name = bytes_of(name.inner);
        let template = lookup(name)?;
        let value = HashKey::open_read(ctx, key)?.get(field.inner);
        if let Some(value) = &value {
            validate(value, &template, name)?;
        }
        emit(reply, value.as_ref(), &template, name);
        Ok(())
    })
}

/// CALC.MGETDICT key template field [field ...]
pub fn mgetdict(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    run(ctx, args, |ctx, args, reply| {
        let [_, key, name, fields @ ..] = args else {
            return Err(CalcError::WrongArity);
        };
        if fields.is_empty() {
            return Err(CalcError::WrongArity);
        }
        let name = bytes_of(name.inner);
        let template = lookup(name)?;
        let hash = HashKey::open_read(ctx, key)?;
        let values: Vec<Option<OwnedString>> = fields.iter().map(|f| hash.get(f.inner)).collect();
        // Every value is validated before the first byte of the reply is written.
        for value in values.iter().flatten() {
            validate(value, &template, name)?;
        }
        reply.array(values.len());
        for value in &values {
            emit(reply, value.as_ref(), &template, name);
        }
        Ok(())
    })
}

fn lookup(name: &[u8]) -> Result<Arc<Template>, CalcError> {
    registry()
        .get(name)
        .ok_or_else(|| CalcError::UnknownTemplate {
            name: printable(name),
        })
}

fn validate(value: &OwnedString, template: &Template, name: &[u8]) -> Result<(), CalcError> {
    Ok(decode_with_template(
        value.bytes(),
        template,
        name,
        &mut Validate,
    )?)
}

/// Writes one value as a map, or null when it is missing. Only for values that
/// passed `validate`: the same bytes decode the same way, so this cannot fail
/// half-way through the reply.
fn emit(reply: &mut ReplyWriter, value: Option<&OwnedString>, template: &Template, name: &[u8]) {
    match value {
        None => reply.null(),
        Some(value) => {
            let _ = decode_with_template(value.bytes(), template, name, reply);
        }
    }
}
