//! The one place keys are opened, and the checks Redis cannot do for us.
//!
//! Redis checks declared keys (ACL, cluster slot) before a command runs. The
//! b-keys `CALC.PURGEA` derives from data are invisible to it, so they are checked
//! here, all of them, before anything is changed.

use std::ffi::c_void;
use std::ptr::{self, NonNull};

use crc16::{State, XMODEM};
use redis_module::{raw, ContextFlags};

use super::{bytes_of, Ctx, OwnedString, RedisStr};
use crate::error::{printable, CalcError};

/// An open key that is a hash or does not exist. Closed (and, if written,
/// signalled as modified to WATCH and client-side caching) when dropped.
pub struct HashKey<'a> {
    ctx: Ctx<'a>,
    key: *mut raw::RedisModuleKey,
}

impl<'a> HashKey<'a> {
    pub fn open_read(ctx: Ctx<'a>, name: &impl RedisStr) -> Result<HashKey<'a>, CalcError> {
        Self::open(ctx, name, raw::REDISMODULE_READ)
    }

    pub fn open_write(ctx: Ctx<'a>, name: &impl RedisStr) -> Result<HashKey<'a>, CalcError> {
        Self::open(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE)
    }

    fn open(ctx: Ctx<'a>, name: &impl RedisStr, mode: u32) -> Result<HashKey<'a>, CalcError> {
        // In read mode a missing key gives a NULL handle; every method treats
        // NULL as "does not exist".
        let key = unsafe { raw::RedisModule_OpenKey.unwrap()(ctx.ptr, name.ptr(), mode as i32) };
        let opened = HashKey { ctx, key };
        match opened.key_type() {
            t if t == raw::REDISMODULE_KEYTYPE_EMPTY as i32
                || t == raw::REDISMODULE_KEYTYPE_HASH as i32 =>
            {
                Ok(opened)
            }
            _ => Err(CalcError::WrongType {
                key: printable(name.bytes()),
            }),
        }
    }

    fn key_type(&self) -> i32 {
        if self.key.is_null() {
            return raw::REDISMODULE_KEYTYPE_EMPTY as i32;
        }
        unsafe { raw::RedisModule_KeyType.unwrap()(self.key) }
    }

    pub fn exists(&self) -> bool {
        self.key_type() != raw::REDISMODULE_KEYTYPE_EMPTY as i32
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        if self.key.is_null() {
            return 0;
        }
        unsafe { raw::RedisModule_ValueLength.unwrap()(self.key) }
    }

    /// The value of `field`, or `None` when the key or the field is missing.
    pub fn get(&self, field: &impl RedisStr) -> Option<OwnedString> {
        if !self.exists() {
            return None;
        }
        let mut value: *mut raw::RedisModuleString = ptr::null_mut();
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
        unsafe { raw::RedisModule_SetAbsExpire.unwrap()(self.key, at_ms) };
    }

    pub fn delete(&self) {
        if self.exists() {
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
            let each = unsafe { &mut *each.cast::<&mut dyn FnMut(&[u8])>() };
            each(bytes_of(field));
        }
        let mut each: &mut dyn FnMut(&[u8]) = &mut each;
        let privdata = (&mut each as *mut &mut dyn FnMut(&[u8])).cast::<c_void>();
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
    user: *mut raw::RedisModuleUser,
    /// The declared key and its slot, when running in a cluster.
    cluster: Option<(&'a [u8], u16)>,
}

impl<'a> DerivedKeyCheck<'a> {
    pub fn new(ctx: Ctx<'a>, declared_key: &'a [u8]) -> DerivedKeyCheck<'a> {
        let flags = ctx.flags();
        let cluster = flags
            .contains(ContextFlags::CLUSTER)
            .then(|| (declared_key, key_slot(declared_key)));
        // A command from the primary's replication stream or the AOF runs with
        // no user (GetCurrentUserName would read a NULL one) and was checked
        // where it first ran: nothing to check.
        let user = if flags.intersects(ContextFlags::REPLICATED | ContextFlags::LOADING) {
            ptr::null_mut()
        } else {
            unsafe {
                let name = raw::RedisModule_GetCurrentUserName.unwrap()(ctx.ptr);
                if name.is_null() {
                    ptr::null_mut()
                } else {
                    let user = raw::RedisModule_GetModuleUserFromUserName.unwrap()(name);
                    raw::RedisModule_FreeString.unwrap()(ctx.ptr, name);
                    user
                }
            }
        };
        DerivedKeyCheck { ctx, user, cluster }
    }

    /// The user may write `key` (a refusal is logged in `ACL LOG`), and in a
    /// cluster it hashes to the declared key's slot (which Redis already
    /// routed here). Opens nothing.
    fn check_access(&self, key: &OwnedString) -> Result<(), CalcError> {
        if !self.user.is_null() {
            let allowed = unsafe {
                raw::RedisModule_ACLCheckKeyPermissions.unwrap()(
                    self.user,
                    key.ptr(),
                    raw::REDISMODULE_CMD_KEY_DELETE as i32,
                )
            };
            if allowed != raw::REDISMODULE_OK as i32 {
                // The ACL LOG entry a refused declared key gets: reason `key`,
                // the key, the user, the client (context `module`).
                // SAFETY: the command's context, the user this check holds
                // and a live key string; Redis copies what it keeps.
                unsafe {
                    raw::RedisModule_ACLAddLogEntry.unwrap()(
                        self.ctx.ptr,
                        self.user,
                        key.ptr(),
                        raw::RedisModuleACLLogEntryReason_REDISMODULE_ACL_LOG_KEY,
                    );
                }
                return Err(CalcError::NoPerm {
                    key: printable(key.bytes()),
                });
            }
        }
        if let Some((declared, declared_slot)) = self.cluster {
            let slot = key_slot(key.bytes());
            if slot != declared_slot {
                return Err(CalcError::CrossSlot {
                    key: printable(key.bytes()),
                    slot,
                    declared: printable(declared),
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
    pub fn open_all(self, keys: &[OwnedString]) -> Result<Vec<HashKey<'a>>, CalcError> {
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
                Err(CalcError::TryAgain { slot })
            }
            _ => Ok(hashes),
        }
    }
}

impl Drop for DerivedKeyCheck<'_> {
    fn drop(&mut self) {
        if !self.user.is_null() {
            unsafe { raw::RedisModule_FreeModuleUser.unwrap()(self.user) };
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
