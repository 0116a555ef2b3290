//! Hostile input at the server level: every command with wrong arities, bad
//! expire times, empty and binary names, and stored values built to make a
//! decoder allocate, recurse or read out of bounds. The server must answer
//! each with a reply (an error where due), keep serving, and keep every key
//! stored beforehand as it was.

mod common;

use common::{call, info_field, pack, register, snapshot, templates, used_memory, Server, PERMS};
use redis::{Commands, Connection};
use rmpv::Value as Mp;

const COMMANDS: &[&str] = &[
    "CALC.HSETEX",
    "CALC.GETDICT",
    "CALC.MGETDICT",
    "CALC.A2BSET",
    "CALC.PURGEA",
    "CALC.TEMPLATE.SET",
    "CALC.TEMPLATE.GET",
    "CALC.TEMPLATE.INFO",
    "CALC.TEMPLATE.DEL",
    "CALC.TEMPLATE.LIST",
];

fn seed(con: &mut Connection) {
    register(con, "perms", PERMS);
    let value = pack(&Mp::Array(vec![
        Mp::Boolean(true),
        Mp::Nil,
        Mp::from(1),
        Mp::Array(vec![Mp::Nil, Mp::Nil]),
    ]));
    call(con, &[b"CALC.HSETEX", b"h", b"f", &value, b"1000"]).unwrap();
    common::stash(con, 1, 7, &value, 1000).unwrap();
    let _: () = con.set("s", "string").unwrap();
}

fn alive(con: &mut Connection) {
    assert_eq!(redis::cmd("PING").query::<String>(con).unwrap(), "PONG");
}

fn is_valid_arity(command: &str, argc: usize) -> bool {
    match command {
        "CALC.HSETEX" => argc >= 5 && argc % 2 == 1,
        "CALC.GETDICT" => argc == 4,
        "CALC.MGETDICT" => argc >= 4,
        "CALC.A2BSET" => argc == 7,
        // A fifth argument is the LOCAL option (a malformed one is a syntax
        // error, tests/purgea.rs).
        "CALC.PURGEA" => argc == 4 || argc == 5,
        // Options follow the definition: a malformed one is a syntax error
        // (tests/templates.rs), not an arity error.
        "CALC.TEMPLATE.SET" => argc >= 3,
        "CALC.TEMPLATE.GET" | "CALC.TEMPLATE.INFO" | "CALC.TEMPLATE.DEL" => argc == 2,
        "CALC.TEMPLATE.LIST" => argc == 1,
        _ => unreachable!(),
    }
}

#[test]
fn wrong_arities_are_refused_for_every_command() {
    let server = Server::start();
    let mut con = server.client();
    seed(&mut con);
    let (before, tmpl) = (snapshot(&mut con), templates(&mut con));
    for command in COMMANDS {
        for argc in 1..=10 {
            if is_valid_arity(command, argc) {
                continue;
            }
            // Arguments that would change seeded data were the arity accepted.
            let mut args: Vec<&[u8]> = vec![command.as_bytes()];
            args.extend(
                ["h", "f", "perms", "7", "x", "y", "10", "z", "w"]
                    .iter()
                    .take(argc - 1)
                    .map(|s| s.as_bytes()),
            );
            let err = common::call_err(&mut con, &args);
            assert!(
                err.contains("wrong number of arguments"),
                "{command} with {argc}: {err}"
            );
            alive(&mut con);
        }
    }
    assert_eq!(snapshot(&mut con), before);
    assert_eq!(templates(&mut con), tmpl);
}

