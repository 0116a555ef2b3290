//! What each benchmarked operation sends: the families (write, read, purge,
//! symmetric set), their variants (the module, the design note's Lua script,
//! the native floor), and the data and scripts they run against.

use redis::{Connection, Pipeline};
use rmpv::Value as Mp;

use crate::common::lua::{HSET_WITH_EXPIRY, PURGE};
use crate::common::pack;

pub const PURGE_WIDTH: usize = 20;
pub const TTL: u64 = 3600;

pub fn names() -> Vec<String> {
    (0..25).map(|i| format!("perm_{i:02}")).collect()
}

/// A Lua decoder as a user would write it: HGET, cmsgpack.unpack, zip with the
/// template (embedded in the script).
fn lua_decoder() -> String {
    let list: Vec<String> = names().iter().map(|n| format!("'{n}'")).collect();
    format!(
        "local T = {{{}}}
local v = redis.call('hget', KEYS[1], ARGV[1])
if not v then return nil end
local vals = cmsgpack.unpack(v)
local out = {{}}
for i, name in ipairs(T) do out[#out + 1] = name; out[#out + 1] = vals[i] end
return out",
        list.join(",")
    )
}

/// GETJSON's Lua: the one-liner a user would write. It answers a JSON array of
/// the values without their names, so it does less than GETJSON.
const LUA_JSON: &str = "local v = redis.call('hget', KEYS[1], ARGV[1])
if not v then return nil end
return cjson.encode(cmsgpack.unpack(v))";

/// GETVALUES's Lua for one name: unpack, pick the name's position.
fn lua_value() -> String {
    let positions: Vec<String> = names()
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n}={}", i + 1))
        .collect();
    format!(
        "local I = {{{}}}
local v = redis.call('hget', KEYS[1], ARGV[1])
if not v then return nil end
local vals = cmsgpack.unpack(v)
return {{vals[I[ARGV[2]]] and 1 or 0}}",
        positions.join(",")
    )
}

/// SETDICT's Lua: decode the JSON, pack its values in template order, then
/// the design note's hset_with_expiry. `EVALSHA sha 1 key field json seconds`.
fn lua_pack() -> String {
    let list: Vec<String> = names().iter().map(|n| format!("'{n}'")).collect();
    format!(
        "local T = {{{}}}
local d = cjson.decode(ARGV[2])
local vals = {{}}
for i, name in ipairs(T) do vals[i] = d[name] end
local exists = redis.call('exists', KEYS[1])
redis.call('hset', KEYS[1], ARGV[1], cmsgpack.pack(vals))
if exists == 0 then
    redis.call('expire', KEYS[1], ARGV[3])
end
return 1",
        list.join(",")
    )
}

/// The JSON object SETDICT writes: the same 25 booleans as `packed_value`.
pub fn json_value() -> String {
    let pairs: Vec<String> = names()
        .iter()
        .enumerate()
        .map(|(i, n)| format!("\"{n}\":{}", i % 3 == 0))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

pub struct Scripts {
    hset: String,
    purge: String,
    decode: String,
    json: String,
    value: String,
    pack: String,
}

#[derive(Clone, Copy)]
pub enum Family {
    Write,
    Read,
    Purge,
    Stash,
    /// The same writes, sent as JSON objects.
    WriteJson,
    /// The same reads, answered as one JSON text.
    ReadJson,
    /// The same reads, one name's value.
    ReadValue,
}

pub struct Variant {
    pub family: Family,
    pub name: &'static str,
    /// `commandstats` entries whose usec add up to one logical operation.
    pub cost: &'static [(&'static str, f64)],
    /// The module's variant; Lua is the baseline, native the floor.
    pub role: Role,
}

#[derive(PartialEq, Clone, Copy)]
pub enum Role {
    Module,
    Lua,
    Native,
}

