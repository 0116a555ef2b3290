//! CALC.PURGEA: the design note's symmetric delete. For every field b of the
//! a-hash, remove `member` from the hash `bprefix .. b`, then delete the a-hash.
//!
//! It replicates as itself: the replica holds the same a-hash and b-hashes, so
//! it derives the same keys and removes the same fields (one propagated
//! command instead of an HDEL per b-hash and a DEL).

use crate::error::CalcError;
use crate::redis::effects::{self, Event};
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
        let mut bkeys = Vec::with_capacity(a_hash.field_count());
        let mut name = prefix.to_vec();
        a_hash.for_each_field(|b_id| {
            name.truncate(prefix.len());
            name.extend_from_slice(b_id);
            bkeys.push(ctx.string(&name));
        });
        bkeys
        // This read handle closes here: a derived key may be the a-key
        // itself, and two handles on one key must never coexist.
    };

    // Every key is opened, and checked (ACL, slot, type), before the first
    // change. When the a-key is one of the derived keys, its handle serves both.
    let b_hashes = DerivedKeyCheck::new(ctx, akey.bytes()).open_all(&bkeys)?;
    let a_among_b = match akey.bytes().strip_prefix(prefix) {
        Some(a_id) => bkeys
            .iter()
            .position(|b| b.bytes().get(prefix.len()..) == Some(a_id)),
        None => None,
    };
    let a_hash = match a_among_b {
        Some(_) => None,
        None => Some(HashKey::open_write(ctx, akey)?),
    };

    // (removed, emptied) per b-hash; then the a-hash goes.
    let outcomes: Vec<(bool, bool)> = b_hashes
        .iter()
        .map(|b_hash| {
            let removed = b_hash.remove(member);
            (removed, removed && !b_hash.exists())
        })
        .collect();
    let a_handle = a_hash
        .as_ref()
        .or_else(|| a_among_b.and_then(|i| b_hashes.get(i)));
    let a_deleted = a_handle.is_some_and(|a_hash| {
        let existed = a_hash.exists();
        a_hash.delete();
        existed
    });
    let removed = outcomes.iter().filter(|(removed, _)| *removed).count();

    for (i, (b_hash, (removed, emptied))) in b_hashes.into_iter().zip(outcomes).enumerate() {
        let deleted = emptied || (a_deleted && Some(i) == a_among_b);
        b_hash.close_and_notify(match (removed, deleted) {
            (true, true) => &[Event::Hdel, Event::Del],
            (true, false) => &[Event::Hdel],
            (false, true) => &[Event::Del],
            (false, false) => &[],
        });
    }
    if let Some(a_hash) = a_hash {
        a_hash.close_and_notify(if a_deleted { &[Event::Del] } else { &[] });
    }
    // The a-hash existed, so something changed.
    effects::verbatim(ctx);
    reply.integer(removed as i64);
    Ok(())
}