#[test]
fn bad_expire_times_are_refused_by_every_writer() {
    let server = Server::start();
    let mut con = server.client();
    seed(&mut con);
    let before = snapshot(&mut con);
    for seconds in [
        "0",
        "-1",
        "abc",
        "1.0",
        "1e3",
        "",
        "0x10",
        "18446744073709551616",
        "9223372036854775807",
        "\0",
    ] {
        let s = seconds.as_bytes();
        for args in [
            vec![&b"CALC.HSETEX"[..], b"h", b"f", b"new", s],
            vec![b"CALC.HSETEX", b"fresh", b"f", b"new", b"g", b"new", s],
            vec![
                b"CALC.A2BSET",
                b"a2b-a|1",
                b"a2b-b|7",
                b"1",
                b"7",
                b"new",
                s,
            ],
            vec![
                b"CALC.A2BSET",
                b"a2b-a|9",
                b"a2b-b|9",
                b"9",
                b"9",
                b"new",
                s,
            ],
        ] {
            let err = common::call_err(&mut con, &args);
            let command = String::from_utf8_lossy(args[0]).to_lowercase();
            let native = common::native_time_error(&mut con, "EX", s, &command);
            assert_eq!(Some(err), native, "{seconds:?}: as SET ... EX answers");
            alive(&mut con);
        }
    }
    assert_eq!(snapshot(&mut con), before);
}

