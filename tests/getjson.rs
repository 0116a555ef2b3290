//! README, Commands: CALC.GETJSON key field template and CALC.MGETJSON key template field [field ...]

mod common;

use common::{
    bulk, call, call_err, info_field, pack, register, register_with, setdict, snapshot, Server,
    PERMS, PERMS_JSON,
};
use redis::{Commands, Connection, Value};
use rmpv::Value as Mp;
use serde_json::{json, Value as Json};

fn store(con: &mut Connection, key: &str, field: &str, value: &[u8]) {
    let _: i64 = con.hset(key, field, value).unwrap();
}

/// GETJSON's reply as text (`None` for nil).
fn getjson(con: &mut Connection, key: &str, field: &str, template: &str) -> Option<String> {
    match call(
        con,
        &[
            b"CALC.GETJSON",
            key.as_bytes(),
            field.as_bytes(),
            template.as_bytes(),
        ],
    )
    .unwrap()
    {
        Value::Nil => None,
        Value::BulkString(b) => Some(String::from_utf8(b).expect("UTF-8")),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

fn parsed(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid JSON ({e}): {text}"))
}

/// The PERMS value GETDICT's tests store, as a msgpack library packs it.
fn perms_value() -> Vec<u8> {
    pack(&Mp::Array(vec![
        Mp::Boolean(true),
        Mp::Boolean(false),
        Mp::Nil,
        Mp::Array(vec![Mp::from("hi"), Mp::F64(3.9)]),
    ]))
}

#[test]
fn one_json_text_typed_and_nested_over_resp2_and_resp3() {
    let server = Server::start();
    let (mut r2, mut r3) = (server.client(), server.client_resp3());
    register(&mut r2, "perms", PERMS);
    store(&mut r2, "h", "f", &perms_value());
    let expected = r#"{"a":true,"bb":false,"ccc":null,"meta":{"x":"hi","y":3.9}}"#;
    assert_eq!(
        getjson(&mut r2, "h", "f", "perms").as_deref(),
        Some(expected)
    );
    assert_eq!(
        getjson(&mut r3, "h", "f", "perms").as_deref(),
        Some(expected)
    );
    // What SETDICT stores reads back as the same JSON value, names in template order.
    let shuffled = r#"{"meta":{"y":3.9,"x":"hi"},"bb":false,"ccc":null,"a":true}"#;
    setdict(&mut r2, "h", "perms", &[("g", shuffled)], &["100"]).unwrap();
    assert_eq!(
        getjson(&mut r2, "h", "g", "perms").as_deref(),
        Some(expected)
    );
    assert_eq!(parsed(expected), parsed(PERMS_JSON));
}

#[test]
fn numbers_are_exact() {
    let server = Server::start();
    let mut con = server.client();
    register(
        &mut con,
        "n",
        r#"["sum","big","min","max","two","f32","neg0","int"]"#,
    );
    store(
        &mut con,
        "h",
        "f",
        &pack(&Mp::Array(vec![
            Mp::F64(0.1 + 0.2),
            Mp::F64(1e308),
            Mp::from(i64::MIN),
            Mp::from(u64::MAX),
            Mp::F64(2.0),
            Mp::F32(0.1),
            Mp::F64(-0.0),
            Mp::from(7),
        ])),
    );
    let text = getjson(&mut con, "h", "f", "n").unwrap();
    assert_eq!(
        text,
        r#"{"sum":0.30000000000000004,"big":1e+308,"min":-9223372036854775808,"max":18446744073709551615,"two":2.0,"f32":0.10000000149011612,"neg0":-0.0,"int":7}"#
    );
    // Parsed back, every float is the same double and every integer exact.
    let value = parsed(&text);
    assert_eq!(value["sum"].as_f64(), Some(0.1 + 0.2));
    assert_eq!(value["big"].as_f64(), Some(1e308));
    assert_eq!(value["min"].as_i64(), Some(i64::MIN));
    assert_eq!(value["max"].as_u64(), Some(u64::MAX));
    assert!(value["two"].is_f64() && value["int"].is_u64());
    assert_eq!(value["f32"].as_f64(), Some(f64::from(0.1f32)));
}

#[test]
fn missing_key_or_field_is_nil_and_mgetjson_answers_each_field() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["n"]"#);
    for i in 0..3 {
        setdict(
            &mut con,
            "h",
            "t",
            &[(&format!("f{i}"), &format!(r#"{{"n":{i}}}"#))],
            &["100"],
        )
        .unwrap();
    }
    assert_eq!(getjson(&mut con, "nokey", "f0", "t"), None);
    assert_eq!(getjson(&mut con, "h", "nofield", "t"), None);
    let reply = call(
        &mut con,
        &[
            b"CALC.MGETJSON",
            b"h",
            b"t",
            b"f2",
            b"missing",
            b"f0",
            b"f2",
        ],
    )
    .unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![
            bulk(r#"{"n":2}"#),
            Value::Nil,
            bulk(r#"{"n":0}"#),
            bulk(r#"{"n":2}"#)
        ])
    );
    let reply = call(&mut con, &[b"CALC.MGETJSON", b"nokey", b"t", b"a", b"b"]).unwrap();
    assert_eq!(reply, Value::Array(vec![Value::Nil, Value::Nil]));
    let mut r3 = server.client_resp3();
    let reply = call(&mut r3, &[b"CALC.MGETJSON", b"h", b"t", b"f1"]).unwrap();
    assert_eq!(reply, Value::Array(vec![bulk(r#"{"n":1}"#)]));
}

#[test]
fn unknown_template_is_notemplate() {
    let server = Server::start();
    let mut con = server.client();
    store(&mut con, "h", "f", &perms_value());
    for args in [
        &[&b"CALC.GETJSON"[..], b"h", b"f", b"nope"][..],
        &[b"CALC.GETJSON", b"nokey", b"f", b"nope"],
        &[b"CALC.MGETJSON", b"h", b"nope", b"f"],
    ] {
        let err = call_err(&mut con, args);
        assert!(
            err.starts_with("NOTEMPLATE unknown template 'nope'"),
            "{err}"
        );
    }
}

#[test]
fn what_json_cannot_express_is_answered_as_documented() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["nan","inf","ninf","keys"]"#);
    store(
        &mut con,
        "h",
        "f",
        &pack(&Mp::Array(vec![
            Mp::F64(f64::NAN),
            Mp::F64(f64::INFINITY),
            Mp::F64(f64::NEG_INFINITY),
            Mp::Map(vec![
                (Mp::from(1), Mp::from("one")),
                (Mp::from(-2), Mp::Nil),
                (Mp::Nil, Mp::Boolean(true)),
                (Mp::Boolean(false), Mp::from(0)),
                (Mp::Array(vec![Mp::from(1), Mp::from("x")]), Mp::from(1)),
            ]),
        ])),
    );
    let text = getjson(&mut con, "h", "f", "t").unwrap();
    assert_eq!(
        parsed(&text),
        json!({"nan": null, "inf": null, "ninf": null,
               "keys": {"1": "one", "-2": null, "null": true, "false": 0, "[1,\"x\"]": 1}})
    );
    // Bytes that are not UTF-8 have no JSON form: a decode error naming the
    // entry, as GETDICT answers a value it cannot decode.
    register(&mut con, "b", r#"["ok","raw"]"#);
    store(
        &mut con,
        "h",
        "bin",
        &pack(&Mp::Array(vec![
            Mp::from("fine"),
            Mp::Binary(vec![0xde, 0xad, 0xbe, 0xef]),
        ])),
    );
    let err = call_err(&mut con, &[b"CALC.GETJSON", b"h", b"bin", b"b"]);
    assert_eq!(
        err,
        "ERR entry 'raw' holds bytes that are not UTF-8, which JSON cannot express (CALC.GETDICT reads them)"
    );
    let err = call_err(&mut con, &[b"CALC.MGETJSON", b"h", b"b", b"bin"]);
    assert!(
        err.starts_with("ERR field 'bin': entry 'raw' holds bytes"),
        "{err}"
    );
    assert_eq!(
        info_field(&mut con, "calc", "calc_decode_errors").unwrap(),
        "2"
    );
    // GETDICT still reads them as they are.
    let Value::Array(dict) = call(&mut con, &[b"CALC.GETDICT", b"h", b"bin", b"b"]).unwrap() else {
        panic!()
    };
    assert_eq!(dict[3], Value::BulkString(vec![0xde, 0xad, 0xbe, 0xef]));
    // Under ONMISMATCH NIL it is a miss, counted as one.
    register_with(&mut con, "b", r#"["ok","raw"]"#, &["ONMISMATCH", "NIL"]);
    assert_eq!(getjson(&mut con, "h", "bin", "b"), None);
    assert_eq!(
        info_field(&mut con, "calc", "calc_mismatches_read_as_nil").unwrap(),
        "1"
    );
}

#[test]
fn undecodable_values_follow_the_template_policy() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    store(&mut con, "h", "good", &perms_value());
    store(&mut con, "h", "short", &pack(&Mp::Array(vec![Mp::Nil; 3])));
    store(&mut con, "h", "junk", b"\x80\x04\x95");
    let before = snapshot(&mut con);
    let err = call_err(&mut con, &[b"CALC.GETJSON", b"h", b"short", b"perms"]);
    assert_eq!(
        err,
        "ERR wrong number of values for template 'perms': the template has 4, the value has 3"
    );
    let err = call_err(
        &mut con,
        &[b"CALC.MGETJSON", b"h", b"perms", b"good", b"junk", b"good"],
    );
    assert!(
        err.starts_with("ERR field 'junk': the value for template 'perms' is not a msgpack array"),
        "{err}"
    );
    // The connection stays in sync and nothing changed.
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut con).unwrap(),
        "PONG"
    );
    assert_eq!(snapshot(&mut con), before);
    assert_eq!(
        info_field(&mut con, "calc", "calc_decode_errors").unwrap(),
        "2"
    );
    register_with(&mut con, "perms", PERMS, &["ONMISMATCH", "NIL"]);
    let reply = call(
        &mut con,
        &[b"CALC.MGETJSON", b"h", b"perms", b"good", b"junk", b"short"],
    )
    .unwrap();
    let Value::Array(items) = reply else { panic!() };
    assert_eq!(items[1..], [Value::Nil, Value::Nil]);
    assert_ne!(items[0], Value::Nil);
    assert_eq!(
        info_field(&mut con, "calc", "calc_mismatches_read_as_nil").unwrap(),
        "2"
    );
    // FINGERPRINT REQUIRED: a value without one is a mismatch too.
    register_with(&mut con, "perms", PERMS, &["FINGERPRINT", "REQUIRED"]);
    let err = call_err(&mut con, &[b"CALC.GETJSON", b"h", b"good", b"perms"]);
    assert!(err.contains("carries no template fingerprint"), "{err}");
    setdict(&mut con, "h", "perms", &[("marked", PERMS_JSON)], &["100"]).unwrap();
    assert!(getjson(&mut con, "h", "marked", "perms").is_some());
}

#[test]
fn a_dogpile_header_is_skipped() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    let mut with_header = br#"{"ct": 1732531200.123, "v": 1}|"#.to_vec();
    with_header.extend(perms_value());
    store(&mut con, "h", "plain", &perms_value());
    store(&mut con, "h", "dogpile", &with_header);
    assert_eq!(
        getjson(&mut con, "h", "dogpile", "perms"),
        getjson(&mut con, "h", "plain", "perms")
    );
}

#[test]
fn wrongtype_and_arity_errors() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    let _: () = con.set("s", "x").unwrap();
    assert!(call_err(&mut con, &[b"CALC.GETJSON", b"s", b"f", b"perms"]).starts_with("WRONGTYPE"));
    assert!(call_err(&mut con, &[b"CALC.MGETJSON", b"s", b"perms", b"f"]).starts_with("WRONGTYPE"));
    for args in [
        &[&b"CALC.GETJSON"[..], b"h", b"f"][..],
        &[b"CALC.GETJSON", b"h", b"f", b"perms", b"x"],
        &[b"CALC.MGETJSON", b"h", b"perms"],
    ] {
        assert!(call_err(&mut con, args).contains("wrong number of arguments"));
    }
}

/// `{k: 1}` wrapped around `inner` `levels` times, as a map key each time.
fn keys_around(inner: Mp, levels: usize) -> Mp {
    (0..levels).fold(inner, |key, _| Mp::Map(vec![(key, Mp::from(1))]))
}

#[test]
fn keys_nested_in_keys_print_in_size_linear_in_the_value() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t3", r#"["a","b","c"]"#);
    // 26 levels of map keys around `{"x": "\"\\"}`: 61 stored bytes, whose
    // text doubled per level when each key was escaped again (640 MB).
    let inner = Mp::Map(vec![(Mp::from("x"), Mp::from("\"\\"))]);
    let value = pack(&Mp::Array(vec![
        keys_around(inner, 26),
        Mp::from(1),
        Mp::from(2),
    ]));
    assert_eq!(value.len(), 61);
    store(&mut con, "nk", "f", &value);
    let before = info_field(&mut con, "memory", "used_memory_peak").unwrap();
    let text = getjson(&mut con, "nk", "f", "t3").unwrap();
    // At most 8 bytes per stored byte, plus the names and their punctuation
    // (`{}`, and `"a":` and a comma per name: 17 bytes).
    assert!(text.len() <= 8 * value.len() + 17, "{} bytes", text.len());
    let expected_key = format!(
        "{}{{\\\"x\\\":\\\"\\\\\\\"\\\\\\\\\\\"}}{}",
        "{\\\"".repeat(25),
        "\\\":1}".repeat(25)
    );
    assert_eq!(
        text,
        format!(r#"{{"a":{{"{expected_key}":1}},"b":1,"c":2}}"#)
    );
    let json = parsed(&text);
    assert_eq!(json["b"], 1);
    // MGETJSON of the same field twice: twice the text, nothing more.
    let reply = call(&mut con, &[b"CALC.MGETJSON", b"nk", b"t3", b"f", b"f"]).unwrap();
    assert_eq!(reply, Value::Array(vec![bulk(&text), bulk(&text)]));
    let after = info_field(&mut con, "memory", "used_memory_peak").unwrap();
    let grown = after.parse::<i64>().unwrap() - before.parse::<i64>().unwrap();
    assert!(grown < 1 << 20, "peak memory grew by {grown} bytes");
}

/// A value of one entry holding `len` control characters, each printed as
/// `\u00XX`: its JSON text is about 6 times its size.
fn control_characters(len: usize) -> Vec<u8> {
    pack(&Mp::Array(vec![Mp::from("\u{1}".repeat(len))]))
}

fn peak_memory(con: &mut Connection) -> i64 {
    info_field(con, "memory", "used_memory_peak")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_reply_over_the_json_limit_is_refused_before_it_is_built() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "one", r#"["a"]"#);
    // 11 MiB stored, 66 MiB printed: over the default 64 MiB.
    store(&mut con, "h", "big", &control_characters(11 << 20));
    store(&mut con, "h", "small", &control_characters(10));
    let before = peak_memory(&mut con);
    let limit_error =
        "ERR the JSON reply would be over the limit of 67108864 bytes (calc.json-reply-max-bytes)";
    assert_eq!(
        call_err(&mut con, &[b"CALC.GETJSON", b"h", b"big", b"one"]),
        limit_error
    );
    assert_eq!(
        call_err(
            &mut con,
            &[b"CALC.MGETJSON", b"h", b"one", b"small", b"big"]
        ),
        limit_error
    );
    // Nothing the size of the text was built.
    let grown = peak_memory(&mut con) - before;
    assert!(grown < 8 << 20, "peak memory grew by {grown} bytes");
    // Not a decode error.
    assert_eq!(
        info_field(&mut con, "calc", "calc_decode_errors").unwrap(),
        "0"
    );
    assert_eq!(
        getjson(&mut con, "h", "small", "one").unwrap(),
        format!(r#"{{"a":"{}"}}"#, "\\u0001".repeat(10))
    );
}
