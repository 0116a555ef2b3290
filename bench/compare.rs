//! `make bench`: the module against the design note's Lua scripts and the plain
//! native floor, measured side by side on one server in one run.
//!
//! For each operation family and variant: client throughput (unpipelined and
//! pipelined, over several connections) and the server's own cost per logical
//! operation (`INFO commandstats`). Variants run interleaved over several rounds;
//! the report gives the median with min/max, and ratios to the Lua script and to
//! the native floor. The write family runs again with a replica attached, as in
//! production. Results: bench/results.json and bench/results.md.

// The harness allows its own dead code (each suite uses part of it).
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

mod callgrind;
mod load;
mod report;
mod variants;
mod workload;

use common::{info_field, Server};
use load::{Request, Until};
use redis::Connection;
use variants::{clear_write_keys, packed_value, prepare, Family, Scripts, Variant, VARIANTS};
use workload::{memory_per_entry, workload};

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

fn main() {
    let all: Vec<&Variant> = VARIANTS.iter().collect();
    // The write families again with a replica attached, as in production:
    // every write is also propagated.
    let writes: Vec<&Variant> = VARIANTS
        .iter()
        .filter(|v| matches!(v.family, Family::Write | Family::WriteJson | Family::Stash))
        .collect();
    let counted = callgrind::instructions(&all, false);
    let counted_with_replica = callgrind::instructions(&writes, true);
    if rounds() == 0 {
        // `make bench ROUNDS=0`: the instruction counts alone, for profiling.
        report::print_instructions(&all, &counted, &writes, &counted_with_replica);
        return;
    }

    let server = Server::start_with(&["--save", "", "--appendonly", "no"]);
    let mut admin = server.client();
    let value = packed_value();
    let scripts = prepare(&mut admin, 300_000, &value);
    let samples = run_rounds(&server, &mut admin, &all, &scripts, &value);
    let replica = Server::start_replica_of(&server);
    let with_replica = run_rounds(&server, &mut admin, &writes, &scripts, &value);
    drop(replica);

    let memory = memory_per_entry(&mut admin, &value);
    let version = info_field(&mut admin, "server", "redis_version").unwrap_or_default();
    drop(server);
    report::report(report::Results {
        variants: &all,
        samples: &samples,
        counted: &counted,
        writes: &writes,
        with_replica: &with_replica,
        counted_with_replica: &counted_with_replica,
        memory: &memory,
        version: &version,
    });
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
pub struct Samples {
    pub unpipelined: Vec<f64>,
    pub pipelined: Vec<f64>,
    pub usec: Vec<f64>,
}

pub fn median_min_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    (s[s.len() / 2], s[0], s[s.len() - 1])
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
