//! README, Commands: CALC.SETDICT key template field json [field json ...] seconds | PXAT ms

mod common;

use common::{
    aof_text, assert_times_answered_as_set, call, call_err, expiries, info_field, keyspace_events,
    register, register_with, setdict, snapshot, Server, PERMS, PERMS_JSON,
};
use redis::{Commands, Connection, Value};
use rmpv::Value as Mp;

/// The template's fingerprint, as the server reports it.
fn fingerprint(con: &mut Connection, template: &str) -> Vec<u8> {
    let info: Vec<Value> = redis::cmd("CALC.TEMPLATE.INFO")
        .arg(template)
        .query(con)
        .unwrap();
    let Value::BulkString(hex) = &info[7] else {
        panic!("{info:?}")
    };
    (0..4)
        .map(|i| {
            u8::from_str_radix(std::str::from_utf8(&hex[2 * i..2 * i + 2]).unwrap(), 16).unwrap()
        })
        .collect()
}

/// The stored bytes a msgpack library gives for `values` under `template`:
/// `d6 63` + fingerprint, then the array.
fn expected_bytes(con: &mut Connection, template: &str, values: &Mp) -> Vec<u8> {
    let mut bytes = vec![0xd6, 0x63];
    bytes.extend(fingerprint(con, template));
    bytes.extend(common::pack(values));
    bytes
}

fn stored(con: &mut Connection, key: &str, field: &str) -> Vec<u8> {
    con.hget(key, field).unwrap()
}

/// The msgpack values behind the fingerprint of a stored value.
fn unpacked(bytes: &[u8]) -> Mp {
    assert_eq!(bytes[..2], [0xd6, 0x63], "fingerprint marker");
    let mut rest = &bytes[6..];
    let value = rmpv::decode::read_value(&mut rest).unwrap();
    assert!(rest.is_empty());
    value
}