pub const VARIANTS: &[Variant] = &[
    Variant {
        family: Family::Write,
        name: "CALC.HSETEX",
        cost: &[("calc.hsetex", 1.0)],
        role: Role::Module,
    },
    Variant {
        family: Family::Write,
        name: "Lua hset_with_expiry",
        cost: &[("evalsha", 1.0)],
        role: Role::Lua,
    },
    Variant {
        family: Family::Write,
        name: "HSET",
        cost: &[("hset", 1.0)],
        role: Role::Native,
    },
    Variant {
        family: Family::Write,
        name: "MULTI HSET EXPIRE NX EXEC",
        cost: &[
            ("multi", 1.0),
            ("hset", 1.0),
            ("expire", 1.0),
            ("exec", 1.0),
        ],
        role: Role::Native,
    },
    Variant {
        family: Family::Read,
        name: "CALC.GETDICT",
        cost: &[("calc.getdict", 1.0)],
        role: Role::Module,
    },
    Variant {
        family: Family::Read,
        name: "Lua HGET+cmsgpack+zip",
        cost: &[("evalsha", 1.0)],
        role: Role::Lua,
    },
    Variant {
        family: Family::Read,
        name: "HGET (raw bytes)",
        cost: &[("hget", 1.0)],
        role: Role::Native,
    },
    Variant {
        family: Family::WriteJson,
        name: "CALC.SETDICT",
        cost: &[("calc.setdict", 1.0)],
        role: Role::Module,
    },
    Variant {
        family: Family::WriteJson,
        name: "Lua cjson+cmsgpack+hset_with_expiry",
        cost: &[("evalsha", 1.0)],
        role: Role::Lua,
    },
    Variant {
        family: Family::WriteJson,
        name: "HSET",
        cost: &[("hset", 1.0)],
        role: Role::Native,
    },
    Variant {
        family: Family::ReadJson,
        name: "CALC.GETJSON",
        cost: &[("calc.getjson", 1.0)],
        role: Role::Module,
    },
    Variant {
        family: Family::ReadJson,
        name: "Lua HGET+cmsgpack+cjson",
        cost: &[("evalsha", 1.0)],
        role: Role::Lua,
    },
    Variant {
        family: Family::ReadJson,
        name: "HGET (raw bytes)",
        cost: &[("hget", 1.0)],
        role: Role::Native,
    },
    Variant {
        family: Family::ReadValue,
        name: "CALC.GETVALUES (one name)",
        cost: &[("calc.getvalues", 1.0)],
        role: Role::Module,
    },
    Variant {
        family: Family::ReadValue,
        name: "Lua HGET+cmsgpack, one value",
        cost: &[("evalsha", 1.0)],
        role: Role::Lua,
    },
    Variant {
        family: Family::ReadValue,
        name: "HGET (raw bytes)",
        cost: &[("hget", 1.0)],
        role: Role::Native,
    },
    Variant {
        family: Family::Purge,
        name: "CALC.PURGEA",
        cost: &[("calc.purgea", 1.0)],
        role: Role::Module,
    },
    Variant {
        family: Family::Purge,
        name: "Lua purge",
        cost: &[("evalsha", 1.0)],
        role: Role::Lua,
    },
    Variant {
        family: Family::Stash,
        name: "CALC.A2BSET",
        cost: &[("calc.a2bset", 1.0)],
        role: Role::Module,
    },
    Variant {
        family: Family::Stash,
        name: "2x Lua hset_with_expiry",
        cost: &[("evalsha", 2.0)],
        role: Role::Lua,
    },
];

pub fn family_name(f: Family) -> &'static str {
    match f {
        Family::Write => "write (hash per a, 20 fields)",
        Family::Read => "read (25 booleans)",
        Family::Purge => "purge (20 b-ids of 1000)",
        Family::Stash => "symmetric set",
        Family::WriteJson => "write as JSON (hash per a, 20 fields)",
        Family::ReadJson => "read as JSON (25 booleans)",
        Family::ReadValue => "read one value (of 25 booleans)",
    }
}

