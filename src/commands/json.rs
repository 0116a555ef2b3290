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
use crate::json_print::{max_len, Count, JsonPrinter, Text};
use crate::limits;
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
    let read = one_field(ctx, args, stored)?;
    let values = [read.value];
    let texts = Texts::prepare(&values, &read.registered, read.name, |_, error| {
        CalcError::Decode(error)
    })?;
    texts.answer(0, reply);
    Ok(())
}

/// CALC.MGETJSON key template field [field ...]
pub fn mgetjson(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let read = many_fields(ctx, args, stored)?;
    let fields = args.get(3..).unwrap_or_default();
    let texts = Texts::prepare(&read.value, &read.registered, read.name, |i, error| {
        CalcError::DecodeField {
            field: printable(fields.get(i).map(RedisStr::bytes).unwrap_or_default()),
            error,
        }
    })?;
    reply.array(read.value.len());
    for i in 0..read.value.len() {
        texts.answer(i, reply);
    }
    Ok(())
}

/// A reply whose texts may together reach this many bytes (by `max_len`)
/// is printed in one pass, each text into a buffer of its bound; a larger
/// one is counted first.
const SMALL_REPLY: usize = 64 << 10;

/// The JSON texts of one reply, ready to be answered: every value decoded,
/// and the reply's size known to be within `calc.json-reply-max-bytes`,
/// before its first byte is written. No text is built twice, and none grows
/// (and so is copied) while it is printed.
enum Texts<'v> {
    /// Small replies (within `SMALL_REPLY` by `max_len`): the texts, printed.
    Printed(Vec<Option<Vec<u8>>>),
    /// Larger ones: each value validated and its text's size counted; each
    /// text is printed when it is answered, into a buffer of its exact size,
    /// and freed once it is in the reply.
    Counted {
        values: &'v [Option<OwnedString>],
        sizes: Vec<Option<usize>>,
        registered: &'v Registered,
        name: &'v [u8],
    },
}

impl<'v> Texts<'v> {
    /// The texts of `values` (stored values, `None` where missing) under
    /// `registered`, named `name`; `fail(i, error)` is the error for value
    /// `i`. Refused when the texts together would be over the limit.
    fn prepare(
        values: &'v [Option<OwnedString>],
        registered: &'v Registered,
        name: &'v [u8],
        fail: impl Fn(usize, DecodeError) -> CalcError,
    ) -> Result<Texts<'v>, CalcError> {
        let limit = limits::JSON_REPLY_MAX_BYTES.get();
        let template = &registered.template;
        let bound = values.iter().flatten().fold(0usize, |sum, value| {
            sum.saturating_add(max_len(value.bytes().len(), template))
        });
        if bound <= limit.min(SMALL_REPLY) {
            let printed = values
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    let capacity = value
                        .as_ref()
                        .map_or(0, |v| max_len(v.bytes().len(), template));
                    render(
                        value.as_ref(),
                        registered,
                        name,
                        Vec::with_capacity(capacity),
                    )
                    .map_err(|error| fail(i, error))
                })
                .collect::<Result<_, _>>()?;
            return Ok(Texts::Printed(printed));
        }
        let mut sizes = Vec::with_capacity(values.len());
        let mut total = 0usize;
        for (i, value) in values.iter().enumerate() {
            let size = render(value.as_ref(), registered, name, Count::default())
                .map_err(|error| fail(i, error))?
                .map(|count| count.0);
            total = total.saturating_add(size.unwrap_or(0));
            if total > limit {
                return Err(CalcError::JsonReplyTooLarge { limit });
            }
            sizes.push(size);
        }
        Ok(Texts::Counted {
            values,
            sizes,
            registered,
            name,
        })
    }

    /// Answers text `i`: a bulk string, or nil.
    fn answer(&self, i: usize, reply: &mut ReplyWriter) {
        let text = match self {
            Texts::Printed(texts) => texts.get(i).and_then(Option::as_deref),
            Texts::Counted {
                values,
                sizes,
                registered,
                name,
            } => {
                // Validated when counted: this print cannot fail.
                let value = values.get(i).and_then(Option::as_ref);
                let printed = match sizes.get(i).copied().flatten() {
                    Some(size) => render(value, registered, name, Vec::with_capacity(size)),
                    None => Ok(None),
                };
                match printed {
                    Ok(Some(text)) => reply.bytes(&text),
                    _ => reply.null(),
                }
                return;
            }
        };
        match text {
            Some(text) => reply.bytes(text),
            None => reply.null(),
        }
    }
}

/// A JSON reader keeps the stored value as it is: its text is printed once
/// the reply's size is known (`Texts`).
fn stored(
    value: Option<OwnedString>,
    _: &Registered,
    _: &[u8],
) -> Result<Option<OwnedString>, DecodeError> {
    Ok(value)
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

/// The JSON text of a stored value written into `text` (a buffer, or a
/// `Count` of its bytes), `None` when it is missing or (under `ONMISMATCH
/// NIL`) does not decode or has no JSON form.
fn render<T: Text>(
    value: Option<&OwnedString>,
    registered: &Registered,
    name: &[u8],
    text: T,
) -> Result<Option<T>, DecodeError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let mut printer = JsonPrinter::new(text);
    let printed = registered
        .decode(value.bytes(), name, &mut printer)
        .and_then(|()| printer.finish(&registered.template));
    under_policy(printed, registered)
}
