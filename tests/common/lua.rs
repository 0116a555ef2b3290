//! The design note's Lua scripts (docs/design-note.md), the behaviour the module must match and the
//! baseline it is measured against.

/// `hset_with_expiry`: sets a hash field; sets the TTL only if the key did not
/// exist. `EVALSHA sha 1 key field value seconds`.
pub const HSET_WITH_EXPIRY: &str = "local exists = redis.call('exists', KEYS[1])
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
if exists == 0 then
    redis.call('expire', KEYS[1], ARGV[3])
end
return 1";

/// The same for several pairs (what a user would write for multi-field sets):
/// `EVALSHA sha 1 key field value [field value ...] seconds`.
pub const HSET_MANY_WITH_EXPIRY: &str = "local exists = redis.call('exists', KEYS[1])
local added = redis.call('hset', KEYS[1], unpack(ARGV, 1, #ARGV - 1))
if exists == 0 then
    redis.call('expire', KEYS[1], ARGV[#ARGV])
end
return added";

/// The symmetric purge, with the prefix and member as arguments so that it
/// also purges from the b side: `EVALSHA sha 1 akey bprefix member`.
pub const PURGE: &str = "local b_ids = redis.call('hkeys', KEYS[1])
for i, b_id in ipairs(b_ids) do
    redis.call('hdel', ARGV[1] .. b_id, ARGV[2])
end
redis.call('del', KEYS[1])
return 1";
