//! README, Persistence and replication: never a relative expiry (effects for
//! creations, the command itself where the replica's data decides), and the
//! template registry's persistence (RDB aux data) and replication.

mod common;

use common::{
    aof_text, call, expiries, info_field, pack, register, snapshot, templates, wait_until, Server,
    PERMS, PERMS_JSON,
};
use redis::{Connection, Value};

/// A workload touching every writer: created and existing keys, multi-field
/// sets, both sides of a stash, purges from both sides, template changes.
fn workload(con: &mut Connection) {
    register(con, "perms", PERMS);
    common::register_with(
        con,
        "flat",
        r#"["n"]"#,
        &["ONMISMATCH", "NIL", "FINGERPRINT", "REQUIRED"],
    );
    register(con, "gone", r#"["x"]"#);
    let value = pack(&rmpv::Value::Array(vec![rmpv::Value::from(1)]));
    for i in 0..30 {
        let key = format!("calculated-a|{}", i % 7);
        let field = i.to_string();
        let ttl = (100 + i).to_string();
        call(
            con,
            &[
                b"CALC.HSETEX",
                key.as_bytes(),
                field.as_bytes(),
                &value,
                ttl.as_bytes(),
            ],
        )
        .unwrap();
    }
    call(
        con,
        &[
            b"CALC.HSETEX",
            b"multi",
            b"a",
            b"1",
            b"b",
            b"2",
            b"a",
            b"3",
            b"500",
        ],
    )
    .unwrap();
    for (a, b) in [(1, 7), (1, 8), (2, 7), (3, 9), (3, 8), (4, 10)] {
        common::stash(con, a, b, &value, 1000).unwrap();
    }
    call(con, &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]).unwrap();
    call(con, &[b"CALC.PURGEA", b"a2b-b|10", b"a2b-a|", b"10"]).unwrap();
    // JSON writes, on a new key and on an existing one.
    common::setdict(con, "dict", "perms", &[("1", PERMS_JSON)], &["600"]).unwrap();
    common::setdict(
        con,
        "calculated-a|1",
        "perms",
        &[("2", PERMS_JSON)],
        &["600"],
    )
    .unwrap();
    call(con, &[b"CALC.TEMPLATE.DEL", b"gone"]).unwrap();
}

