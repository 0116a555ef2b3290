//! The one place keys are opened, and the checks Redis cannot do for us.
//!
//! Redis checks declared keys (ACL, cluster slot) before a command runs. The
//! b-keys `CALC.PURGEA` derives from data are invisible to it, so they are checked
//! here, all of them, before anything is changed.

use std::ffi::c_void;
use std::ptr::{self, NonNull};

use crc16::{State, XMODEM};
use redis_module::{raw, ContextFlags};

use super::acl::User;
use super::effects::{self, Event};
use super::{bytes_of, Ctx, OwnedString, RedisStr};

/// Why a key could not be opened or may not be touched. Key names are the raw
/// bytes; the layer above renders them.
#[derive(Debug, PartialEq)]
pub enum KeyError {
    /// The key holds another type than a hash.
    WrongType { key: Vec<u8> },
    /// The caller may not write this derived key.
    NoPerm { key: Vec<u8> },
    /// A derived key hashes to another slot than the declared key.
    CrossSlot {
        key: Vec<u8>,
        slot: u16,
        declared: Vec<u8>,
        declared_slot: u16,
    },
    /// The slot migrates and a derived key is not on this node.
    TryAgain { slot: u16 },
}

/// An open key that is a hash or does not exist. Closed (and, if written,
/// signalled as modified to WATCH and client-side caching) when dropped, or
/// by `close_and_notify`, which is how a write's events are fired: Redis
/// wants a key written through a handle closed before anyone is told.
pub struct HashKey<'a> {
    ctx: Ctx<'a>,
    key: *mut raw::RedisModuleKey,
    name: *mut raw::RedisModuleString,
}

