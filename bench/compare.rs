//! `make bench`: the module against the design note's Lua scripts and the plain
//! native floor, measured side by side on one server in one run.
//!
//! For each operation family and variant: client throughput (unpipelined and
//! pipelined, over several connections) and the server's own cost per logical
//! operation (`INFO commandstats`). Variants run interleaved over several rounds;
//! the report gives the median with min/max, and ratios to the Lua script and to
//! the native floor. The write family runs again with a replica attached, as in
//! production. Results: bench/results.json and bench/results.md.

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

mod load;

use common::lua::{HSET_WITH_EXPIRY, PURGE};
use common::{info_field, pack, Server};
use load::{Request, Until};
use redis::{Connection, Pipeline};
use rmpv::Value as Mp;

/// `make bench ROUNDS=1` for a quick look; results are committed from 7.
fn rounds() -> usize {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7)
}
const CONNECTIONS: usize = 4;
const DEPTH: usize = 32;
const RUN_FOR: Duration = Duration::from_millis(1000);
const PURGE_WIDTH: usize = 20;
const TTL: u64 = 3600;

fn names() -> Vec<String> {
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

struct Scripts {
    hset: String,
    purge: String,
    decode: String,
}

#[derive(Clone, Copy)]
enum Family {
    Write,
    Read,
    Purge,
    Stash,
}

struct Variant {
    family: Family,
    name: &'static str,
    /// `commandstats` entries whose usec add up to one logical operation.
    cost: &'static [(&'static str, f64)],
    /// The module's variant; Lua is the baseline, native the floor.
    role: Role,
}

#[derive(PartialEq, Clone, Copy)]
enum Role {
    Module,
    Lua,
    Native,
}

const VARIANTS: &[Variant] = &[
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

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Write => "write (hash per a, 20 fields)",
        Family::Read => "read (25 booleans)",
        Family::Purge => "purge (20 b-ids of 1000)",
        Family::Stash => "symmetric set",
    }
}

/// Adds one logical operation number `n` of connection `t` to the pipeline.
fn add_op(v: &Variant, s: &Scripts, pipe: &mut Pipeline, t: usize, n: u64, value: &[u8]) {
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

/// The purge family's own b-hashes: sharing the symmetric-set family's
/// `a2b-*` keys made whichever purge variant ran first after it also purge
/// that family's fields, a bias against it.
const PURGE_B_PREFIX: &str = "purge-b|";

/// The untimed setup a purge needs: the a-hash `n` stashed against 20 b-ids,
/// drawn from 1000 b-hashes shared by all a's.
fn add_purge_setup(pipe: &mut Pipeline, t: usize, n: u64, value: &[u8]) {
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

/// Operations per connection in one cycle of pre-encoded requests: 2000
/// write hashes x 20 fields, 4 passes over the 10000 read keys.
const CYCLE: u64 = 40_000;
/// Purges per connection in one run (each needs its own setup, so a purge run
/// sends every request once instead of cycling for `RUN_FOR`).
const PURGES: u64 = 4096;
/// Purges per connection set up at once, untimed, before they run: 4
/// connections x 128 a's x 20 b-ids over 1000 b-hashes, about ten a's per
/// b-hash. Setting up a block at a time keeps the b-hashes that small without
/// stopping the clock on every request.
const PURGE_BLOCK: u64 = 128;

/// The requests of one variant in one mode: for each connection, `depth`
/// operations per request, encoded before any clock starts.
fn workload(v: &Variant, s: &Scripts, depth: usize, value: &[u8]) -> Vec<Vec<Request>> {
    let ops = match v.family {
        Family::Purge => PURGES,
        _ => CYCLE,
    };
    (0..CONNECTIONS)
        .map(|t| requests(v, s, t, depth, ops, value))
        .collect()
}

/// Connection `t`'s requests: `ops` operations, `depth` per request.
fn requests(
    v: &Variant,
    s: &Scripts,
    t: usize,
    depth: usize,
    ops: u64,
    value: &[u8],
) -> Vec<Request> {
    let depth = depth as u64;
    (0..ops / depth)
        .map(|r| {
            let ops = r * depth..(r + 1) * depth;
            let mut pipe = redis::pipe();
            for n in ops.clone() {
                add_op(v, s, &mut pipe, t, n, value);
            }
            // Purges: the first request of every block sets up the whole
            // block's data.
            match v.family {
                Family::Purge if ops.start % PURGE_BLOCK == 0 => {
                    let mut setup = redis::pipe();
                    for n in ops.start..ops.start + PURGE_BLOCK {
                        add_purge_setup(&mut setup, t, n, value);
                    }
                    Request::with_setup(&setup, &pipe, depth as usize)
                }
                _ => Request::new(&pipe, depth as usize),
            }
        })
        .collect()
}

/// Deletes the write family's hashes, so each round (and each counted
/// variant) starts from the same keyspace.
fn clear_write_keys(con: &mut Connection) {
    let _: () = redis::cmd("EVAL")
        .arg("for _, k in ipairs(redis.call('keys', 'bench:*')) do redis.call('del', k) end")
        .arg(0)
        .query(con)
        .unwrap();
}

/// Operations per second of `v` over `CONNECTIONS` connections.
fn throughput(server: &Server, v: &Variant, requests: &[Vec<Request>]) -> f64 {
    let until = match v.family {
        Family::Purge => Until::AllSent,
        _ => Until::Elapsed(RUN_FOR),
    };
    load::drive(server.port, requests, until, v.name)
}

fn command_usec(con: &mut Connection) -> BTreeMap<String, (f64, f64)> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let get = |k: &str| {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(k)?.parse::<f64>().ok())
            };
            Some((name.to_string(), (get("calls=")?, get("usec=")?)))
        })
        .collect()
}