/// The workload's `flat` template kept its policy (replication, RDB, AOF).
fn assert_policy_kept(con: &mut Connection) {
    let flat = templates(con)
        .into_iter()
        .find(|(name, _)| name == b"flat")
        .expect("flat template");
    assert_eq!(flat.1, r#"["n"] NIL 1"#);
}

/// Writes to keys the workload left: updates of existing hashes and stashes
/// (replicated as themselves), a creation and a purge.
fn more_writes(con: &mut Connection) {
    let value = pack(&rmpv::Value::Array(vec![rmpv::Value::from(2)]));
    for i in 0..7 {
        let key = format!("calculated-a|{i}");
        call(
            con,
            &[b"CALC.HSETEX", key.as_bytes(), b"late", &value, b"900"],
        )
        .unwrap();
    }
    call(
        con,
        &[b"CALC.HSETEX", b"created-late", b"f", &value, b"900"],
    )
    .unwrap();
    common::stash(con, 3, 9, &value, 900).unwrap();
    common::setdict(con, "dict", "perms", &[("late", PERMS_JSON)], &["900"]).unwrap();
    call(con, &[b"CALC.PURGEA", b"a2b-a|3", b"a2b-b|", b"3"]).unwrap();
}

#[test]
fn a_replica_ends_with_the_same_data_expiries_and_templates() {
    let primary = Server::start();
    let mut p = primary.client();
    // Some state before the replica exists: it arrives by full resync (RDB + aux).
    register(&mut p, "early", r#"["e",["sub",["s"]]]"#);
    call(&mut p, &[b"CALC.HSETEX", b"early-key", b"f", b"v", b"300"]).unwrap();

    let replica = Server::start_replica_of(&primary);
    let mut r = replica.client();

    // The rest arrives through the replication stream, also from module
    // commands run inside MULTI/EXEC and inside a script.
    workload(&mut p);
    let _: Value = redis::pipe()
        .atomic()
        .cmd("CALC.HSETEX")
        .arg("tx")
        .arg("f")
        .arg("v")
        .arg(400)
        .cmd("CALC.A2BSET")
        .arg("a2b-a|tx")
        .arg("a2b-b|tx")
        .arg("a")
        .arg("b")
        .arg("v")
        .arg(400)
        .cmd("CALC.PURGEA")
        .arg("a2b-a|3")
        .arg("a2b-b|")
        .arg("3")
        .query(&mut p)
        .unwrap();
    let _: Value = redis::Script::new(
        "redis.call('CALC.HSETEX', KEYS[1], 'f', 'v', 500); return redis.call('CALC.PURGEA', KEYS[2], 'a2b-b|', '2')",
    )
    .key("lua-key")
    .key("a2b-a|2")
    .invoke(&mut p)
    .unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "replica log:\n{}", replica.log());

    assert_eq!(snapshot(&mut r), snapshot(&mut p));
    assert_eq!(
        expiries(&mut r),
        expiries(&mut p),
        "absolute expiries must be identical"
    );
    assert_eq!(templates(&mut r), templates(&mut p));
    assert_eq!(templates(&mut r).len(), 3);
    assert_policy_kept(&mut r);

    // Replicas are read-only for the module's writers, as for native ones.
    let err = common::call_err(&mut r, &[b"CALC.HSETEX", b"x", b"f", b"v", b"10"]);
    assert!(err.starts_with("READONLY"), "{err}");
    let err = common::call_err(&mut r, &[b"CALC.TEMPLATE.SET", b"x", b"[\"a\"]"]);
    assert!(err.starts_with("READONLY"), "{err}");
}

#[test]
fn the_aof_holds_effects_and_replays_to_the_same_state() {
    let server = Server::start_with(&common::AOF_ALWAYS);
    let mut con = server.client();
    workload(&mut con);
    let (data, expiry, tmpl) = (snapshot(&mut con), expiries(&mut con), templates(&mut con));

    // One module command per set: creations in their absolute form
    // (`... PXAT <unix-ms>`), writes to existing keys as sent; purges by
    // their effects where hash fields can expire, else as sent; never a
    // relative expiry.
    let field_expiry = common::has_field_expiry(&mut con);
    let aof = aof_text(&server).to_uppercase();
    for record in [
        "\r\nPXAT\r\n",
        "CALC.HSETEX",
        "CALC.A2BSET",
        "CALC.TEMPLATE.SET",
        "CALC.TEMPLATE.DEL",
    ] {
        assert!(aof.contains(record), "AOF lacks {record}");
    }
    assert_eq!(aof.contains("CALC.PURGEA"), !field_expiry);
    // `CALC.PURGEA a2b-a|1 a2b-b| 1` over b-ids 7 and 8, in one transaction.
    let effects = [
        resp(&["MULTI"]),
        resp(&["HDEL", "a2b-b|7", "1"]),
        resp(&["HDEL", "a2b-b|8", "1"]),
        resp(&["DEL", "a2b-a|1"]),
        resp(&["EXEC"]),
    ]
    .concat()
    .to_uppercase();
    assert_eq!(
        aof.contains(&effects),
        field_expiry,
        "{effects:?} in:\n{aof}"
    );
    for relative in ["\r\nEXPIRE\r\n", "\r\nPEXPIRE\r\n"] {
        assert!(!aof.contains(relative), "never a relative expiry");
    }
    // The workload's own calls all give seconds, so the PXAT records are the
    // creations: at least the seven `calculated-a|<n>` hashes.
    let created = aof.matches("\r\nPXAT\r\n").count();
    assert!(created >= 7, "{created} creations in absolute form");

    let dir = server.kill();
    let server = Server::start_in(dir, &["--save", "", "--appendonly", "yes"]);
    let mut con = server.client();
    assert_eq!(snapshot(&mut con), data);
    assert_eq!(expiries(&mut con), expiry);
    assert_eq!(templates(&mut con), tmpl);
    assert_policy_kept(&mut con);
}

/// A command as RESP, as the AOF records it.
fn resp(args: &[&str]) -> String {
    let mut out = format!("*{}\r\n", args.len());
    for arg in args {
        out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    out
}

#[test]
fn templates_survive_an_aof_rewrite_and_restart() {
    let server = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-use-rdb-preamble",
        "yes",
    ]);
    let mut con = server.client();
    workload(&mut con);
    let tmpl = templates(&mut con);
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_until(20, "AOF rewrite", || {
        info_field(&mut con, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(&mut con, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
    });
    // After the rewrite the template commands are gone from the incremental
    // file: only the base RDB's aux data can bring the templates back.
    assert!(!aof_text(&server).contains("CALC.TEMPLATE"));
    // Writes after the rewrite replay from the new incremental file on top of
    // the base, module commands included.
    more_writes(&mut con);
    assert!(aof_text(&server).contains("CALC.HSETEX"));
    let purge = if common::has_field_expiry(&mut con) {
        "\r\nHDEL\r\n"
    } else {
        "CALC.PURGEA"
    };
    assert!(aof_text(&server).to_uppercase().contains(purge));
    let data = snapshot(&mut con);
    restart_keeps(server, &["--save", "", "--appendonly", "yes"], &data, &tmpl);
}

/// Crashes `server`, starts a new one on its files, and checks that it holds
/// `data` and the templates `tmpl`.
fn restart_keeps(
    server: Server,
    extra: &[&str],
    data: &[common::SnapshotEntry],
    tmpl: &[(Vec<u8>, String)],
) {
    let server = Server::start_in(server.kill(), extra);
    let mut con = server.client();
    assert_eq!(templates(&mut con), tmpl);
    assert_policy_kept(&mut con);
    assert_eq!(snapshot(&mut con), data);
}

#[test]
fn templates_survive_debug_reload_and_a_restart_from_the_rdb() {
    let server = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--enable-debug-command",
        "yes",
    ]);
    let mut con = server.client();
    workload(&mut con);
    let (data, tmpl) = (snapshot(&mut con), templates(&mut con));
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_eq!(templates(&mut con), tmpl);
    assert_policy_kept(&mut con);
    assert_eq!(snapshot(&mut con), data);

    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    restart_keeps(server, &["--save", "", "--appendonly", "no"], &data, &tmpl);
}