/// Adds one logical operation number `n` of connection `t` to the pipeline.
pub fn add_op(v: &Variant, s: &Scripts, pipe: &mut Pipeline, t: usize, n: u64, value: &[u8]) {
    // A hash per `a` with 20 `b` fields, as in the design note: after the first
    // pass over the 2000 hashes of a connection, writes mostly add to or update
    // an existing hash and only sometimes create one.
    let key = format!("bench:{t}:{}", n % 2000);
    let field = (n / 2000) % 20;
    match (v.family, v.role, v.name) {
        (Family::Write, Role::Module, _) => {
            pipe.cmd("CALC.HSETEX")
                .arg(&key)
                .arg(field)
                .arg(value)
                .arg(TTL);
        }
        (Family::Write, Role::Lua, _) => {
            pipe.cmd("EVALSHA")
                .arg(&s.hset)
                .arg(1)
                .arg(&key)
                .arg(field)
                .arg(value)
                .arg(TTL);
        }
        (Family::Write, Role::Native, "HSET") => {
            pipe.cmd("HSET").arg(&key).arg(field).arg(value);
        }
        (Family::Write, Role::Native, _) => {
            pipe.cmd("MULTI")
                .cmd("HSET")
                .arg(&key)
                .arg(field)
                .arg(value)
                .cmd("EXPIRE")
                .arg(&key)
                .arg(TTL)
                .arg("NX")
                .cmd("EXEC");
        }
        (Family::WriteJson, role, _) => {
            let json = json_value();
            match role {
                Role::Module => pipe
                    .cmd("CALC.SETDICT")
                    .arg(&key)
                    .arg("p25")
                    .arg(field)
                    .arg(json)
                    .arg(TTL),
                Role::Lua => pipe
                    .cmd("EVALSHA")
                    .arg(&s.pack)
                    .arg(1)
                    .arg(&key)
                    .arg(field)
                    .arg(json)
                    .arg(TTL),
                Role::Native => pipe.cmd("HSET").arg(&key).arg(field).arg(value),
            };
        }
        (Family::ReadJson | Family::ReadValue, role, _) => {
            let key = format!("read:{}", n % 10_000);
            let json = matches!(v.family, Family::ReadJson);
            match (role, json) {
                (Role::Module, true) => pipe.cmd("CALC.GETJSON").arg(key).arg("f").arg("p25"),
                (Role::Module, false) => pipe
                    .cmd("CALC.GETVALUES")
                    .arg(key)
                    .arg("f")
                    .arg("p25")
                    .arg(ONE_NAME),
                (Role::Lua, true) => pipe.cmd("EVALSHA").arg(&s.json).arg(1).arg(key).arg("f"),
                (Role::Lua, false) => pipe
                    .cmd("EVALSHA")
                    .arg(&s.value)
                    .arg(1)
                    .arg(key)
                    .arg("f")
                    .arg(ONE_NAME),
                (Role::Native, _) => pipe.cmd("HGET").arg(key).arg("f"),
            };
        }
        (Family::Read, role, _) => {
            let key = format!("read:{}", n % 10_000);
            match role {
                Role::Module => pipe.cmd("CALC.GETDICT").arg(key).arg("f").arg("p25"),
                Role::Lua => pipe.cmd("EVALSHA").arg(&s.decode).arg(1).arg(key).arg("f"),
                Role::Native => pipe.cmd("HGET").arg(key).arg("f"),
            };
        }
        (Family::Purge, role, _) => {
            let akey = format!("purge-a|{t}:{n}");
            match role {
                Role::Lua => pipe
                    .cmd("EVALSHA")
                    .arg(&s.purge)
                    .arg(1)
                    .arg(akey)
                    .arg(PURGE_B_PREFIX)
                    .arg(format!("{t}:{n}")),
                _ => pipe
                    .cmd("CALC.PURGEA")
                    .arg(akey)
                    .arg(PURGE_B_PREFIX)
                    .arg(format!("{t}:{n}")),
            };
        }
        (Family::Stash, role, _) => {
            let (a, b) = (format!("{t}:{}", n % 5000), (n % 997).to_string());
            let (akey, bkey) = (format!("a2b-a|{a}"), format!("a2b-b|{b}"));
            if role == Role::Module {
                pipe.cmd("CALC.A2BSET")
                    .arg(akey)
                    .arg(bkey)
                    .arg(&a)
                    .arg(&b)
                    .arg(value)
                    .arg(TTL);
            } else {
                pipe.cmd("EVALSHA")
                    .arg(&s.hset)
                    .arg(1)
                    .arg(akey)
                    .arg(&b)
                    .arg(value)
                    .arg(TTL);
                pipe.cmd("EVALSHA")
                    .arg(&s.hset)
                    .arg(1)
                    .arg(bkey)
                    .arg(&a)
                    .arg(value)
                    .arg(TTL);
            }
        }
    }
}