/// Server microseconds per logical operation, from the stats since RESETSTAT.
fn cost_per_op(con: &mut Connection, v: &Variant) -> f64 {
    let stats = command_usec(con);
    // The logical operation count is the calls of the first listed command divided by its weight.
    let (first, weight) = v.cost[0];
    let ops = stats.get(first).map(|s| s.0 / weight).unwrap_or(0.0);
    let usec: f64 = v
        .cost
        .iter()
        .map(|(c, _)| stats.get(*c).map(|s| s.1).unwrap_or(0.0))
        .sum();
    if ops == 0.0 {
        f64::NAN
    } else {
        usec / ops
    }
}

#[derive(Default)]
struct Samples {
    unpipelined: Vec<f64>,
    pipelined: Vec<f64>,
    usec: Vec<f64>,
}

fn median_min_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

/// The packed value every variant writes: 25 booleans, the design note's case.
fn packed_value() -> Vec<u8> {
    pack(&Mp::Array(
        (0..25).map(|i| Mp::Boolean(i % 3 == 0)).collect(),
    ))
}

/// Loads the scripts and the template, fills the read keys with `value`, and pads the
/// keyspace with `pad` keys with a TTL, so that the keys the runs create and
/// delete never make Redis resize and rehash its tables mid-measurement.
fn prepare(con: &mut Connection, pad: usize, value: &[u8]) -> Scripts {
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

fn main() {
    let server = Server::start_with(&["--save", "", "--appendonly", "no"]);
    let mut admin = server.client();
    let value = packed_value();
    let scripts = prepare(&mut admin, 300_000, &value);

    let all: Vec<&Variant> = VARIANTS.iter().collect();
    let samples = run_rounds(&server, &mut admin, &all, &scripts, &value);

    // Production runs with replicas: the write family again with one attached,
    // so every write is also propagated.
    let replica = Server::start_replica_of(&server);
    let writes: Vec<&Variant> = VARIANTS
        .iter()
        .filter(|v| matches!(v.family, Family::Write))
        .collect();
    let with_replica = run_rounds(&server, &mut admin, &writes, &scripts, &value);
    drop(replica);

    let memory = memory_per_entry(&mut admin, &value);
    let version = info_field(&mut admin, "server", "redis_version").unwrap_or_default();
    drop(server);
    let counted = instructions(&all);
    report(
        &all,
        &samples,
        &writes,
        &with_replica,
        &counted,
        &memory,
        &version,
    );
}

/// Where callgrind writes the counts of the server on `port` (`.1`, `.2`, ...
/// per dump).
fn callgrind_out(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("redis-calc-callgrind-{port}.out"))
}