#[test]
fn an_empty_registry_round_trips_too() {
    let server = Server::start_with(&["--save", "", "--appendonly", "no"]);
    let mut con = server.client();
    call(&mut con, &[b"CALC.HSETEX", b"k", b"f", b"v", b"100"]).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let server = Server::start_in(server.kill(), &["--save", "", "--appendonly", "no"]);
    let mut con = server.client();
    assert!(templates(&mut con).is_empty());
    assert_eq!(snapshot(&mut con).len(), 1);
}

/// Rewrites the encoding version of the module's aux field in an RDB and drops
/// the file checksum (a zero checksum tells Redis not to verify it).
fn patch_aux_version(rdb: &mut [u8], version: u64) {
    // RDB_OPCODE_MODULE_AUX (0xf7), then the 64-bit module id as RDB_64BITLEN
    // (0x81 + 8 bytes big-endian): 54 bits of type name, 10 bits of version.
    let at = rdb
        .windows(2)
        .position(|w| w == [0xf7, 0x81])
        .expect("module aux field")
        + 2;
    let id = u64::from_be_bytes(rdb[at..at + 8].try_into().unwrap());
    let patched = (id & !1023) | version;
    rdb[at..at + 8].copy_from_slice(&patched.to_be_bytes());
    let len = rdb.len();
    rdb[len - 8..].fill(0);
}