fn ok(reply: redis::RedisResult<Value>) -> i64 {
    match reply.unwrap() {
        Value::Int(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn perms_values() -> Mp {
    Mp::Array(vec![
        Mp::Boolean(true),
        Mp::Boolean(false),
        Mp::Nil,
        Mp::Array(vec![Mp::from("hi"), Mp::F64(3.9)]),
    ])
}

#[test]
fn stores_the_values_in_template_order_behind_the_fingerprint() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    let shuffled = r#"{ "meta": {"y": 3.9, "x": "hi"}, "ccc": null, "bb": false, "a": true }"#;
    assert_eq!(
        ok(setdict(
            &mut con,
            "h",
            "perms",
            &[("42", PERMS_JSON), ("43", shuffled)],
            &["3600"]
        )),
        2
    );
    let expected = expected_bytes(&mut con, "perms", &perms_values());
    assert_eq!(stored(&mut con, "h", "42"), expected);
    assert_eq!(stored(&mut con, "h", "43"), expected);
    // One new field, one updated: counted as HSET counts.
    assert_eq!(
        ok(setdict(
            &mut con,
            "h",
            "perms",
            &[("43", PERMS_JSON), ("44", PERMS_JSON)],
            &["10"]
        )),
        1
    );
    // GETDICT reads it back, typed, over RESP3 too.
    let mut r3 = server.client_resp3();
    let dict = call(&mut r3, &[b"CALC.GETDICT", b"h", b"44", b"perms"]).unwrap();
    assert_eq!(
        dict,
        Value::Map(vec![
            (common::bulk("a"), Value::Boolean(true)),
            (common::bulk("bb"), Value::Boolean(false)),
            (common::bulk("ccc"), Value::Nil),
            (
                common::bulk("meta"),
                Value::Map(vec![
                    (common::bulk("x"), common::bulk("hi")),
                    (common::bulk("y"), Value::Double(3.9)),
                ])
            ),
        ])
    );
    // The reply is the same integer over RESP3.
    assert_eq!(
        ok(setdict(
            &mut r3,
            "h",
            "perms",
            &[("45", PERMS_JSON)],
            &["10"]
        )),
        1
    );
}

#[test]
fn numbers_are_stored_exactly() {
    let server = Server::start();
    let mut con = server.client();
    register(
        &mut con,
        "n",
        r#"["sum","big","min","max","two","neg","small","zero","e","tiny"]"#,
    );
    let json = r#"{"sum":0.30000000000000004,"big":1e308,"min":-9223372036854775808,
        "max":18446744073709551615,"two":2.0,"neg":-1,"small":127,"zero":-0,"e":1E2,
        "tiny":4.9e-324}"#;
    ok(setdict(&mut con, "h", "n", &[("f", json)], &["100"]));
    let got = unpacked(&stored(&mut con, "h", "f"));
    assert_eq!(
        got,
        Mp::Array(vec![
            Mp::F64(0.1 + 0.2),
            Mp::F64(1e308),
            Mp::from(i64::MIN),
            Mp::from(u64::MAX),
            Mp::F64(2.0),
            Mp::from(-1),
            Mp::from(127),
            Mp::from(0),
            Mp::F64(100.0),
            Mp::F64(5e-324),
        ])
    );
    // The compact form: 0x7f is one byte, -1 one byte, 2.0 a float 64.
    let bytes = stored(&mut con, "h", "f");
    assert!(bytes.windows(2).any(|w| w == [0xff, 0x7f]), "{bytes:02x?}");
    // Read back over RESP3: a double, a big number, exact integers.
    let mut r3 = server.client_resp3();
    let Value::Map(pairs) = call(&mut r3, &[b"CALC.GETDICT", b"h", b"f", b"n"]).unwrap() else {
        panic!()
    };
    assert_eq!(pairs[0].1, Value::Double(0.1 + 0.2));
    assert_eq!(pairs[2].1, Value::Int(i64::MIN));
    assert_eq!(pairs[3].1, Value::BigNumber(u64::MAX.into()));
    assert_eq!(pairs[4].1, Value::Double(2.0));
}

#[test]
fn strings_keep_every_character() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "s", r#"["s",["m",["t"]]]"#);
    let text = "quote\" backslash\\ slash/ nul\u{0} tab\t newline\n bell\u{7} é 漢 😀 \u{2028}";
    let json = serde_json::json!({"s": text, "m": {"t": ""}}).to_string();
    ok(setdict(&mut con, "h", "s", &[("f", &json)], &["100"]));
    assert_eq!(
        unpacked(&stored(&mut con, "h", "f")),
        Mp::Array(vec![Mp::from(text), Mp::Array(vec![Mp::from("")])])
    );
    // Escapes in the JSON text mean the same characters.
    let escaped = r#"{"s":"\u0071uote\" \ud83d\ude00","m":{"t":"\/"}}"#;
    ok(setdict(&mut con, "h", "s", &[("g", escaped)], &["100"]));
    assert_eq!(
        unpacked(&stored(&mut con, "h", "g")),
        Mp::Array(vec![Mp::from("quote\" 😀"), Mp::Array(vec![Mp::from("/")])])
    );
}

#[test]
fn arrays_and_objects_at_a_plain_entry_become_msgpack_arrays_and_maps() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["list","obj",["sub",["deep"]]]"#);
    let json = r#"{"list":[1,"two",[3.5,null],{}],"obj":{"k":true,"n":{"z":[]}},"sub":{"deep":{"free":"form"}}}"#;
    ok(setdict(&mut con, "h", "t", &[("f", json)], &["100"]));
    assert_eq!(
        unpacked(&stored(&mut con, "h", "f")),
        Mp::Array(vec![
            Mp::Array(vec![
                Mp::from(1),
                Mp::from("two"),
                Mp::Array(vec![Mp::F64(3.5), Mp::Nil]),
                Mp::Map(vec![]),
            ]),
            Mp::Map(vec![
                (Mp::from("k"), Mp::Boolean(true)),
                (
                    Mp::from("n"),
                    Mp::Map(vec![(Mp::from("z"), Mp::Array(vec![]))])
                ),
            ]),
            Mp::Array(vec![Mp::Map(vec![(Mp::from("free"), Mp::from("form"))])]),
        ])
    );
}