/// The server under callgrind, counting only inside `processCommand`: command
/// lookup, ACL check, the command itself and its buffered reply. Reading
/// requests and writing replies to sockets, the same for every variant, are
/// left out.
fn callgrind(port: u16) -> Vec<String> {
    vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        "--soname-synonyms=somalloc=libjemalloc.so*".into(),
        "--toggle-collect=processCommand".into(),
        format!("--callgrind-out-file={}", callgrind_out(port).display()),
    ]
}

fn callgrind_control(option: &str, server: &Server) {
    let out = std::process::Command::new("callgrind_control")
        .arg(option)
        .arg(server.pid().to_string())
        .output()
        .expect("callgrind_control (valgrind)");
    assert!(
        out.status.success(),
        "callgrind_control {option}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The instruction count of callgrind's dump number `n`, once written.
fn dumped_instructions(port: u16, n: usize) -> f64 {
    let path = format!("{}.{n}", callgrind_out(port).display());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        // `totals:` is the file's last line: present means complete.
        if text.lines().any(|l| l.starts_with("totals:")) {
            let _ = std::fs::remove_file(&path);
            return text
                .lines()
                .find_map(|l| l.strip_prefix("summary:")?.trim().parse().ok())
                .expect("callgrind summary line");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no callgrind dump at {path}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Server instructions per logical operation of every variant, counted by
/// callgrind on one connection's pipelined workload (setups not counted).
/// Unlike microseconds on a shared 2-core VM, the count moves by under 1% from
/// run to run, so the ratios to Lua and to the native floor hold for a build.
fn instructions(variants: &[&Variant]) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_under(
        dir,
        &["--save", "", "--appendonly", "no"],
        common::free_port,
        callgrind,
    );
    let mut admin = server.client();
    // Fewer pad keys than the timed runs (each costs time under callgrind),
    // still enough that no table resizes while a variant is counted.
    let value = packed_value();
    let scripts = prepare(&mut admin, 40_000, &value);
    let mut counted = Vec::new();
    for (dump, v) in variants.iter().enumerate() {
        clear_write_keys(&mut admin);
        // A full write cycle (creations and updates as in the timed runs);
        // fewer of the costlier operations.
        let ops = match v.family {
            Family::Write => CYCLE,
            Family::Read => 4000,
            Family::Stash => 8000,
            Family::Purge => PURGE_BLOCK,
        };
        let ops = load::send_split(
            server.port,
            &requests(v, &scripts, 0, DEPTH, ops, &value),
            || callgrind_control("-z", &server),
            v.name,
        );
        callgrind_control("-d", &server);
        counted.push(dumped_instructions(server.port, dump + 1) / ops as f64);
    }
    let port = server.port;
    drop(server);
    // Its final dump at exit.
    let _ = std::fs::remove_file(callgrind_out(port));
    counted
}

/// Runs each variant `ROUNDS` times, interleaved, unpipelined then pipelined;
/// server cost from the pipelined run.
fn run_rounds(
    server: &Server,
    admin: &mut Connection,
    variants: &[&Variant],
    scripts: &Scripts,
    value: &[u8],
) -> Vec<Samples> {
    // Encoded once: every run of a variant sends the same requests.
    let workloads: Vec<[Vec<Vec<Request>>; 2]> = variants
        .iter()
        .map(|v| {
            [
                workload(v, scripts, 1, value),
                workload(v, scripts, DEPTH, value),
            ]
        })
        .collect();
    let mut samples: Vec<Samples> = variants.iter().map(|_| Samples::default()).collect();
    for round in 0..rounds() {
        eprintln!("round {}/{}", round + 1, rounds());
        // Each round starts at another variant, so none always runs first, right
        // after the previous round's clean-up.
        let n = variants.len();
        for i in (0..n).map(|i| (i + round) % n) {
            let (v, s) = (variants[i], &mut samples[i]);
            let [unpipelined, pipelined] = &workloads[i];
            s.unpipelined.push(throughput(server, v, unpipelined));
            let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(admin).unwrap();
            s.pipelined.push(throughput(server, v, pipelined));
            s.usec.push(cost_per_op(admin, v));
        }
        // Keep the data set from growing round over round.
        clear_write_keys(admin);
    }
    samples
}

/// The variant of `v`'s family with `role` (its Lua script or native floor).
fn baseline(variants: &[&Variant], v: &Variant, role: Role) -> Option<usize> {
    variants.iter().position(|o| {
        o.role == role && std::mem::discriminant(&o.family) == std::mem::discriminant(&v.family)
    })
}

/// The instruction counts as table rows, each module variant with its ratios.
fn instruction_table(
    md: &mut String,
    variants: &[&Variant],
    counted: &[f64],
) -> Vec<serde_json::Value> {
    let _ = writeln!(
        md,
        "| family | variant | instructions/op | vs Lua | vs native |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    let mut json_rows = Vec::new();
    for (v, &count) in variants.iter().zip(counted) {
        let ratio = |role| {
            (v.role == Role::Module)
                .then(|| baseline(variants, v, role).map(|j| count / counted[j]))
                .flatten()
        };
        let fmt = |r: Option<f64>| r.map(|r| format!("{r:.2}x")).unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {count:.0} | {} | {} |",
            family_name(v.family),
            v.name,
            fmt(ratio(Role::Lua)),
            fmt(ratio(Role::Native))
        );
        json_rows.push(serde_json::json!({
            "family": family_name(v.family), "variant": v.name, "instructions": count,
            "vs_lua": ratio(Role::Lua), "vs_native": ratio(Role::Native),
        }));
    }
    json_rows
}

/// Writes the table rows for `variants`, with each module variant's ratios to
/// the Lua and native variants of its family; returns the same as JSON rows.
fn table(md: &mut String, variants: &[&Variant], samples: &[Samples]) -> Vec<serde_json::Value> {
    let _ = writeln!(md, "| family | variant | ops/s unpipelined | ops/s pipelined | server usec/op | throughput vs Lua (unpipelined / pipelined) | server cost vs Lua | server cost vs native |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    let mut json_rows = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let s = &samples[i];
        let (up, up_min, up_max) = median_min_max(&s.unpipelined);
        let (pp, pp_min, pp_max) = median_min_max(&s.pipelined);
        let (us, us_min, us_max) = median_min_max(&s.usec);
        let baseline = |role| baseline(variants, v, role);
        let ratio = |j: Option<usize>, f: fn(&Samples) -> &Vec<f64>| {
            j.map(|j| median_min_max(f(s)).0 / median_min_max(f(&samples[j])).0)
        };
        let lua = baseline(Role::Lua);
        let native = baseline(Role::Native);
        let fmt = |r: Option<f64>| r.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into());
        let (tput_vs_lua, cost_vs_lua, cost_vs_native) = if v.role == Role::Module {
            (
                format!(
                    "{} / {}",
                    fmt(ratio(lua, |s| &s.unpipelined)),
                    fmt(ratio(lua, |s| &s.pipelined))
                ),
                fmt(ratio(lua, |s| &s.usec)),
                fmt(ratio(native, |s| &s.usec)),
            )
        } else {
            ("".into(), "".into(), "".into())
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} ({:.0}-{:.0}) | {:.0} ({:.0}-{:.0}) | {:.2} ({:.2}-{:.2}) | {} | {} | {} |",
            family_name(v.family), v.name, up, up_min, up_max, pp, pp_min, pp_max, us, us_min, us_max, tput_vs_lua, cost_vs_lua, cost_vs_native
        );
        json_rows.push(serde_json::json!({
            "family": family_name(v.family), "variant": v.name,
            "role": match v.role { Role::Module => "module", Role::Lua => "lua", Role::Native => "native" },
            "unpipelined": s.unpipelined, "pipelined": s.pipelined, "usec": s.usec,
            "throughput_vs_lua_unpipelined": ratio(lua, |s| &s.unpipelined),
            "throughput_vs_lua_pipelined": ratio(lua, |s| &s.pipelined),
            "cost_vs_lua": ratio(lua, |s| &s.usec), "cost_vs_native": ratio(native, |s| &s.usec),
        }));
    }
    json_rows
}

/// Bytes per cached entry: the design note's original layout (a pickled dict
/// of 25 booleans per key) against a packed field in a hash per `a`.
fn memory_per_entry(con: &mut Connection, packed: &[u8]) -> BTreeMap<&'static str, f64> {
    let _: () = redis::cmd("FLUSHALL").query(con).unwrap();
    let pickled = std::process::Command::new("python3")
        .args([
            "-c",
            "import pickle,sys,time; d={'perm_%02d' % i: i % 3 == 0 for i in range(25)}; \
            sys.stdout.buffer.write(pickle.dumps((d, {'ct': time.time(), 'v': 1})))",
        ])
        .output()
        .expect("python3 for the pickled layout")
        .stdout;
    let (a_count, b_count) = (50, 20);
    let mut pipe = redis::pipe();
    for a in 0..a_count {
        for b in 0..b_count {
            pipe.cmd("SET")
                .arg(format!("calculated-a|{a}|{b}"))
                .arg(&pickled)
                .ignore();
            pipe.cmd("CALC.HSETEX")
                .arg(format!("calculated-a|{a}"))
                .arg(b)
                .arg(packed)
                .arg(TTL)
                .ignore();
        }
    }
    pipe.query::<()>(con).unwrap();
    let usage = |con: &mut Connection, key: String| -> f64 {
        redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query::<i64>(con)
            .unwrap() as f64
    };
    let (mut old, mut new) = (0.0, 0.0);
    for a in 0..a_count {
        new += usage(con, format!("calculated-a|{a}"));
        for b in 0..b_count {
            old += usage(con, format!("calculated-a|{a}|{b}"));
        }
    }
    let entries = (a_count * b_count) as f64;
    BTreeMap::from([
        ("pickled dict per key: bytes per entry", old / entries),
        (
            "packed field in a hash per a: bytes per entry",
            new / entries,
        ),
        ("pickled value size", pickled.len() as f64),
        ("packed value size", packed.len() as f64),
    ])
}