#[test]
fn an_rdb_from_an_unknown_future_version_is_refused_with_a_clear_log_line() {
    let log = load_log_of_damaged_rdb(|rdb| patch_aux_version(rdb, 9));
    assert!(
        log.contains("calc: cannot load templates from the RDB: unknown encoding version 9"),
        "{log}"
    );
}

#[test]
fn a_truncated_template_payload_is_refused() {
    let log = load_log_of_damaged_rdb(|rdb| {
        // Cut the file inside the template definition.
        let cut = rdb
            .windows(4)
            .position(|w| w == b"meta")
            .expect("definition in the RDB");
        rdb.truncate(cut);
    });
    assert!(
        log.contains("calc: cannot load templates from the RDB: truncated"),
        "{log}"
    );
}

#[test]
fn a_template_name_from_a_damaged_file_is_logged_as_text_not_as_a_format() {
    // printf conversions in a name: logged through a format, `%n` would write
    // to memory and `%s` read from it.
    let name = "%s%n%s%n%p";
    let log = load_log_of_damaged_rdb_named(name, |rdb| {
        let at = rdb
            .windows(4)
            .position(|w| w == b"meta")
            .expect("definition in the RDB");
        rdb[at + 3] = 0x01; // a control character: not valid JSON
        let len = rdb.len();
        rdb[len - 8..].fill(0); // no checksum: Redis does not verify it
    });
    assert!(
        log.contains("calc: cannot load templates from the RDB: template '%s%n%s%n%p'"),
        "{log}"
    );
}

/// Saves an RDB holding a template, lets `damage` rewrite the file, and returns
/// the log of a server started on it, which must refuse to load it.
fn load_log_of_damaged_rdb(damage: impl FnOnce(&mut Vec<u8>)) -> String {
    load_log_of_damaged_rdb_named("perms", damage)
}

