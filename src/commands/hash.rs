//! CALC.HSETEX and CALC.A2BSET: hash writes whose TTL is set only when the
//! write creates the key, so a later field never prolongs a cached entry.
//!
//! A call whose keys all exist replicates as itself: the replica holds the same
//! keys, so it adds the same fields and leaves the TTL as the primary did. A
//! call that creates a key replicates as HSET + PEXPIREAT, the absolute expiry.

use super::{parse_ttl, Ttl};
use crate::error::CalcError;
use crate::redis::effects::{self, Replication};
use crate::redis::keys::HashKey;
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx};

/// CALC.HSETEX key field value [field value ...] seconds
pub fn hsetex(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, key, pairs @ .., seconds] = args else {
        return Err(CalcError::WrongArity);
    };
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CalcError::WrongArity);
    }
    let ttl = parse_ttl(seconds, "calc.hsetex")?;
    let hash = HashKey::open_write(ctx, key)?;
    let how = replication_for(&[hash.exists()]);
    let added = set_fields(ctx, hash, key, pairs, &ttl, how);
    finish(ctx, how);
    reply.integer(added);
    Ok(())
}

/// CALC.A2BSET akey bkey id_a id_b value seconds
pub fn a2bset(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, akey, bkey, id_a, id_b, value, seconds] = args else {
        return Err(CalcError::WrongArity);
    };
    let ttl = parse_ttl(seconds, "calc.a2bset")?;
    // Both keys are checked (type) before either is written; one handle at a
    // time, since akey and bkey may be the same key.
    let b_exists = HashKey::open_read(ctx, bkey)?.exists();
    let a_hash = HashKey::open_write(ctx, akey)?;
    let how = replication_for(&[a_hash.exists(), b_exists]);
    let mut added = set_fields(ctx, a_hash, akey, &[*id_b, *value], &ttl, how);
    let b_hash = HashKey::open_write(ctx, bkey)?;
    added += set_fields(ctx, b_hash, bkey, &[*id_a, *value], &ttl, how);
    finish(ctx, how);
    reply.integer(added);
    Ok(())
}

/// Verbatim when every key the call writes exists before it.
fn replication_for(exists: &[bool]) -> Replication {
    if exists.iter().all(|&e| e) {
        Replication::Verbatim
    } else {
        Replication::Effects
    }
}

fn finish(ctx: Ctx, how: Replication) {
    if how == Replication::Verbatim {
        effects::verbatim(ctx);
    }
}

/// HSETs `pairs` (field, value, field, value, ...) into the open `hash` named
/// `key`; if that creates the key, it gets the TTL. Returns the number of new
/// fields.
fn set_fields(
    ctx: Ctx,
    hash: HashKey,
    key: &Arg,
    pairs: &[Arg],
    ttl: &Ttl,
    how: Replication,
) -> i64 {
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
    effects::hset(ctx, how, key, pairs);
    if let Some(at) = expire_at {
        effects::expire_at(ctx, key, at);
    }
    added
}
