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

/// CALC.PURGEA akey bprefix member [LOCAL]: plan (which keys, which are
/// local) -> open and check every key -> apply -> effects -> reply.
pub fn purgea(ctx: Ctx, args: &[Arg], reply: &mut ReplyWriter) -> Result<(), CalcError> {
    let (akey, bprefix, member, local) = parse(args)?;
    let prefix = bprefix.bytes();
    let Some(plan) = Plan::read(ctx, akey, prefix, local)? else {
        answer(reply, local, 0, &[], prefix);
        return Ok(());
    };
    let opened = Opened::open(ctx, akey, prefix, &plan)?;
    let applied = opened.apply(member, &plan);
    let removed = applied.removed();
    opened.effects(ctx, akey, member, &plan, applied);
    answer(reply, local, removed, &plan.elsewhere, prefix);
    Ok(())
}

/// Which keys a purge touches, read from the a-hash before anything is
/// opened for writing.
struct Plan<'a> {
    /// The b-keys purged here: all of them, or with `LOCAL` those in the
    /// a-key's slot.
    here: Vec<OwnedString>,
    /// With `LOCAL`, the b-keys in other slots: their ids stay in the a-hash.
    elsewhere: Vec<OwnedString>,
    /// The ids purged here, as a-hash fields, when the a-hash stays.
    done_ids: Vec<OwnedString>,
    check: DerivedKeyCheck<'a>,
}

impl<'a> Plan<'a> {
    /// `None` when the a-hash does not exist (nothing to do).
    fn read(
        ctx: Ctx<'a>,
        akey: &'a Arg<'a>,
        prefix: &[u8],
        local: bool,
    ) -> Result<Option<Plan<'a>>, CalcError> {
        let bkeys = {
            let a_hash = HashKey::open_read(ctx, akey)?;
            if !a_hash.exists() {
                return Ok(None);
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
        let check = DerivedKeyCheck::new(ctx, akey.bytes());
        let (here, elsewhere): (Vec<OwnedString>, Vec<OwnedString>) = match local {
            true => bkeys.into_iter().partition(|b| check.is_local(b.bytes())),
            false => (bkeys, Vec::new()),
        };
        let done_ids = match elsewhere.is_empty() {
            true => Vec::new(),
            false => here.iter().map(|b| ctx.string(id_of(b, prefix))).collect(),
        };
        Ok(Some(Plan {
            here,
            elsewhere,
            done_ids,
            check,
        }))
    }
}

/// Every key purged here, opened and checked (ACL, slot, type) before the
/// first change.
struct Opened<'a> {
    b_hashes: Vec<HashKey<'a>>,
    a_hash: AHash<'a>,
}

/// The a-hash's handle: its own, or, when the a-key is also one of the
/// b-keys, that b-hash's (two handles on one key must never coexist).
enum AHash<'a> {
    Own(HashKey<'a>),
    AmongB(usize),
}

/// What `apply` did.
struct Applied {
    /// (removed, emptied) per b-hash, in `Plan::here`'s order.
    outcomes: Vec<(bool, bool)>,
    a_change: AChange,
}

impl Applied {
    fn removed(&self) -> usize {
        self.outcomes.iter().filter(|(removed, _)| *removed).count()
    }
}

impl<'a> Opened<'a> {
    fn open(
        ctx: Ctx<'a>,
        akey: &'a Arg<'a>,
        prefix: &[u8],
        plan: &'a Plan<'a>,
    ) -> Result<Opened<'a>, CalcError> {
        let b_hashes = plan.check.open_all(&plan.here)?;
        let among_b = akey
            .bytes()
            .strip_prefix(prefix)
            .and_then(|a_id| plan.here.iter().position(|b| id_of(b, prefix) == a_id));
        let a_hash = match among_b {
            Some(i) => AHash::AmongB(i),
            None => AHash::Own(HashKey::open_write(ctx, akey)?),
        };
        Ok(Opened { b_hashes, a_hash })
    }

    fn a_hash(&self) -> Option<&HashKey<'a>> {
        match &self.a_hash {
            AHash::Own(a_hash) => Some(a_hash),
            AHash::AmongB(i) => self.b_hashes.get(*i),
        }
    }

    /// Removes `member` from every b-hash; then the a-hash goes, or (with
    /// b-hashes elsewhere) loses the ids purged here.
    fn apply(&self, member: &Arg, plan: &Plan) -> Applied {
        let outcomes = self
            .b_hashes
            .iter()
            .map(|b_hash| {
                let removed = b_hash.remove(member);
                (removed, removed && !b_hash.exists())
            })
            .collect();
        let a_change = match self.a_hash() {
            Some(a_hash) if plan.elsewhere.is_empty() && a_hash.exists() => {
                a_hash.delete();
                AChange::Deleted
            }
            Some(a_hash) => {
                let mut any = false;
                for id in &plan.done_ids {
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
        Applied { outcomes, a_change }
    }

    /// Closes every key with its events, and replicates: by effects where a
    /// field can expire, else as sent.
    fn effects(self, ctx: Ctx, akey: &Arg, member: &Arg, plan: &Plan, applied: Applied) {
        let a_events = applied.a_change.events();
        let among_b = match self.a_hash {
            AHash::AmongB(i) => Some(i),
            AHash::Own(_) => None,
        };
        let by_effects = effects::fields_can_expire();
        let purged = self.b_hashes.into_iter().zip(&plan.here);
        for (i, ((b_hash, bkey), &(removed, emptied))) in purged.zip(&applied.outcomes).enumerate()
        {
            let events = hdel_events(removed, emptied);
            match Some(i) == among_b {
                true => b_hash.close_and_notify(&[events, a_events].concat()),
                false => b_hash.close_and_notify(events),
            }
            if by_effects && removed {
                effects::replicate_hdel(ctx, bkey, member);
            }
        }
        if let AHash::Own(a_hash) = self.a_hash {
            a_hash.close_and_notify(a_events);
        }
        match applied.a_change {
            // The a-hash existed, so something changed.
            _ if !by_effects => effects::verbatim(ctx),
            AChange::Deleted => effects::replicate_del(ctx, akey),
            AChange::LostIds { .. } => {
                for id in &plan.done_ids {
                    effects::replicate_hdel(ctx, akey, id);
                }
            }
            AChange::Unchanged => {}
        }
    }
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