fn load_log_of_damaged_rdb_named(name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> String {
    let server = Server::start_with(&["--save", "", "--appendonly", "no"]);
    let mut con = server.client();
    register(&mut con, name, PERMS);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let dir = server.kill();
    let path = dir.path().join("dump.rdb");
    let mut rdb = std::fs::read(&path).unwrap();
    damage(&mut rdb);
    std::fs::write(&path, rdb).unwrap();
    refused_load_log(&dir)
}

/// Starts a server on `dir` that must refuse to load it: the process ends by
/// itself (Redis aborts the load; its exit code reflects the RDB check it runs
/// afterwards, so only the log tells why). Returns the log.
fn refused_load_log(dir: &tempfile::TempDir) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(common::server_binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .args(["--logfile", "redis.log", "--loadmodule"])
        .arg(common::module_path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !matches!(child.try_wait(), Ok(Some(_))) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let still_running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !still_running,
        "the server started on a file it must refuse"
    );
    let log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap();
    assert!(log.contains("Unrecoverable error, aborting now"), "{log}");
    log
}

/// Both sides, compared: data, absolute expiries, templates.
fn assert_same(p: &mut Connection, r: &mut Connection) {
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(p).unwrap();
    assert_eq!(acked, 1);
    assert_eq!(snapshot(r), snapshot(p));
    assert_eq!(
        expiries(r),
        expiries(p),
        "absolute expiries must be identical"
    );
    assert_eq!(templates(r), templates(p));
}

#[test]
fn keys_logically_expired_on_a_lagging_replica_end_the_same() {
    // Neither side expires keys by itself during the test; the replica sleeps
    // while the primary updates and purges keys that are about to expire, so
    // they are past their expiry when the replica applies the writes.
    if common::under_valgrind() {
        eprintln!("keys_logically_expired_on_a_lagging_replica_end_the_same: skipped under valgrind (its 1 s TTLs pass before the writes it times)");
        return;
    }
    let mut debug = common::DEBUG.to_vec();
    debug.extend(["--save", "", "--appendonly", "no"]);
    let primary = Server::start_with(&debug);
    let mut p = primary.client();
    let replica = Server::start_replica_with(&primary, &common::DEBUG);
    let mut r = replica.client();
    for con in [&mut p, &mut r] {
        let _: () = redis::cmd("DEBUG")
            .arg("SET-ACTIVE-EXPIRE")
            .arg(0)
            .query(con)
            .unwrap();
    }
    let value = pack(&rmpv::Value::Array(vec![rmpv::Value::from(1)]));
    call(&mut p, &[b"CALC.HSETEX", b"short", b"f", &value, b"1"]).unwrap();
    for (a, b) in [(1, 7), (1, 8), (2, 7)] {
        common::stash(&mut p, a, b, &value, 1).unwrap();
    }
    let _: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();

    let sleeper = replica.lag(2.0);
    // Still alive on the primary (its TTL has ~0.8 s left): verbatim writes.
    call(&mut p, &[b"CALC.HSETEX", b"short", b"g", &value, b"100"]).unwrap();
    // A creation the replica applies after its expiry time has passed: it
    // arrives as `PXAT <time already past>`, which must leave the key expired
    // there too, not create it without an expiry.
    call(&mut p, &[b"CALC.HSETEX", b"late", b"f", &value, b"1"]).unwrap();
    common::stash(&mut p, 2, 7, &value, 100).unwrap();
    call(&mut p, &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]).unwrap();
    let written: Vec<(Vec<u8>, i64)> = expiries(&mut p);
    sleeper.join().unwrap();
    // The replica applied them to keys already past their expiry: had it taken
    // them for missing, it would hold new keys with 100 s TTLs.
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    for (key, at) in &written {
        let replica_at: i64 = redis::cmd("PEXPIRETIME").arg(key).query(&mut r).unwrap();
        // A logically expired key reads as missing (-2) on both sides.
        assert!(
            replica_at == *at || replica_at == -2,
            "{key:?}: {replica_at} vs {at}"
        );
    }
    assert_same(&mut p, &mut r);
    // Once the primary expires them, the DELs reach the replica too.
    for key in ["short", "a2b-a|2", "a2b-b|7", "late"] {
        let _: Value = redis::cmd("HGETALL").arg(key).query(&mut p).unwrap();
    }
    assert_same(&mut p, &mut r);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut p).unwrap(), 0);
}

#[test]
fn a_replica_resuming_by_partial_resync_ends_the_same() {
    let primary = Server::start();
    let mut p = primary.client();
    let replica = Server::start_replica_of(&primary);
    let mut r = replica.client();
    workload(&mut p);
    let full_syncs = info_field(&mut p, "stats", "sync_full").unwrap();
    // The link drops; the primary keeps writing; the replica resumes from its
    // offset with PSYNC and receives only what it missed.
    let _: Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("master")
        .query(&mut r)
        .unwrap();
    more_writes(&mut p);
    replica.wait_for_replica_link();
    assert_same(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").unwrap(),
        full_syncs,
        "no full resync"
    );
    assert_ne!(
        info_field(&mut p, "stats", "sync_partial_ok").as_deref(),
        Some("0")
    );
    assert_policy_kept(&mut r);
}

