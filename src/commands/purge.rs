//! CALC.PURGEA: the design note's symmetric delete. For every field b of the
//! a-hash, remove `member` from the hash `bprefix .. b`, then delete the a-hash.

use redis_module::{Context, RedisResult, RedisString};

use super::run;
use crate::effects;
use crate::error::CalcError;
use crate::keys::{bytes_of, DerivedKeyCheck, HashKey, OwnedString};

/// CALC.PURGEA akey bprefix member
pub fn purgea(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    run(ctx, args, |ctx, args, reply| {
        let [_, akey, bprefix, member] = args else {
            return Err(CalcError::WrongArity);
        };
        let b_ids = {
            let a_hash = HashKey::open_read(ctx, akey)?;
            if !a_hash.exists() {
                reply.integer(0);
                return Ok(());
            }
            a_hash.field_names()
        };

        // The b-keys come from data, so Redis has not checked them: check them
        // all (ACL, slot, type) before the first change.
        let prefix = bytes_of(bprefix.inner);
        let mut check = DerivedKeyCheck::new(ctx, bytes_of(akey.inner));
        let mut bkeys = Vec::with_capacity(b_ids.len());
        for b_id in &b_ids {
            let bkey = OwnedString::new(ctx, &[prefix, b_id.as_slice()].concat());
            check.check_writable_hash(&bkey)?;
            bkeys.push(bkey);
        }
        check.finish()?;

        // Each key is opened and closed in turn: a derived key may be the a-key
        // itself, and two open handles on one key must never coexist.
        let mut removed = 0;
        for bkey in &bkeys {
            let b_hash = HashKey::open_write(ctx, bkey)?;
            if b_hash.remove(member.inner) {
                let emptied = !b_hash.exists();
                drop(b_hash);
                effects::hdel(ctx, bkey, member.inner, emptied);
                removed += 1;
            }
        }
        let a_hash = HashKey::open_write(ctx, akey)?;
        if a_hash.exists() {
            a_hash.delete();
            drop(a_hash);
            effects::del(ctx, akey);
        }
        reply.integer(removed);
        Ok(())
    })
}
