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

/// How a reader turns a stored value (or its absence) into what it answers,
/// under a template (and its name): `None` for a nil.
pub(super) type Reader<T> =
    fn(Option<OwnedString>, &Registered, &[u8]) -> Result<Option<T>, DecodeError>;

/// What a read found, with the template it was read against and its name.
pub(super) struct Read<'b, V> {
    pub registered: Arc<Registered>,
    pub name: &'b [u8],
    pub value: V,
}

/// `key field template`: the field's value through `read`, with the template
/// and its name.
pub(super) fn one_field<'b, T>(
    ctx: Ctx,
    args: &'b [Arg],
    read: Reader<T>,
) -> Result<Read<'b, Option<T>>, CalcError> {
    let [_, key, field, name] = args else {
        return Err(CalcError::WrongArity);
    };
    let name = name.bytes();
    let registered = lookup(name)?;
    let value = HashKey::open_read(ctx, key)?.get(field);
    let value = read(value, &registered, name).map_err(CalcError::Decode)?;
    Ok(Read {
        registered,
        name,
        value,
    })
}

/// `key template field [field ...]`: every field's value through `read`, all
/// of them before anything is answered (a failure names its field), with the
/// template and its name.
pub(super) fn many_fields<'b, T>(
    ctx: Ctx,
    args: &'b [Arg],
    read: Reader<T>,
) -> Result<Read<'b, Vec<Option<T>>>, CalcError> {
    let [_, key, name, fields @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    if fields.is_empty() {
        return Err(CalcError::WrongArity);
    }
    let name = name.bytes();
    let registered = lookup(name)?;
    let hash = HashKey::open_read(ctx, key)?;
    let values = fields
        .iter()
        .map(|field| {
            read(hash.get(field), &registered, name).map_err(|error| CalcError::DecodeField {
                field: printable(field.bytes()),
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Read {
        registered,
        name,
        value: values,
    })
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