#[test]
fn the_ttl_rule_is_hsetex_s() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("1", PERMS_JSON)],
        &["100"],
    ));
    let ttl: i64 = con.ttl("h").unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    let at: i64 = redis::cmd("PEXPIRETIME").arg("h").query(&mut con).unwrap();
    // A later write never prolongs it, in seconds or PXAT form.
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("2", PERMS_JSON)],
        &["100000"],
    ));
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("3", PERMS_JSON)],
        &["PXAT", "99999999999999"],
    ));
    let after: i64 = redis::cmd("PEXPIRETIME").arg("h").query(&mut con).unwrap();
    assert_eq!(after, at);
    // A key without TTL keeps having none.
    let _: i64 = con.hset("plain", "old", "v").unwrap();
    ok(setdict(
        &mut con,
        "plain",
        "perms",
        &[("1", PERMS_JSON)],
        &["100"],
    ));
    assert_eq!(con.ttl::<_, i64>("plain").unwrap(), -1);
    // PXAT gives the absolute time to the millisecond.
    let at = 4_102_444_800_123i64;
    ok(setdict(
        &mut con,
        "abs",
        "perms",
        &[("1", PERMS_JSON)],
        &["PXAT", &at.to_string()],
    ));
    let got: i64 = redis::cmd("PEXPIRETIME")
        .arg("abs")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, at);
    // A field named PXAT is a field (an odd count of arguments after the template).
    ok(setdict(
        &mut con,
        "odd",
        "perms",
        &[("PXAT", PERMS_JSON)],
        &["100"],
    ));
    let fields: Vec<String> = con.hkeys("odd").unwrap();
    assert_eq!(fields, ["PXAT"]);
}

