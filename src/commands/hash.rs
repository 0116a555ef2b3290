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

use super::{is_pxat, parse_pxat, parse_seconds, Expiry};
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
    // Pairs then `seconds` leave an odd count after the key, pairs then
    // `PXAT ms` an even one: a field or value named PXAT is never mistaken.
    let (pairs, expiry) = match rest {
        [pairs @ .., seconds] if rest.len() % 2 == 1 => {
            (pairs, parse_seconds(seconds.bytes(), "calc.hsetex")?)
        }
        [pairs @ .., pxat, at] if is_pxat(pxat) => (pairs, parse_pxat(at.bytes(), "calc.hsetex")?),
        _ => return Err(CalcError::WrongArity),
    };
    if pairs.is_empty() {
        return Err(CalcError::WrongArity);
    }
    let hash = HashKey::open_write(ctx, key)?;
    let (added, created) = set_fields(ctx, hash, key, pairs, &expiry);
    match created {
        Some(at) if !expiry.is_absolute() => effects::replicate_hsetex_at(ctx, key, pairs, at),
        _ => effects::verbatim(ctx),
    }
    reply.integer(added);
    Ok(())
}

/// CALC.A2BSET akey bkey id_a id_b value seconds | PXAT unix-time-ms
pub fn a2bset(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let (stash, expiry) = match args {
        [_, stash @ .., seconds] if stash.len() == 5 => {
            (stash, parse_seconds(seconds.bytes(), "calc.a2bset")?)
        }
        [_, stash @ .., pxat, at] if stash.len() == 5 && is_pxat(pxat) => {
            (stash, parse_pxat(at.bytes(), "calc.a2bset")?)
        }
        _ => return Err(CalcError::WrongArity),
    };
    let [akey, bkey, id_a, id_b, value] = stash else {
        return Err(CalcError::WrongArity);
    };
    // Both keys are checked (type) before either is written; one handle at a
    // time, since akey and bkey may be the same key.
    HashKey::open_read(ctx, bkey)?;
    let a_hash = HashKey::open_write(ctx, akey)?;
    let (a_added, a_created) = set_fields(ctx, a_hash, akey, &[*id_b, *value], &expiry);
    let b_hash = HashKey::open_write(ctx, bkey)?;
    let (b_added, b_created) = set_fields(ctx, b_hash, bkey, &[*id_a, *value], &expiry);
    match a_created.or(b_created) {
        Some(at) if !expiry.is_absolute() => effects::replicate_a2bset_at(ctx, stash, at),
        _ => effects::verbatim(ctx),
    }
    reply.integer(a_added + b_added);
    Ok(())
}

/// HSETs `pairs` (field, value, field, value, ...) into the open `hash` named
/// `key`; if that creates the key, it gets the expiry. Returns the number of
/// new fields and, for a created key, its absolute expiry.
fn set_fields(
    ctx: Ctx,
    hash: HashKey,
    key: &Arg,
    pairs: &[Arg],
    expiry: &Expiry,
) -> (i64, Option<i64>) {
    let created = !hash.exists();
    let mut added = 0;
    for pair in pairs.chunks_exact(2) {
        if let [field, value] = pair {
            added += hash.set(field, value) as i64;
        }
    }
    let expire_at = created.then(|| expiry.at(ctx));
    if let Some(at) = expire_at {
        hash.expire_at(at);
    }
    drop(hash);
    effects::notify_hset(ctx, key);
    if expire_at.is_some() {
        effects::notify_expire(ctx, key);
    }
    (added, expire_at)
}