fn report(
    variants: &[&Variant],
    samples: &[Samples],
    writes: &[&Variant],
    with_replica: &[Samples],
    counted: &[f64],
    memory: &BTreeMap<&str, f64>,
    version: &str,
) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark results\n");
    let _ = writeln!(
        md,
        "Redis {version}, {cores} cores ({cpu}); server and load generator on the same machine."
    );
    let _ = writeln!(md, "{CONNECTIONS} connections; pipelined = {DEPTH} operations per request; {} interleaved rounds, median (min-max).", rounds());
    let _ = writeln!(md, "Server cost = `INFO commandstats` usec per logical operation (for Lua: EVALSHA, inner calls included).");
    let _ = writeln!(md, "Ratios compare medians to the Lua script and to the native floor of the same family. Reproduce: `make bench`.\n");
    let rows = table(&mut md, variants, samples);
    let _ = writeln!(
        md,
        "\n## Writes with a replica attached (every write also propagated)\n"
    );
    let replica_rows = table(&mut md, writes, with_replica);
    let _ = writeln!(
        md,
        "\n## Server instructions per operation (callgrind, repeatable)\n"
    );
    let _ = writeln!(md, "Counted inside `processCommand` (command lookup, ACL check, the command, its buffered reply) on one connection, pipelined. Counts move by under 1% between runs of a build (each server start seeds its hash tables anew), where microseconds on this shared VM move by tens of percent.\n");
    let instruction_rows = instruction_table(&mut md, variants, counted);
    let _ = writeln!(
        md,
        "\n## Memory per cached entry (`MEMORY USAGE`, 1000 entries)\n"
    );
    let _ = writeln!(md, "| layout | bytes |\n|---|---|");
    for (k, v) in memory {
        let _ = writeln!(md, "| {k} | {v:.0} |");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    std::fs::write(dir.join("results.md"), &md).unwrap();
    let json = serde_json::json!({
        "redis": version, "cpu": cpu, "cores": cores,
        "rows": rows, "writes_with_replica": replica_rows,
        "instructions": instruction_rows, "memory": memory,
    });
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    println!("{md}");
}
