//! CALC.PURGEA: the design note's symmetric delete. For every field b of the
//! a-hash, remove `member` from the hash `bprefix .. b`, then delete the a-hash.
//!
//! It replicates by its effects where a hash field can carry its own TTL
//! (Redis 7.4+): an `HDEL bkey member` for every b-hash it removed the member
//! from, then `DEL akey` (Redis wraps them in MULTI/EXEC), as the design
//! note's Lua purge does. Replicated as itself, the replica and an AOF load
//! would walk the a-hash again, later and by their own clock, skip a field
//! whose TTL had passed by then, and leave its b-hash a member the primary
//! removed. Where no field can expire, the walk finds exactly what the
//! primary's found, and it replicates as sent: one command instead of one per
//! b-hash (each `RM_Replicate` costs about 2,000 instructions, even with no
//! replica and no AOF).

use crate::error::CalcError;
use crate::redis::effects;
use crate::redis::keys::{DerivedKeyCheck, HashKey};
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx, RedisStr};

/// CALC.PURGEA akey bprefix member
pub fn purgea(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let [_, akey, bprefix, member] = args else {
        return Err(CalcError::WrongArity);
    };
    let prefix = bprefix.bytes();
    let bkeys = {
        let a_hash = HashKey::open_read(ctx, akey)?;
        if !a_hash.exists() {
            reply.integer(0);
            return Ok(());
        }
        let mut bkeys = Vec::with_capacity(a_hash.len());
        let mut name = prefix.to_vec();
        a_hash.for_each_field(|b_id| {
            name.truncate(prefix.len());
            name.extend_from_slice(b_id);
            bkeys.push(ctx.string(&name));
        });
        bkeys
        // The a-hash's handle closes here: a derived key may be the a-key
        // itself, and two handles on one key must never coexist.
    };

    // Everything is checked (ACL, slot, type) before the first change.
    let b_hashes = DerivedKeyCheck::new(ctx, akey.bytes()).open_all(&bkeys)?;
    let mut removed = Vec::with_capacity(bkeys.len());
    for (bkey, b_hash) in bkeys.iter().zip(b_hashes) {
        if b_hash.remove(member) {
            removed.push((bkey, !b_hash.exists()));
        }
    }
    let a_deleted = {
        let a_hash = HashKey::open_write(ctx, akey)?;
        let existed = a_hash.exists();
        a_hash.delete();
        existed
    };

    // Effects, after every handle has closed: HDEL's events (plus `del` for
    // an emptied b-hash) and DEL's, and the same writes replicated, or the
    // command as sent (the a-hash existed, so something changed).
    let by_effects = effects::fields_can_expire();
    for (bkey, emptied) in &removed {
        effects::notify_hdel(ctx, *bkey, *emptied);
        if by_effects {
            effects::replicate_hdel(ctx, *bkey, member);
        }
    }
    if a_deleted {
        effects::notify_del(ctx, akey);
        if by_effects {
            effects::replicate_del(ctx, akey);
        }
    }
    if !by_effects {
        effects::verbatim(ctx);
    }
    let removed = removed.len() as i64;
    reply.integer(removed);
    Ok(())
}
