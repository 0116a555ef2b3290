//! Every reader's machinery: find the template, open the hash, read one field
//! (`key field template`) or several (`key template field [field ...]`)
//! through the reader's own decode, under the template's mismatch policy.
//! The families (`dict`, `json`) say only what they answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::CalcError;
use crate::msgpack::DecodeError;
use crate::printable::printable;
use crate::redis::keys::HashKey;
use crate::redis::{Arg, Ctx, OwnedString, RedisStr};
use crate::registry::{registry, OnMismatch, Registered};
use crate::stats;

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