#[test]
fn every_error_names_the_field_and_the_name_and_writes_nothing() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("old", PERMS_JSON)],
        &["100"],
    ));
    let before = snapshot(&mut con);
    let body = r#""a":true,"bb":false,"ccc":null"#;
    let meta = r#""meta":{"x":"hi","y":3.9}"#;
    let cases: Vec<(String, &str)> = vec![
        ("{".into(), "ERR field 'bad': invalid JSON: EOF while parsing"),
        ("[]".into(), "ERR field 'bad': expected a JSON object, got an array"),
        ("null".into(), "ERR field 'bad': expected a JSON object, got null"),
        (format!("{{{body}}}"), "ERR field 'bad': missing name 'meta'"),
        (format!(r#"{{{body},"meta":{{"x":1}}}}"#), "ERR field 'bad': missing name 'meta.y'"),
        (format!(r#"{{{body},{meta},"dddd":1}}"#), "ERR field 'bad': unknown name 'dddd'"),
        (
            format!(r#"{{{body},"meta":{{"x":1,"y":2,"z":3}}}}"#),
            "ERR field 'bad': unknown name 'meta.z'",
        ),
        (format!(r#"{{{body},{meta},"a":false}}"#), "ERR field 'bad': name 'a' given twice"),
        (
            format!(r#"{{{body},"meta":[1,2]}}"#),
            "ERR field 'bad': name 'meta' takes a JSON object (it has a sub-template), got an array",
        ),
        (
            format!(r#"{{{body},"meta":{{"x":18446744073709551616,"y":1}}}}"#),
            "ERR field 'bad': name 'meta.x': integer outside -2^63..2^64-1",
        ),
        (
            format!(r#"{{"a":-9223372036854775809,"bb":1,"ccc":1,{meta}}}"#),
            "ERR field 'bad': name 'a': integer outside",
        ),
        (
            format!(r#"{{{body},"meta":{{"x":1e400,"y":1}}}}"#),
            "ERR field 'bad': name 'meta.x': number out of the range of a double",
        ),
        (
            format!(r#"{{"a":{}1{},"bb":1,"ccc":1,{meta}}}"#, "[".repeat(64), "]".repeat(64)),
            "ERR field 'bad': name 'a': nested deeper than 64 levels",
        ),
        (
            format!(r#"{{{body},"meta":{{"x":tru,"y":1}}}}"#),
            "ERR field 'bad': invalid JSON in name 'meta.x': expected ident",
        ),
        (format!(r#"{{{body},{meta}}} x"#), "ERR field 'bad': invalid JSON: trailing characters"),
        (r#"{"a":NaN}"#.into(), "ERR field 'bad': invalid JSON in name 'a'"),
    ];
    for (json, expected) in &cases {
        // The bad value alone, and between good ones: either way nothing is written.
        for pairs in [
            vec![("bad", json.as_str())],
            vec![
                ("new1", PERMS_JSON),
                ("bad", json.as_str()),
                ("new2", PERMS_JSON),
            ],
        ] {
            for key in ["h", "fresh"] {
                let err = setdict(&mut con, key, "perms", &pairs, &["100"]).unwrap_err();
                let err = format!(
                    "{} {}",
                    err.code().unwrap_or(""),
                    err.detail().unwrap_or("")
                );
                assert!(err.starts_with(expected), "{json}: {err}");
            }
        }
    }
    // Invalid UTF-8 in the JSON text.
    let err = call_err(
        &mut con,
        &[
            b"CALC.SETDICT",
            b"h",
            b"perms",
            b"bad",
            b"{\"a\":\"\xff\"}",
            b"100",
        ],
    );
    assert!(
        err.starts_with("ERR field 'bad': invalid JSON in name 'a'"),
        "{err}"
    );
    assert_eq!(snapshot(&mut con), before);
    let refused = info_field(&mut con, "calc", "calc_pack_errors").unwrap();
    assert_eq!(refused, (cases.len() * 4 + 1).to_string());
    assert_eq!(
        info_field(&mut con, "calc", "calc_decode_errors").unwrap(),
        "0"
    );
}

#[test]
fn other_errors_write_nothing_either() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    let _: () = con.set("s", "x").unwrap();
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("old", PERMS_JSON)],
        &["100"],
    ));
    let before = snapshot(&mut con);
    let err = setdict(&mut con, "h", "nope", &[("f", PERMS_JSON)], &["100"]).unwrap_err();
    assert_eq!(err.code(), Some("NOTEMPLATE"));
    assert!(
        err.detail().unwrap().starts_with("unknown template 'nope'"),
        "{err}"
    );
    let err = setdict(&mut con, "s", "perms", &[("f", PERMS_JSON)], &["100"]).unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    // Expiry times as CALC.HSETEX reads them: as `SET ... EX|PXAT` would.
    assert_times_answered_as_set(
        &mut con,
        "calc.setdict",
        &[&[
            &b"CALC.SETDICT"[..],
            b"fresh",
            b"perms",
            b"f",
            PERMS_JSON.as_bytes(),
        ]],
    );
    // An argument count that leaves no pair: Redis's arity text.
    for args in [
        &[&b"CALC.SETDICT"[..], b"h", b"perms", b"f", b"100"][..],
        &[
            &b"CALC.SETDICT"[..],
            b"h",
            b"perms",
            b"f",
            b"{}",
            b"g",
            b"{}",
        ],
        &[&b"CALC.SETDICT"[..], b"h", b"perms", b"PXAT", b"100"],
    ] {
        let err = call_err(&mut con, args);
        assert!(err.contains("wrong number of arguments"), "{err}");
    }
    assert_eq!(snapshot(&mut con), before);
}

#[test]
fn a_reordered_definition_reads_the_old_values_as_mismatches() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("f", PERMS_JSON)],
        &["100"],
    ));
    // Same names, same count, other order: the fingerprint tells them apart.
    register(&mut con, "perms", r#"["bb","a","ccc",["meta",["x","y"]]]"#);
    for command in [&b"CALC.GETDICT"[..], b"CALC.GETJSON"] {
        let err = call_err(&mut con, &[command, b"h", b"f", b"perms"]);
        assert!(err.contains("written under another definition"), "{err}");
    }
    let err = call_err(&mut con, &[b"CALC.GETVALUES", b"h", b"f", b"perms", b"a"]);
    assert!(err.contains("written under another definition"), "{err}");
    register_with(
        &mut con,
        "perms",
        r#"["bb","a","ccc",["meta",["x","y"]]]"#,
        &["ONMISMATCH", "NIL"],
    );
    assert_eq!(
        call(&mut con, &[b"CALC.GETJSON", b"h", b"f", b"perms"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        call(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"perms"]).unwrap(),
        Value::Nil
    );
    // Written again under the new definition, it reads back.
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("f", PERMS_JSON)],
        &["100"],
    ));
    let json: String = redis::cmd("CALC.GETJSON")
        .arg("h")
        .arg("f")
        .arg("perms")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        json,
        r#"{"bb":false,"a":true,"ccc":null,"meta":{"x":"hi","y":3.9}}"#
    );
}

#[test]
fn events_are_hsetex_s() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    let events = keyspace_events(&server, || {
        ok(setdict(
            &mut con,
            "h",
            "perms",
            &[("1", PERMS_JSON), ("2", PERMS_JSON)],
            &["100"],
        ));
        ok(setdict(
            &mut con,
            "h",
            "perms",
            &[("3", PERMS_JSON)],
            &["100"],
        ));
        let _ = setdict(&mut con, "h", "perms", &[("4", "{}")], &["100"]);
    });
    let expected = [("hset", "h"), ("expire", "h"), ("hset", "h")];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, k)| (e.to_string(), k.to_string()))
        .collect();
    assert_eq!(events, expected);
}

/// What the replication stream carried, from the replica's command counts.
fn commands_run(con: &mut Connection) -> Vec<String> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con).unwrap();
    info.lines()
        .filter_map(|l| Some(l.strip_prefix("cmdstat_")?.split(':').next()?.to_string()))
        .collect()
}

