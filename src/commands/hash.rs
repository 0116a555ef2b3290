//! CALC.HSETEX and CALC.A2BSET: hash writes whose TTL is set only when the
//! write creates the key, so a later field never prolongs a cached entry.
//!
//! Each call replicates as one command that never carries a relative expiry:
//! as sent, when every key it writes exists (the replica holds the same keys,
//! so it adds the same fields and leaves the TTL alone) or when it gave its
//! expiry as `PXAT`; otherwise as the same command with the absolute time the
//! created keys got, `... PXAT <unix-ms>`. Field TTLs (Redis 7.4+) change
//! none of this: a replica or an AOF load never removes a key or a field by
//! its own clock, so it finds the keys the primary found
//! (`tests/field_expiry.rs`).

use super::args::{is_pairs, split_expiry};
use super::names;
use super::write::write;
use crate::error::CalcError;
use crate::redis::effects;
use crate::redis::keys::HashKey;
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx, RedisStr};

/// CALC.HSETEX key field value [field value ...] seconds | PXAT unix-time-ms
pub fn hsetex(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, key, rest @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    let (pairs, expiry) = split_expiry(rest, is_pairs, names::HSETEX)?;
    let hash = HashKey::open_write(ctx, key)?;

    let pairs_iter = pairs.chunks_exact(2).filter_map(|pair| match pair {
        [field, value] => Some((field, value)),
        _ => None,
    });
    let written = write(ctx, &hash, pairs_iter, &expiry);

    hash.close_and_notify(written.events());
    match written.created_at {
        Some(at) if !expiry.is_absolute() => {
            // The key and its pairs, as sent, then the time the key got.
            let sent = args.get(1..2 + pairs.len()).unwrap_or_default();
            effects::replicate(ctx, names::HSETEX, sent, Some(at));
        }
        _ => effects::verbatim(ctx),
    }
    reply.integer(written.added);
    Ok(())
}

/// CALC.A2BSET akey bkey id_a id_b value seconds | PXAT unix-time-ms
pub fn a2bset(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, rest @ ..] = args else {
        return Err(CalcError::WrongArity);
    };
    let (stash, expiry) = split_expiry(rest, |n| n == 5, names::A2BSET)?;
    let [akey, bkey, id_a, id_b, value] = stash else {
        return Err(CalcError::WrongArity);
    };
    // Both keys are opened (type-checked) before either is written. akey and
    // bkey may be the same key, which then gets both fields through one handle.
    let a_hash = HashKey::open_write(ctx, akey)?;
    let b_hash = match akey.bytes() == bkey.bytes() {
        true => None,
        false => Some(HashKey::open_write(ctx, bkey)?),
    };

    let a_written = write(ctx, &a_hash, [(id_b, value)].into_iter(), &expiry);
    let b_written = write(
        ctx,
        b_hash.as_ref().unwrap_or(&a_hash),
        [(id_a, value)].into_iter(),
        &expiry,
    );

    let created_at = a_written.created_at.or(b_written.created_at);
    match b_hash {
        Some(b_hash) => {
            a_hash.close_and_notify(a_written.events());
            b_hash.close_and_notify(b_written.events());
        }
        None => a_hash.close_and_notify(&[a_written.events(), b_written.events()].concat()),
    }
    match created_at {
        Some(at) if !expiry.is_absolute() => {
            effects::replicate(ctx, names::A2BSET, stash, Some(at))
        }
        _ => effects::verbatim(ctx),
    }
    reply.integer(a_written.added + b_written.added);
    Ok(())
}