/// Waits for the AOF rewrite in progress (or scheduled) to end.
fn wait_for_rewrite(con: &mut Connection) {
    wait_until(20, "AOF rewrite", || {
        info_field(con, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(con, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
    });
}

/// AOF on, the RDB preamble off, every write on disk before it is answered.
const AOF_WITHOUT_PREAMBLE: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--aof-use-rdb-preamble",
    "no",
];

#[test]
fn templates_survive_an_aof_rewritten_without_the_rdb_preamble() {
    // Started with the preamble, switched off at run time as a user would.
    let server = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut con = server.client();
    workload(&mut con);
    register(&mut con, "redefined", r#"["r"]"#);
    register(&mut con, "doomed", r#"["d"]"#);
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "aof-use-rdb-preamble", "no"])
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_rewrite(&mut con);
    // The base holds no aux data: the templates were recorded as commands at
    // the head of the new incremental file, and the log says so.
    assert!(aof_text(&server).contains("CALC.TEMPLATE"));
    assert!(server.log().contains("recorded as CALC.TEMPLATE SET"));
    // Template changes after the rewrite replay after the recorded ones: a
    // recorded template redefined, another deleted, a new one.
    register(&mut con, "redefined", r#"["r","s"]"#);
    call(&mut con, &[b"CALC.TEMPLATE.DEL", b"doomed"]).unwrap();
    register(&mut con, "late", r#"["l"]"#);
    more_writes(&mut con);
    let (data, tmpl) = (snapshot(&mut con), templates(&mut con));
    let server = Server::start_in(server.kill(), AOF_WITHOUT_PREAMBLE);
    let mut con = server.client();
    assert_eq!(templates(&mut con), tmpl);
    assert_policy_kept(&mut con);
    assert_eq!(snapshot(&mut con), data);
    // A second rewrite of a registry that came back from commands, and a
    // second restart (after any rewrite the server started on its own).
    wait_for_rewrite(&mut con);
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_rewrite(&mut con);
    restart_keeps(server, AOF_WITHOUT_PREAMBLE, &data, &tmpl);
}

#[test]
fn a_rewrite_during_a_client_pause_records_the_templates_when_the_pause_ends() {
    let server = Server::start_with(AOF_WITHOUT_PREAMBLE);
    let mut con = server.client();
    workload(&mut con);
    let tmpl = templates(&mut con);
    // Nothing may be propagated while writes are paused (Redis asserts it):
    // the rewrite runs, the templates wait for the end of the pause.
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "60000", "WRITE"])
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_for_rewrite(&mut con);
    assert!(!aof_text(&server).contains("CALC.TEMPLATE"));
    let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut con).unwrap();
    wait_until(10, "templates recorded after the pause", || {
        aof_text(&server).contains("CALC.TEMPLATE")
    });
    let data = snapshot(&mut con);
    restart_keeps(server, AOF_WITHOUT_PREAMBLE, &data, &tmpl);
}

#[test]
fn a_replica_without_the_rdb_preamble_keeps_the_templates_of_its_full_resync() {
    let primary = Server::start_with(AOF_WITHOUT_PREAMBLE);
    let mut p = primary.client();
    workload(&mut p);
    // The replica writes its own AOF, without the preamble, after the full
    // resync (an RDB with the templates as aux data).
    let port = primary.port.to_string();
    let mut args = AOF_WITHOUT_PREAMBLE.to_vec();
    args.extend(["--replicaof", "127.0.0.1", &port]);
    let replica = Server::start_with(&args);
    replica.wait_for_replica_link();
    let mut r = replica.client();
    wait_for_rewrite(&mut r);
    let tmpl = templates(&mut p);
    assert_eq!(templates(&mut r), tmpl);
    wait_until(10, "the replica's AOF to hold the templates", || {
        aof_text(&replica).contains("CALC.TEMPLATE")
    });
    let data = snapshot(&mut r);
    // Restarted on its own files, away from its primary: the templates come
    // from its AOF alone.
    restart_keeps(replica, AOF_WITHOUT_PREAMBLE, &data, &tmpl);
    // And the primary, restarted on an AOF it rewrote without the preamble,
    // hands them to a new replica.
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut p).unwrap();
    wait_for_rewrite(&mut p);
    let data = snapshot(&mut p);
    let primary = Server::start_in(primary.kill(), AOF_WITHOUT_PREAMBLE);
    let mut p = primary.client();
    assert_eq!(templates(&mut p), tmpl);
    let replica = Server::start_replica_of(&primary);
    let mut r = replica.client();
    assert_eq!(templates(&mut r), tmpl);
    assert_eq!(snapshot(&mut r), data);
}