/// The name GETVALUES asks for: the permission check reads one flag.
const ONE_NAME: &str = "perm_12";

/// The purge family's own b-hashes: sharing the symmetric-set family's
/// `a2b-*` keys made whichever purge variant ran first after it also purge
/// that family's fields, a bias against it.
pub const PURGE_B_PREFIX: &str = "purge-b|";

/// The untimed setup a purge needs: the a-hash `n` stashed against 20 b-ids,
/// drawn from 1000 b-hashes shared by all a's.
pub fn add_purge_setup(pipe: &mut Pipeline, t: usize, n: u64, value: &[u8]) {
    for j in 0..PURGE_WIDTH as u64 {
        let b = (n * 37 + j * 50) % 1000;
        pipe.cmd("CALC.A2BSET")
            .arg(format!("purge-a|{t}:{n}"))
            .arg(format!("{PURGE_B_PREFIX}{b}"))
            .arg(format!("{t}:{n}"))
            .arg(b)
            .arg(value)
            .arg(TTL);
    }
}

/// Deletes the write family's hashes, so each round (and each counted
/// variant) starts from the same keyspace.
pub fn clear_write_keys(con: &mut Connection) {
    let _: () = redis::cmd("EVAL")
        .arg("for _, k in ipairs(redis.call('keys', 'bench:*')) do redis.call('del', k) end")
        .arg(0)
        .query(con)
        .unwrap();
}

/// The packed value every variant writes: 25 booleans, the design note's case.
pub fn packed_value() -> Vec<u8> {
    pack(&Mp::Array(
        (0..25).map(|i| Mp::Boolean(i % 3 == 0)).collect(),
    ))
}

/// Loads the scripts and the template, fills the read keys with `value`, and pads the
/// keyspace with `pad` keys with a TTL, so that the keys the runs create and
/// delete never make Redis resize and rehash its tables mid-measurement.
pub fn prepare(con: &mut Connection, pad: usize, value: &[u8]) -> Scripts {
    let load = |con: &mut Connection, src: &str| -> String {
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(src)
            .query(con)
            .unwrap()
    };
    let scripts = Scripts {
        hset: load(con, HSET_WITH_EXPIRY),
        purge: load(con, PURGE),
        decode: load(con, &lua_decoder()),
        json: load(con, LUA_JSON),
        value: load(con, &lua_value()),
        pack: load(con, &lua_pack()),
    };
    let _: () = redis::cmd("CALC.TEMPLATE.SET")
        .arg("p25")
        .arg(serde_json::to_string(&names()).unwrap())
        .query(con)
        .unwrap();
    let mut fill = redis::pipe();
    for i in 0..10_000 {
        fill.cmd("HSET")
            .arg(format!("read:{i}"))
            .arg("f")
            .arg(value)
            .ignore();
    }
    for i in 0..pad {
        fill.cmd("SET")
            .arg(format!("pad:{i}"))
            .arg("x")
            .arg("EX")
            .arg(86_400)
            .ignore();
    }
    fill.query::<()>(con).unwrap();
    scripts
}
