//! The requests of a run: every operation encoded before any clock starts,
//! `depth` operations per request, purges with their untimed set-up.

use std::collections::BTreeMap;

use redis::Connection;

use crate::load::Request;
use crate::variants::{add_op, add_purge_setup, Family, Scripts, Variant, TTL};
use crate::CONNECTIONS;

/// Operations per connection in one cycle of pre-encoded requests: 2000
/// write hashes x 20 fields, 4 passes over the 10000 read keys.
pub const CYCLE: u64 = 40_000;
/// Purges per connection in one run (each needs its own setup, so a purge run
/// sends every request once instead of cycling for `RUN_FOR`).
pub const PURGES: u64 = 4096;
/// Purges per connection set up at once, untimed, before they run: 4
/// connections x 128 a's x 20 b-ids over 1000 b-hashes, about ten a's per
/// b-hash. Setting up a block at a time keeps the b-hashes that small without
/// stopping the clock on every request.
pub const PURGE_BLOCK: u64 = 128;

/// The requests of one variant in one mode: for each connection, `depth`
/// operations per request, encoded before any clock starts.
pub fn workload(v: &Variant, s: &Scripts, depth: usize, value: &[u8]) -> Vec<Vec<Request>> {
    let ops = match v.family {
        Family::Purge => PURGES,
        _ => CYCLE,
    };
    (0..CONNECTIONS)
        .map(|t| requests(v, s, t, depth, ops, value))
        .collect()
}

/// Connection `t`'s requests: `ops` operations, `depth` per request.
pub fn requests(
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

/// Bytes per cached entry: the design note's original layout (a pickled dict
/// of 25 booleans per key) against a packed field in a hash per `a`.
pub fn memory_per_entry(con: &mut Connection, packed: &[u8]) -> BTreeMap<&'static str, f64> {
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
