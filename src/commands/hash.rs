//! CALC.HSETEX and CALC.A2BSET: hash writes whose TTL is set only when the
//! write creates the key, so a later field never prolongs a cached entry.

use super::{parse_ttl, Ttl};
use crate::error::CalcError;
use crate::redis::keys::HashKey;
use crate::redis::reply::ReplyWriter;
use crate::redis::{effects, Arg, Ctx};

/// CALC.HSETEX key field value [field value ...] seconds
pub fn hsetex(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, key, pairs @ .., seconds] = args else {
        return Err(CalcError::WrongArity);
    };
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CalcError::WrongArity);
    }
    let ttl = parse_ttl(seconds, "calc.hsetex")?;
    let added = set_fields(ctx, key, pairs, &ttl)?;
    reply.integer(added);
    Ok(())
}

/// CALC.A2BSET akey bkey id_a id_b value seconds
pub fn a2bset(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, akey, bkey, id_a, id_b, value, seconds] = args else {
        return Err(CalcError::WrongArity);
    };
    let ttl = parse_ttl(seconds, "calc.a2bset")?;
    // Check the b side first: a WRONGTYPE there must not leave the a side written.
    HashKey::open_read(ctx, bkey)?;
    let added = set_fields(ctx, akey, &[*id_b, *value], &ttl)?
        + set_fields(ctx, bkey, &[*id_a, *value], &ttl)?;
    reply.integer(added);
    Ok(())
}

/// HSETs `pairs` (field, value, field, value, ...) into the hash at `key`; if
/// that creates the key, it gets the TTL. Returns the number of new fields.
/// Fails with WRONGTYPE before writing anything.
fn set_fields(ctx: Ctx, key: &Arg, pairs: &[Arg], ttl: &Ttl) -> Result<i64, CalcError> {
    let hash = HashKey::open_write(ctx, key)?;
    let created = !hash.exists();
    let mut added = 0;
    for pair in pairs.chunks_exact(2) {
        if let [field, value] = pair {
            added += hash.set(field, value) as i64;
        }
    }
    let expire_at = created.then(|| ttl.expire_at(ctx));
    if let Some(at) = expire_at {
        hash.expire_at(at);
    }
    drop(hash);
    effects::hset(ctx, key, pairs);
    if let Some(at) = expire_at {
        effects::expire_at(ctx, key, at);
    }
    Ok(added)
}