impl<'a> HashKey<'a> {
    pub fn open_read(ctx: Ctx<'a>, name: &'a impl RedisStr) -> Result<HashKey<'a>, KeyError> {
        Self::open(ctx, name, raw::REDISMODULE_READ)
    }

    pub fn open_write(ctx: Ctx<'a>, name: &'a impl RedisStr) -> Result<HashKey<'a>, KeyError> {
        Self::open(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE)
    }

    fn open(ctx: Ctx<'a>, name: &'a impl RedisStr, mode: u32) -> Result<HashKey<'a>, KeyError> {
        // SAFETY: the command's context and a live key name. In read mode a
        // missing key gives a NULL handle; every method treats NULL as "does
        // not exist".
        let key = unsafe { raw::RedisModule_OpenKey.unwrap()(ctx.ptr, name.ptr(), mode as i32) };
        let opened = HashKey {
            ctx,
            key,
            name: name.ptr(),
        };
        match opened.key_type() {
            t if t == raw::REDISMODULE_KEYTYPE_EMPTY as i32
                || t == raw::REDISMODULE_KEYTYPE_HASH as i32 =>
            {
                Ok(opened)
            }
            _ => Err(KeyError::WrongType {
                key: name.bytes().to_vec(),
            }),
        }
    }

    fn key_type(&self) -> i32 {
        if self.key.is_null() {
            return raw::REDISMODULE_KEYTYPE_EMPTY as i32;
        }
        // SAFETY: an open, non-NULL key handle.
        unsafe { raw::RedisModule_KeyType.unwrap()(self.key) }
    }

    pub fn exists(&self) -> bool {
        self.key_type() != raw::REDISMODULE_KEYTYPE_EMPTY as i32
    }

    /// The key's name, as it was opened.
    pub fn name(&self) -> &[u8] {
        bytes_of(self.name)
    }

    /// The number of fields (0 when the key does not exist).
    pub fn field_count(&self) -> usize {
        if self.key.is_null() {
            return 0;
        }
        // SAFETY: an open, non-NULL key handle.
        unsafe { raw::RedisModule_ValueLength.unwrap()(self.key) }
    }

    /// Closes the key, then fires `events` on its name (keyspace
    /// notifications), in order.
    pub fn close_and_notify(self, events: &[Event]) {
        let (ctx, name) = (self.ctx, self.name);
        drop(self);
        for &event in events {
            effects::notify(ctx, event, name);
        }
    }

    /// The value of `field`, or `None` when the key or the field is missing.
    pub fn get(&self, field: &impl RedisStr) -> Option<OwnedString> {
        if !self.exists() {
            return None;
        }
        let mut value: *mut raw::RedisModuleString = ptr::null_mut();
        // SAFETY: an open hash key; a NULL-terminated field list; `value`
        // receives a new string the caller owns (freed by OwnedString).
        unsafe {
            raw::RedisModule_HashGet.unwrap()(
                self.key,
                raw::REDISMODULE_HASH_NONE as i32,
                field.ptr(),
                &mut value as *mut *mut raw::RedisModuleString,
                ptr::null_mut::<c_void>(),
            );
        }
        NonNull::new(value).map(|ptr| OwnedString {
            ctx: self.ctx.ptr,
            ptr,
        })
    }

    /// Sets `field`; true when the field is new (as HSET counts).
    pub fn set(&self, field: &impl RedisStr, value: &impl RedisStr) -> bool {
        // Without COUNT_ALL, HashSet counts the fields that existed and were updated.
        // SAFETY: a key opened for writing that is a hash or empty; a
        // NULL-terminated field/value list of live strings.
        let updated = unsafe {
            raw::RedisModule_HashSet.unwrap()(
                self.key,
                raw::REDISMODULE_HASH_NONE as i32,
                field.ptr(),
                value.ptr(),
                ptr::null_mut::<c_void>(),
            )
        };
        updated == 0
    }

    /// Removes `field`; true when it was there. Redis deletes a hash left empty.
    pub fn remove(&self, field: &impl RedisStr) -> bool {
        if !self.exists() {
            return false;
        }
        // SAFETY: an existing hash opened for writing; the field list is
        // NULL-terminated; HASH_DELETE is Redis's own marker value.
        let deleted = unsafe {
            raw::RedisModule_HashSet.unwrap()(
                self.key,
                raw::REDISMODULE_HASH_NONE as i32,
                field.ptr(),
                raw::REDISMODULE_HASH_DELETE,
                ptr::null_mut::<c_void>(),
            )
        };
        deleted == 1
    }

    /// Sets the key's expiry to the absolute unix time `at_ms` (a time already
    /// past leaves the key expired, as on a replica applying a creation late).
    pub fn expire_at(&self, at_ms: i64) {
        // SAFETY: a key opened for writing that exists (it was just written).
        unsafe { raw::RedisModule_SetAbsExpire.unwrap()(self.key, at_ms) };
    }

    pub fn delete(&self) {
        if self.exists() {
            // SAFETY: an existing key opened for writing.
            unsafe { raw::RedisModule_DeleteKey.unwrap()(self.key) };
        }
    }

    /// Calls `each` with every field name of the hash.
    pub fn for_each_field(&self, mut each: impl FnMut(&[u8])) {
        if !self.exists() {
            return;
        }
        extern "C" fn visit(
            _key: *mut raw::RedisModuleKey,
            field: *mut raw::RedisModuleString,
            _value: *mut raw::RedisModuleString,
            each: *mut c_void,
        ) {
            // SAFETY: `each` is the `privdata` passed below: a pointer to a
            // `&mut dyn FnMut(&[u8])` that outlives the scan.
            let each = unsafe { &mut *each.cast::<&mut dyn FnMut(&[u8])>() };
            each(bytes_of(field));
        }
        let mut each: &mut dyn FnMut(&[u8]) = &mut each;
        let privdata = (&mut each as *mut &mut dyn FnMut(&[u8])).cast::<c_void>();
        // SAFETY: an existing hash key; the cursor is created and destroyed
        // here; `privdata` outlives every callback, which only runs inside
        // ScanKey.
        unsafe {
            let cursor = raw::RedisModule_ScanCursorCreate.unwrap()();
            let scan = raw::RedisModule_ScanKey.unwrap();
            while scan(self.key, cursor, Some(visit), privdata) != 0 {}
            raw::RedisModule_ScanCursorDestroy.unwrap()(cursor);
        }
    }
}

impl Drop for HashKey<'_> {
    fn drop(&mut self) {
        if !self.key.is_null() {
            // SAFETY: an open handle, closed exactly once, here.
            unsafe { raw::RedisModule_CloseKey.unwrap()(self.key) };
        }
    }
}

/// The cluster hash slot of a key, honouring `{hash tags}` as Redis does.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    State::<XMODEM>::calculate(hashed) & 0x3fff
}

