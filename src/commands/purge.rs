//! CALC.PURGEA: the design note's symmetric delete. For every field b of the
//! a-hash, remove `member` from the hash `bprefix .. b`, then delete the a-hash.
//!
//! It replicates as itself: the replica holds the same a-hash and b-hashes, so
//! it derives the same keys and removes the same fields (one propagated
//! command instead of an HDEL per b-hash and a DEL).

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
    let mut removed = 0;
    for (bkey, b_hash) in bkeys.iter().zip(b_hashes) {
        if b_hash.remove(member) {
            let emptied = !b_hash.exists();
            drop(b_hash);
            effects::notify_hdel(ctx, bkey, emptied);
            removed += 1;
        }
    }
    let a_hash = HashKey::open_write(ctx, akey)?;
    if a_hash.exists() {
        a_hash.delete();
        drop(a_hash);
        effects::notify_del(ctx, akey);
    }
    // The a-hash existed, so something changed.
    effects::verbatim(ctx);
    reply.integer(removed);
    Ok(())
}
