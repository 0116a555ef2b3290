//! Server instructions per operation, counted by callgrind: repeatable to
//! about 1%, where microseconds on a shared 2-core machine move by tens of
//! percent.

use std::time::Duration;

use crate::common::{self, Server};
use crate::load;
use crate::variants::{clear_write_keys, packed_value, prepare, Family, Variant};
use crate::workload::{requests, CYCLE, PURGE_BLOCK};
use crate::DEPTH;

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
            // CALLGRIND_KEEP=<folder> keeps each dump for callgrind_annotate.
            if let Some(dir) = std::env::var_os("CALLGRIND_KEEP") {
                let kept = std::path::Path::new(&dir).join(format!("dump.{port}.{n}"));
                let _ = std::fs::copy(&path, kept);
            }
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
/// callgrind on one connection's pipelined workload (setups not counted);
/// `with_replica`: with a replica attached, so propagation is counted too.
/// Unlike microseconds on a shared 2-core VM, the count moves by under 1% from
/// run to run, so the ratios to Lua and to the native floor hold for a build.
pub fn instructions(variants: &[&Variant], with_replica: bool) -> Vec<f64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_under(
        dir,
        &["--save", "", "--appendonly", "no"],
        common::free_port,
        callgrind,
    );
    let replica = with_replica.then(|| Server::start_replica_of(&server));
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
            Family::Write | Family::WriteJson => CYCLE,
            Family::Read | Family::ReadJson | Family::ReadValue => 4000,
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
    drop(replica);
    drop(server);
    // Its final dump at exit.
    let _ = std::fs::remove_file(callgrind_out(port));
    counted
}
