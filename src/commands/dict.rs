//! CALC.GETDICT and CALC.MGETDICT: read packed values back as maps, decoded in
//! the server against a registered template.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::CalcError;
use crate::msgpack::{DecodeError, Validate};
use crate::printable::printable;
use crate::redis::keys::HashKey;
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx, OwnedString, RedisStr};
use crate::registry::{registry, OnMismatch, Registered};
use crate::stats;

/// CALC.GETDICT key field template
pub fn getdict(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, key, field, name] = args else {
        return Err(CalcError::WrongArity);
    };
    let name = name.bytes();
    let registered = lookup(name)?;
    let value = HashKey::open_read(ctx, key)?.get(field);
    let value = readable(value, &registered, name).map_err(CalcError::Decode)?;
    emit(reply, value.as_ref(), &registered, name);
    Ok(())
}

/// CALC.MGETDICT key template field [field ...]
pub fn mgetdict(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, key, name, fields @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    if fields.is_empty() {
        return Err(CalcError::WrongArity);
    }
    let name = name.bytes();
    let registered = lookup(name)?;
    let hash = HashKey::open_read(ctx, key)?;
    // Every value is checked before the first byte of the reply is written.
    let values = fields
        .iter()
        .map(|field| {
            readable(hash.get(field), &registered, name).map_err(|error| CalcError::DecodeField {
                field: printable(field.bytes()),
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    reply.array(values.len());
    for value in &values {
        emit(reply, value.as_ref(), &registered, name);
    }
    Ok(())
}

pub(super) fn lookup(name: &[u8]) -> Result<Arc<Registered>, CalcError> {
    registry()
        .get(name)
        .ok_or_else(|| CalcError::UnknownTemplate {
            name: printable(name),
        })
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

/// A decode's outcome under the template's mismatch policy: the value, `None`
/// for a mismatch read as nil (counted), or the error.
pub(super) fn under_policy<T>(
    decoded: Result<T, DecodeError>,
    registered: &Registered,
) -> Result<Option<T>, DecodeError> {
    match decoded {
        Ok(value) => Ok(Some(value)),
        Err(_) if registered.policy.on_mismatch == OnMismatch::Nil => {
            stats::MISMATCHES_READ_AS_NIL.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        }
        Err(e) => Err(e),
    }
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
