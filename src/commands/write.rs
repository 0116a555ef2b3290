//! Every writer's one write to one hash: HSET the pairs, and the expiry only
//! when the write creates the key (the design note's creation-only TTL).
//! `hash` and `json` say only what they parse and replicate.

use super::args::Expiry;
use crate::redis::effects::Event;
use crate::redis::keys::HashKey;
use crate::redis::{Ctx, RedisStr};

/// What one write did to one hash.
pub(super) struct Written {
    /// New fields (as HSET counts them).
    pub added: i64,
    /// The absolute expiry the write gave the key, when it created it.
    pub created_at: Option<i64>,
}

impl Written {
    /// The events the design note's script fires: `hset`, and `expire` when
    /// the write created the key.
    pub fn events(&self) -> &'static [Event] {
        match self.created_at {
            Some(_) => &[Event::Hset, Event::Expire],
            None => &[Event::Hset],
        }
    }
}

/// HSETs `pairs` into the open `hash`; if that creates the key, it gets the
/// expiry.
pub(super) fn write<'p, F: RedisStr + 'p, V: RedisStr + 'p>(
    ctx: Ctx,
    hash: &HashKey,
    pairs: impl Iterator<Item = (&'p F, &'p V)>,
    expiry: &Expiry,
) -> Written {
    let created = !hash.exists();
    let added = pairs
        .map(|(field, value)| hash.set(field, value) as i64)
        .sum();
    let created_at = created.then(|| expiry.at(|| ctx.now_ms()));
    if let Some(at) = created_at {
        hash.expire_at(at);
    }
    Written { added, created_at }
}
