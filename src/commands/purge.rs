//! CALC.PURGEA: the design note's symmetric delete. For every field b of the
//! a-hash, remove `member` from the hash `bprefix .. b`, then delete the a-hash.
//! With `LOCAL` (for Redis Cluster without hash tags), only the b-hashes in the
//! a-key's slot are purged here; the ids of the others stay in the a-hash, as
//! the record of the work left, and are answered.
//!
//! Where a hash field can carry its own TTL (Redis 7.4+), it replicates by its
//! effects: an `HDEL bkey member` for every b-hash it removed the member from,
//! then `DEL akey` (or `HDEL akey id` for the ids purged here, with `LOCAL`),
//! which Redis wraps in MULTI/EXEC, as the design note's Lua purge does.
//! Replicated as itself, the replica and an AOF load would walk the a-hash
//! again, later and by their own clock, skip a field whose TTL had passed by
//! then, and leave its b-hash a member the primary removed. Where no field can
//! expire, the walk finds exactly what the primary's found (the same a-hash,
//! b-hashes and slot map), and it replicates as sent: one command instead of
//! one per b-hash (each `RM_Replicate` costs about 2,000 instructions, even
//! with no replica and no AOF).

use crate::error::CalcError;
use crate::printable::printable;
use crate::redis::effects::{self, Event};
use crate::redis::keys::{DerivedKeyCheck, HashKey};
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx, OwnedString, RedisStr};

/// CALC.PURGEA akey bprefix member [LOCAL]
pub fn purgea(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let (akey, bprefix, member, local) = parse(args)?;
    let prefix = bprefix.bytes();
    let bkeys = {
        let a_hash = HashKey::open_read(ctx, akey)?;
        if !a_hash.exists() {
            answer(reply, local, 0, &[], prefix);
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

    // Every key purged here is opened, and checked (ACL, slot, type), before
    // the first change. When the a-key is one of them, its handle serves both.
    let check = DerivedKeyCheck::new(ctx, akey.bytes());
    let (here, elsewhere): (Vec<OwnedString>, Vec<OwnedString>) = match local {
        true => bkeys.into_iter().partition(|b| check.is_local(b.bytes())),
        false => (bkeys, Vec::new()),
    };
    let b_hashes = check.open_all(&here)?;
    let a_among_b = match akey.bytes().strip_prefix(prefix) {
        Some(a_id) => here
            .iter()
            .position(|b| b.bytes().get(prefix.len()..) == Some(a_id)),
        None => None,
    };
    let a_hash = match a_among_b {
        Some(_) => None,
        None => Some(HashKey::open_write(ctx, akey)?),
    };
    // The ids purged here, as a-hash fields, when the a-hash stays.
    let done_ids: Vec<OwnedString> = match elsewhere.is_empty() {
        true => Vec::new(),
        false => here.iter().map(|b| ctx.string(id_of(b, prefix))).collect(),
    };

    // (removed, emptied) per b-hash; then the a-hash goes, or loses the ids
    // purged here.
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
    let a_change = match a_handle {
        Some(a_hash) if elsewhere.is_empty() && a_hash.exists() => {
            a_hash.delete();
            AChange::Deleted
        }
        Some(a_hash) => {
            let mut any = false;
            for id in &done_ids {
                any |= a_hash.remove(id);
            }
            match any {
                true => AChange::LostIds {
                    emptied: !a_hash.exists(),
                },
                false => AChange::Unchanged,
            }
        }
        None => AChange::Unchanged,
    };
    let a_events = a_change.events();
    let removed = outcomes.iter().filter(|(removed, _)| *removed).count();

    let by_effects = effects::fields_can_expire();
    for (i, (b_hash, (removed, emptied))) in b_hashes.into_iter().zip(outcomes).enumerate() {
        let events = hdel_events(removed, emptied);
        match Some(i) == a_among_b {
            true => b_hash.close_and_notify(&[events, a_events].concat()),
            false => b_hash.close_and_notify(events),
        }
        if by_effects && removed {
            if let Some(bkey) = here.get(i) {
                effects::replicate_hdel(ctx, bkey, member);
            }
        }
    }
    if let Some(a_hash) = a_hash {
        a_hash.close_and_notify(a_events);
    }
    match a_change {
        // The a-hash existed, so something changed.
        _ if !by_effects => effects::verbatim(ctx),
        AChange::Deleted => effects::replicate_del(ctx, akey),
        AChange::LostIds { .. } => {
            for id in &done_ids {
                effects::replicate_hdel(ctx, akey, id);
            }
        }
        AChange::Unchanged => {}
    }
    answer(reply, local, removed, &elsewhere, prefix);
    Ok(())
}

/// What the purge did to the a-hash itself.
enum AChange {
    /// Every b-hash was purged here: the a-hash is gone.
    Deleted,
    /// With `LOCAL`, the ids purged here left it (`emptied`: with them its
    /// last field).
    LostIds {
        emptied: bool,
    },
    Unchanged,
}

impl AChange {
    fn events(&self) -> &'static [Event] {
        match *self {
            AChange::Deleted => &[Event::Del],
            AChange::LostIds { emptied } => hdel_events(true, emptied),
            AChange::Unchanged => &[],
        }
    }
}

/// HDEL's events: `hdel` when a field was removed, and `del` when that
/// emptied (and so deleted) the hash.
fn hdel_events(removed: bool, emptied: bool) -> &'static [Event] {
    match (removed, emptied) {
        (true, true) => &[Event::Hdel, Event::Del],
        (true, false) => &[Event::Hdel],
        (false, _) => &[],
    }
}

/// `akey bprefix member [LOCAL]`.
fn parse<'a, 'b>(
    args: &'b [Arg<'a>],
) -> Result<(&'b Arg<'a>, &'b Arg<'a>, &'b Arg<'a>, bool), CalcError> {
    match args {
        [_, akey, bprefix, member] => Ok((akey, bprefix, member, false)),
        [_, akey, bprefix, member, option] if option.bytes().eq_ignore_ascii_case(b"LOCAL") => {
            Ok((akey, bprefix, member, true))
        }
        [_, _, _, _, option] => Err(CalcError::Syntax {
            reason: format!(
                "unknown option '{}' (LOCAL is the only one)",
                printable(option.bytes())
            ),
        }),
        _ => Err(CalcError::WrongArity),
    }
}

/// The b-id in a derived key.
fn id_of<'s>(bkey: &'s OwnedString, prefix: &[u8]) -> &'s [u8] {
    bkey.bytes().get(prefix.len()..).unwrap_or_default()
}

/// The number removed; with `LOCAL`, `[removed, [id, ...]]` with the ids
/// whose b-hashes are on other nodes.
fn answer(
    reply: &mut ReplyWriter,
    local: bool,
    removed: usize,
    elsewhere: &[OwnedString],
    prefix: &[u8],
) {
    if !local {
        reply.integer(removed as i64);
        return;
    }
    reply.array(2);
    reply.integer(removed as i64);
    reply.array(elsewhere.len());
    for bkey in elsewhere {
        reply.bytes(id_of(bkey, prefix));
    }
}