#[test]
fn a_replica_gets_the_stored_bytes_never_the_json() {
    let primary = Server::start();
    let mut p = primary.client();
    register(&mut p, "perms", PERMS);
    let replica = Server::start_replica_of(&primary);
    let mut r = replica.client();
    // Creations (seconds and PXAT), writes to existing keys, inside MULTI and a script.
    ok(setdict(
        &mut p,
        "h",
        "perms",
        &[("1", PERMS_JSON), ("2", PERMS_JSON)],
        &["300"],
    ));
    ok(setdict(
        &mut p,
        "h",
        "perms",
        &[("3", PERMS_JSON)],
        &["300"],
    ));
    ok(setdict(
        &mut p,
        "abs",
        "perms",
        &[("1", PERMS_JSON)],
        &["PXAT", "4102444800000"],
    ));
    let _: Value = redis::pipe()
        .atomic()
        .cmd("CALC.SETDICT")
        .arg(&["tx", "perms", "1", PERMS_JSON, "400"])
        .cmd("CALC.SETDICT")
        .arg(&["h", "perms", "4", PERMS_JSON, "400"])
        .query(&mut p)
        .unwrap();
    let _: Value = redis::Script::new(
        "redis.call('CALC.SETDICT', KEYS[1], 'perms', 'f', ARGV[1], 500); \
         return redis.call('CALC.SETDICT', KEYS[2], 'perms', '5', ARGV[1], 500)",
    )
    .key("lua")
    .key("h")
    .arg(PERMS_JSON)
    .invoke(&mut p)
    .unwrap();
    // A failed call sends nothing.
    let _ = setdict(&mut p, "h", "perms", &[("bad", "{}")], &["300"]);
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "replica log:\n{}", replica.log());
    assert_eq!(snapshot(&mut r), snapshot(&mut p));
    assert_eq!(expiries(&mut r), expiries(&mut p));
    let on_replica = commands_run(&mut r);
    assert!(
        !on_replica.iter().any(|c| c == "calc.setdict"),
        "{on_replica:?}"
    );
    for carried in ["calc.hsetex", "hset"] {
        assert!(on_replica.iter().any(|c| c == carried), "{on_replica:?}");
    }
    // Replicas refuse it as a write.
    let err = setdict(&mut r, "x", "perms", &[("f", PERMS_JSON)], &["10"]).unwrap_err();
    assert_eq!(err.code(), Some("READONLY"));
}

#[test]
fn the_aof_holds_the_bytes_and_replays_them_whatever_the_registry_says() {
    let server = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("1", PERMS_JSON)],
        &["300"],
    ));
    ok(setdict(
        &mut con,
        "h",
        "perms",
        &[("2", PERMS_JSON)],
        &["300"],
    ));
    ok(setdict(
        &mut con,
        "abs",
        "perms",
        &[("1", PERMS_JSON)],
        &["PXAT", "4102444800000"],
    ));
    // The definition changes after the writes: a replay of the JSON would pack
    // other bytes (or fail); a replay of the bytes cannot.
    register(&mut con, "perms", r#"["meta","a","bb","ccc"]"#);
    let (data, expiry) = (snapshot(&mut con), expiries(&mut con));
    let aof = aof_text(&server);
    assert!(!aof.contains("\"meta\":{"), "no JSON in the AOF");
    let aof = aof.to_uppercase();
    assert!(!aof.contains("CALC.SETDICT"), "{aof}");
    assert!(
        aof.contains("\r\nCALC.HSETEX\r\n") && aof.contains("\r\nHSET\r\n"),
        "{aof}"
    );
    let server = Server::start_in(server.kill(), &["--save", "", "--appendonly", "yes"]);
    let mut con = server.client();
    assert_eq!(snapshot(&mut con), data);
    assert_eq!(expiries(&mut con), expiry);
}
