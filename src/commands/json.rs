//! The commands for clients without msgpack code: CALC.SETDICT writes JSON
//! objects packed in the server against a template, CALC.GETJSON and
//! CALC.MGETJSON read values back as JSON text, CALC.GETVALUES reads single
//! entries. Reads decode as CALC.GETDICT does (same policies, fingerprints,
//! dogpile header, NOTEMPLATE).
//!
//! SETDICT stores what CALC.HSETEX would store for the packed bytes, with its
//! TTL rule, and replicates those bytes, never the JSON: as `CALC.HSETEX key
//! field bytes ... PXAT <unix-ms>` when it created the key, as `HSET key
//! field bytes ...` when the key existed. So a replica or an AOF reload ends
//! with the primary's exact bytes, whatever its own registry holds.

use super::args::{is_pairs, split_expiry};
use super::names;
use super::read::{lookup, many_fields, one_field, under_policy};
use super::write::write;
use crate::error::CalcError;
use crate::json_pack::pack_json;
use crate::json_print::JsonPrinter;
use crate::msgpack::DecodeError;
use crate::printable::printable;
use crate::redis::effects;
use crate::redis::keys::HashKey;
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx, OwnedString, RedisStr};
use crate::registry::Registered;

/// CALC.SETDICT key template field json [field json ...] seconds | PXAT unix-time-ms
pub fn setdict(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, key, name, rest @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    let (pairs, expiry) = split_expiry(rest, is_pairs, names::SETDICT)?;
    let registered = lookup(name.bytes())?;
    // Every value is packed (and so checked) before anything is written.
    let mut values: Vec<(&Arg, OwnedString)> = Vec::with_capacity(pairs.len() / 2);
    let mut packed = Vec::with_capacity(pairs.get(1).map_or(0, |json| json.bytes().len()) + 16);
    for pair in pairs.chunks_exact(2) {
        let [field, json] = pair else {
            continue;
        };
        packed.clear();
        pack_json(json.bytes(), &registered.template, &mut packed).map_err(|error| {
            CalcError::Pack {
                field: printable(field.bytes()),
                error,
            }
        })?;
        values.push((field, ctx.string(&packed)));
    }
    let hash = HashKey::open_write(ctx, key)?;

    let written = write(ctx, &hash, values.iter().map(|(f, v)| (*f, v)), &expiry);

    hash.close_and_notify(written.events());
    // The key and the stored pairs: `CALC.HSETEX ... PXAT <the time the key
    // got>` for a created key, `HSET` for one that existed.
    let stored: Vec<&dyn RedisStr> = std::iter::once(key as &dyn RedisStr)
        .chain(
            values
                .iter()
                .flat_map(|(field, value)| [*field as &dyn RedisStr, value as &dyn RedisStr]),
        )
        .collect();
    match written.created_at {
        Some(at) => effects::replicate_strings(ctx, names::HSETEX, &stored, Some(at)),
        None => effects::replicate_strings(ctx, names::HSET, &stored, None),
    }
    reply.integer(written.added);
    Ok(())
}

/// CALC.GETJSON key field template
pub fn getjson(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let json = one_field(ctx, args, json_of)?.value;
    answer(reply, json.as_deref());
    Ok(())
}

/// CALC.MGETJSON key template field [field ...]
pub fn mgetjson(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let texts = many_fields(ctx, args, json_of)?.value;
    reply.array(texts.len());
    for json in &texts {
        answer(reply, json.as_deref());
    }
    Ok(())
}

/// One JSON text, or nil.
fn answer(reply: &mut ReplyWriter, json: Option<&[u8]>) {
    match json {
        Some(json) => reply.bytes(json),
        None => reply.null(),
    }
}

/// CALC.GETVALUES key field template name [name ...]
pub fn getvalues(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, key, field, name, names @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    if names.is_empty() {
        return Err(CalcError::WrongArity);
    }
    let name = name.bytes();
    let registered = lookup(name)?;
    let template = &registered.template;
    // Every name is checked before any data is read. A few names (the
    // usual permission check asks for one) need no allocation.
    let (mut near, mut far) = ([0usize; 8], Vec::new());
    let positions: &mut [usize] = match near.get_mut(..names.len()) {
        Some(near) => near,
        None => {
            far.resize(names.len(), 0);
            &mut far
        }
    };
    let mut hint = 0;
    for (slot, wanted) in positions.iter_mut().zip(names) {
        *slot = template
            .position(wanted.bytes(), hint)
            .ok_or_else(|| CalcError::UnknownName {
                name: printable(wanted.bytes()),
                template: printable(name),
            })?;
        hint = *slot + 1;
    }
    let Some(value) = HashKey::open_read(ctx, key)?.get(field) else {
        reply.null();
        return Ok(());
    };
    let located = registered.locate(value.bytes(), name);
    match under_policy(located, &registered).map_err(CalcError::Decode)? {
        Some(located) => {
            reply.array(positions.len());
            for &position in positions.iter() {
                located.emit(template, position, reply);
            }
        }
        None => reply.null(),
    }
    Ok(())
}

/// The JSON text of a stored value, `None` when it is missing or (under
/// `ONMISMATCH NIL`) does not decode or has no JSON form.
fn json_of(
    value: Option<OwnedString>,
    registered: &Registered,
    name: &[u8],
) -> Result<Option<Vec<u8>>, DecodeError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let mut printer = JsonPrinter::new(value.bytes().len());
    let printed = registered
        .decode(value.bytes(), name, &mut printer)
        .and_then(|()| printer.finish(&registered.template));
    under_policy(printed, registered)
}