#[test]
fn empty_and_binary_names_work_and_touch_nothing_else() {
    let server = Server::start();
    let mut con = server.client();
    seed(&mut con);
    let before = snapshot(&mut con);
    let names: &[&[u8]] = &[b"", b"\x00", b"\x00\xff\r\n", b"\xc1\xc1", b"*", b"{}"];
    for name in names {
        let key = [b"k".as_slice(), name].concat();
        let seconds = b"100";
        // Writers with odd names create exactly the keys named.
        assert_eq!(
            call(&mut con, &[b"CALC.HSETEX", name, name, name, seconds]).unwrap(),
            redis::Value::Int(1)
        );
        assert_eq!(con.hget::<_, _, Vec<u8>>(*name, *name).unwrap(), *name);
        call(
            &mut con,
            &[
                b"CALC.A2BSET",
                &key,
                &[&key[..], b"b"].concat(),
                name,
                name,
                name,
                seconds,
            ],
        )
        .unwrap();
        // Readers with odd names answer nil or an error.
        let reply = call(&mut con, &[b"CALC.GETDICT", name, name, b"perms"]);
        assert!(
            reply.is_err(),
            "a raw string is not a packed value: {reply:?}"
        );
        let err = common::call_err(&mut con, &[b"CALC.GETDICT", b"h", b"f", name]);
        assert!(err.starts_with("NOTEMPLATE unknown template"), "{err}");
        let err = common::call_err(&mut con, &[b"CALC.MGETDICT", b"h", name, name]);
        assert!(err.starts_with("NOTEMPLATE unknown template"), "{err}");
        // Templates with odd names, and odd bytes as definitions.
        let ok: String = redis::cmd("CALC.TEMPLATE.SET")
            .arg(*name)
            .arg(r#"["a"]"#)
            .query(&mut con)
            .unwrap();
        assert_eq!(ok, "OK");
        let err = common::call_err(&mut con, &[b"CALC.TEMPLATE.SET", b"t", name]);
        assert!(err.starts_with("ERR invalid template definition"), "{err}");
        assert_eq!(
            call(&mut con, &[b"CALC.TEMPLATE.DEL", name]).unwrap(),
            redis::Value::Int(1)
        );
        // A purge whose prefix and member are odd bytes.
        call(&mut con, &[b"CALC.PURGEA", &key, name, name]).unwrap();
        alive(&mut con);
    }
    let after: Vec<_> = snapshot(&mut con)
        .into_iter()
        .filter(|(k, ..)| before.iter().any(|(b, ..)| b == k))
        .collect();
    assert_eq!(after, before, "keys stored beforehand must be unchanged");
}

/// Payloads built to make a decoder misbehave, with what the error must say.
fn hostile_values() -> Vec<(&'static str, Vec<u8>)> {
    let million_deep = {
        let mut v = vec![0x94];
        v.extend(std::iter::repeat_n(0x91, 1_000_000));
        v
    };
    let million_maps = {
        let mut v = vec![0x94];
        v.extend(std::iter::repeat_n([0x81, 0xc0], 500_000).flatten());
        v
    };
    let huge_claims: Vec<(&'static str, Vec<u8>)> = vec![
        ("top array32", vec![0xdd, 0xff, 0xff, 0xff, 0xff]),
        ("array32", vec![0x94, 0xdd, 0xff, 0xff, 0xff, 0xff]),
        ("map32", vec![0x94, 0xdf, 0xff, 0xff, 0xff, 0xff]),
        ("str32", vec![0x94, 0xdb, 0xff, 0xff, 0xff, 0xff]),
        ("bin32", vec![0x94, 0xc6, 0xff, 0xff, 0xff, 0xff]),
        ("ext32", vec![0x94, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ("array16 short", vec![0x94, 0xdc, 0xff, 0xff, 0xc0]),
    ];
    let mut values = vec![
        ("million deep", million_deep),
        ("million maps deep", million_maps),
    ];
    values.extend(huge_claims);
    let good = pack(&Mp::Array(vec![
        Mp::F64(f64::MAX),
        Mp::from(u64::MAX),
        Mp::from(i64::MIN),
        Mp::Array(vec![Mp::F32(f32::MIN), Mp::from("x")]),
    ]));
    for cut in 0..good.len() {
        values.push(("truncated", good[..cut].to_vec()));
    }
    values
}

#[test]
fn hostile_stored_values_get_clean_errors_without_memory_jumps() {
    let server = Server::start();
    let mut con = server.client();
    seed(&mut con);
    let values = hostile_values();
    for (i, (_, value)) in values.iter().enumerate() {
        let _: i64 = con.hset("hostile", i, value.as_slice()).unwrap();
    }
    let before = used_memory(&mut con);
    for round in 0..3 {
        for (i, (what, _)) in values.iter().enumerate() {
            let field = i.to_string();
            let err = common::call_err(
                &mut con,
                &[b"CALC.GETDICT", b"hostile", field.as_bytes(), b"perms"],
            );
            assert!(err.starts_with("ERR "), "{what}: {err}");
            if round == 0 {
                let err = common::call_err(
                    &mut con,
                    &[
                        b"CALC.MGETDICT",
                        b"hostile",
                        b"perms",
                        b"nofield",
                        field.as_bytes(),
                    ],
                );
                assert!(err.starts_with("ERR "), "{what}: {err}");
            }
        }
        alive(&mut con);
    }
    let after = used_memory(&mut con);
    assert!(
        after - before < 1 << 20,
        "used_memory grew from {before} to {after}"
    );
    let peak = info_field(&mut con, "memory", "used_memory_peak")
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert!(
        peak < before + (8 << 20),
        "peak {peak} vs {before}: something allocated from a claimed length"
    );
    // The seeded value still decodes.
    assert!(call(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"perms"]).is_ok());
}

#[test]
fn at_maxmemory_writers_are_refused_and_readers_and_purges_still_work() {
    let server = Server::start();
    let mut con = server.client();
    seed(&mut con);
    let before = snapshot(&mut con);
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory-policy", "noeviction"])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"])
        .query(&mut con)
        .unwrap();
    for args in [
        &[&b"CALC.HSETEX"[..], b"h", b"g", b"v", b"10"][..],
        &[
            b"CALC.A2BSET",
            b"a2b-a|2",
            b"a2b-b|8",
            b"2",
            b"8",
            b"v",
            b"10",
        ],
        &[b"CALC.TEMPLATE.SET", b"new", b"[\"a\"]"],
    ] {
        let err = common::call_err(&mut con, args);
        assert!(err.starts_with("OOM"), "{err}");
    }
    assert_eq!(snapshot(&mut con), before);
    assert!(call(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"perms"]).is_ok());
    assert!(call(&mut con, &[b"CALC.MGETDICT", b"h", b"perms", b"f"]).is_ok());
    assert!(call(&mut con, &[b"CALC.TEMPLATE.GET", b"perms"]).is_ok());
    // Purges only free memory: like HDEL and DEL, they run at the limit.
    assert_eq!(
        call(&mut con, &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]).unwrap(),
        redis::Value::Int(1)
    );
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "0"])
        .query(&mut con)
        .unwrap();
    assert!(call(&mut con, &[b"CALC.HSETEX", b"h", b"g", b"v", b"10"]).is_ok());
}