/// Keys derived from data, which Redis has not checked: the caller's ACL, the
/// cluster slot and the type are checked here for all of them before the
/// command changes anything.
pub struct DerivedKeyCheck<'a> {
    ctx: Ctx<'a>,
    /// None where there is no user to check (see `User::current`).
    user: Option<User<'a>>,
    /// The declared key and its slot, when running in a cluster.
    cluster: Option<(&'a [u8], u16)>,
}

impl<'a> DerivedKeyCheck<'a> {
    pub fn new(ctx: Ctx<'a>, declared_key: &'a [u8]) -> DerivedKeyCheck<'a> {
        let cluster = ctx
            .flags()
            .contains(ContextFlags::CLUSTER)
            .then(|| (declared_key, key_slot(declared_key)));
        DerivedKeyCheck {
            ctx,
            user: User::current(ctx),
            cluster,
        }
    }

    /// Whether `key` lives where the declared key does: always outside a
    /// cluster, else when it hashes to the same slot.
    pub fn is_local(&self, key: &[u8]) -> bool {
        self.cluster
            .is_none_or(|(_, declared_slot)| key_slot(key) == declared_slot)
    }

    /// The user may write `key` (a refusal is logged in `ACL LOG`), and in a
    /// cluster it hashes to the declared key's slot (which Redis already
    /// routed here). Opens nothing.
    fn check_access(&self, key: &OwnedString) -> Result<(), KeyError> {
        if let Some(user) = &self.user {
            if !user.may_write_key(key) {
                return Err(KeyError::NoPerm {
                    key: key.bytes().to_vec(),
                });
            }
        }
        if let Some((declared, declared_slot)) = self.cluster {
            let slot = key_slot(key.bytes());
            if slot != declared_slot {
                return Err(KeyError::CrossSlot {
                    key: key.bytes().to_vec(),
                    slot,
                    declared: declared.to_vec(),
                    declared_slot,
                });
            }
        }
        Ok(())
    }

    /// Checks every key, then opens each once for writing: WRONGTYPE if one is
    /// not a hash; TRYAGAIN if one is missing while the slot migrates (it may
    /// already live on the other node, and Redis refuses a multi-key command
    /// whose declared keys are partly moved the same way). The keys must be
    /// distinct, and no other handle on them may be open.
    pub fn open_all(&self, keys: &'a [OwnedString]) -> Result<Vec<HashKey<'a>>, KeyError> {
        for key in keys {
            self.check_access(key)?;
        }
        let mut hashes = Vec::with_capacity(keys.len());
        let mut any_missing = false;
        for key in keys {
            let hash = HashKey::open_write(self.ctx, key)?;
            any_missing |= !hash.exists();
            hashes.push(hash);
        }
        match self.cluster {
            Some((_, slot)) if any_missing && slot_in_transition(self.ctx, slot) => {
                Err(KeyError::TryAgain { slot })
            }
            _ => Ok(hashes),
        }
    }
}

/// Whether this node is migrating `slot` away or importing it. The module API
/// of Redis 7.0 has no call for this; `CLUSTER NODES` marks such slots on the
/// node's own line as `[slot->-target]` or `[slot-<-source]`. Asked only when a
/// derived key is missing, so the common path never pays for it.
fn slot_in_transition(ctx: Ctx, slot: u16) -> bool {
    let context = redis_module::Context::new(ctx.ptr);
    let nodes = match context.call("CLUSTER", &["NODES"]) {
        Ok(redis_module::RedisValue::BulkString(s) | redis_module::RedisValue::SimpleString(s)) => {
            s
        }
        Ok(redis_module::RedisValue::StringBuffer(b)) => String::from_utf8_lossy(&b).into_owned(),
        // Unknown state: refusing is the safe answer (the client retries).
        _ => return true,
    };
    let (migrating, importing) = (format!("[{slot}->-"), format!("[{slot}-<-"));
    nodes
        .lines()
        .filter(|line| {
            line.split(' ')
                .nth(2)
                .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
        })
        .any(|line| line.contains(&migrating) || line.contains(&importing))
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn slots_match_redis_cluster_keyslot() {
        // Values from CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{tenant}a2b-a|42"), key_slot(b"{tenant}a2b-b|7"));
        // Empty or unclosed tags hash the whole key.
        assert_eq!(key_slot(b"foo{}{bar}"), 8363);
        assert_eq!(
            key_slot(b"foo{bar"),
            crc16::State::<crc16::XMODEM>::calculate(b"foo{bar") & 0x3fff
        );
    }
}
