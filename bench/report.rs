//! bench/results.md and bench/results.json: tables of the runs, with each
//! module variant's ratios to the Lua script and the native floor.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::variants::{family_name, Role, Variant};
use crate::{median_min_max, rounds, Samples, CONNECTIONS, DEPTH};

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

/// Everything one `make bench` measured.
pub struct Results<'a> {
    pub variants: &'a [&'a Variant],
    pub samples: &'a [Samples],
    pub counted: &'a [f64],
    /// The write families again with a replica attached.
    pub writes: &'a [&'a Variant],
    pub with_replica: &'a [Samples],
    pub counted_with_replica: &'a [f64],
    pub memory: &'a BTreeMap<&'a str, f64>,
    pub version: &'a str,
}

/// `ROUNDS=0`: the instruction tables alone, on stdout.
pub fn print_instructions(
    variants: &[&Variant],
    counted: &[f64],
    writes: &[&Variant],
    counted_with_replica: &[f64],
) {
    let mut md = String::new();
    instruction_table(&mut md, variants, counted);
    let _ = writeln!(md, "\nWith a replica attached:\n");
    instruction_table(&mut md, writes, counted_with_replica);
    println!("{md}");
}

/// One row per module variant: its ratios to the Lua script and the native
/// floor, in instructions (the headline) and in pipelined throughput.
fn ratio_summary(md: &mut String, r: &Results) -> Vec<serde_json::Value> {
    let _ = writeln!(md, "| operation | instructions vs Lua | instructions vs native | throughput vs Lua | throughput vs native |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    let mut rows = Vec::new();
    let sets = [
        ("", r.variants, r.counted, r.samples),
        (
            ", replica attached",
            r.writes,
            r.counted_with_replica,
            r.with_replica,
        ),
    ];
    for (suffix, variants, counted, samples) in sets {
        for (i, v) in variants.iter().enumerate() {
            if v.role != Role::Module {
                continue;
            }
            let count = |role| baseline(variants, v, role).map(|j| counted[i] / counted[j]);
            let tput = |role| {
                baseline(variants, v, role).map(|j| {
                    median_min_max(&samples[i].pipelined).0
                        / median_min_max(&samples[j].pipelined).0
                })
            };
            let fmt = |x: Option<f64>| x.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                md,
                "| {}{suffix} | {} | {} | {} | {} |",
                v.name,
                fmt(count(Role::Lua)),
                fmt(count(Role::Native)),
                fmt(tput(Role::Lua)),
                fmt(tput(Role::Native))
            );
            rows.push(serde_json::json!({
                "operation": format!("{}{suffix}", v.name),
                "instructions_vs_lua": count(Role::Lua), "instructions_vs_native": count(Role::Native),
                "throughput_vs_lua": tput(Role::Lua), "throughput_vs_native": tput(Role::Native),
            }));
        }
    }
    rows
}

pub fn report(r: Results) {
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
    let version = r.version;
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark results\n");
    let _ = writeln!(
        md,
        "Redis {version}; server and load generator on one machine. Reproduce: `make bench`.\n"
    );
    let _ = writeln!(md, "## Ratios\n");
    let _ = writeln!(md, "Instructions: the server's, per operation, under callgrind (repeatable to about 1%). Throughput: pipelined, median of the rounds below. Each module command against the design note's Lua script and the native floor of its family.\n");
    let summary = ratio_summary(&mut md, &r);
    let _ = writeln!(md, "\n## Server instructions per operation (callgrind)\n");
    let _ = writeln!(md, "Counted inside `processCommand` (command lookup, ACL check, the command, propagation, its buffered reply) on one connection, pipelined, {DEPTH} operations per request.\n");
    let instruction_rows = instruction_table(&mut md, r.variants, r.counted);
    let _ = writeln!(md, "\nWith a replica attached (propagation counted):\n");
    let replica_instruction_rows = instruction_table(&mut md, r.writes, r.counted_with_replica);
    let _ = writeln!(md, "\n## Throughput and server time\n");
    let _ = writeln!(md, "{CONNECTIONS} connections; pipelined = {DEPTH} operations per request; {} interleaved rounds, median (min-max). Server time = `INFO commandstats` usec per logical operation (for Lua: EVALSHA, inner calls included). Microseconds move by tens of percent between runs on a shared machine; compare ratios within one run.\n", rounds());
    let rows = table(&mut md, r.variants, r.samples);
    let _ = writeln!(
        md,
        "\nWith a replica attached (every write also propagated):\n"
    );
    let replica_rows = table(&mut md, r.writes, r.with_replica);
    let _ = writeln!(
        md,
        "\n## Memory per cached entry (`MEMORY USAGE`, 1000 entries)\n"
    );
    let _ = writeln!(md, "| layout | bytes |\n|---|---|");
    for (k, v) in r.memory {
        let _ = writeln!(md, "| {k} | {v:.0} |");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    std::fs::write(dir.join("results.md"), &md).unwrap();
    let json = serde_json::json!({
        "redis": version, "cpu": cpu, "cores": cores,
        "ratios": summary,
        "instructions": instruction_rows, "instructions_with_replica": replica_instruction_rows,
        "rows": rows, "writes_with_replica": replica_rows, "memory": r.memory,
    });
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    println!("{md}");
}
