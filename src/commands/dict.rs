//! CALC.GETDICT and CALC.MGETDICT: read packed values back as maps, decoded in
//! the server against a registered template.

use super::read::{many_fields, one_field, under_policy};
use crate::error::CalcError;
use crate::msgpack::{DecodeError, Validate};
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx, OwnedString, RedisStr};
use crate::registry::Registered;

/// CALC.GETDICT key field template
pub fn getdict(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let read = one_field(ctx, args, readable)?;
    emit(reply, read.value.as_ref(), &read.registered, read.name);
    Ok(())
}

/// CALC.MGETDICT key template field [field ...]
pub fn mgetdict(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let read = many_fields(ctx, args, readable)?;
    reply.array(read.value.len());
    for value in &read.value {
        emit(reply, value.as_ref(), &read.registered, read.name);
    }
    Ok(())
}

/// The value to answer with: itself when it decodes against the template,
/// `None` when it is missing or (under `ONMISMATCH NIL`) does not decode.
fn readable(
    value: Option<OwnedString>,
    registered: &Registered,
    name: &[u8],
) -> Result<Option<OwnedString>, DecodeError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let decoded = registered.decode(value.bytes(), name, &mut Validate);
    Ok(under_policy(decoded, registered)?.map(|()| value))
}

/// Writes one value as a map, or null when it is missing. Only for values that
/// passed `readable`: the same bytes decode the same way, so this cannot fail
/// half-way through the reply.
fn emit(
    reply: &mut ReplyWriter,
    value: Option<&OwnedString>,
    registered: &Registered,
    name: &[u8],
) {
    match value {
        None => reply.null(),
        Some(value) => {
            let _ = registered.decode(value.bytes(), name, reply);
        }
    }
}
