//! README, Commands: CALC.GETDICT key field template and CALC.MGETDICT key template field [field ...]

mod common;

use common::{bulk, call, call_err, pack, register, snapshot, Server, PERMS};
use redis::{Commands, Connection, Value};
use rmpv::Value as Mp;

fn getdict(
    con: &mut Connection,
    key: &str,
    field: &str,
    template: &str,
) -> redis::RedisResult<Value> {
    call(
        con,
        &[
            b"CALC.GETDICT",
            key.as_bytes(),
            field.as_bytes(),
            template.as_bytes(),
        ],
    )
}

fn store(con: &mut Connection, key: &str, field: &str, value: &[u8]) {
    let _: i64 = con.hset(key, field, value).unwrap();
}

/// The stored value for PERMS: a=true, bb=false, ccc=nil, meta={x: "hi", y: 3.9}.
fn perms_value() -> Vec<u8> {
    pack(&Mp::Array(vec![
        Mp::Boolean(true),
        Mp::Boolean(false),
        Mp::Nil,
        Mp::Array(vec![Mp::from("hi"), Mp::F64(3.9)]),
    ]))
}

fn resp2_double(v: &Value) -> f64 {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("expected a double as bulk string, got {other:?}"),
    }
}

#[test]
fn resp2_reply_is_a_flat_array_in_template_order() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    store(&mut con, "h", "f", &perms_value());
    let Value::Array(items) = getdict(&mut con, "h", "f", "perms").unwrap() else {
        panic!()
    };
    assert_eq!(items.len(), 8);
    assert_eq!(
        items[0..6],
        [
            bulk("a"),
            Value::Int(1),
            bulk("bb"),
            Value::Int(0),
            bulk("ccc"),
            Value::Nil
        ]
    );
    assert_eq!(items[6], bulk("meta"));
    let Value::Array(meta) = &items[7] else {
        panic!("{:?}", items[7])
    };
    assert_eq!(meta[0..3], [bulk("x"), bulk("hi"), bulk("y")]);
    assert_eq!(resp2_double(&meta[3]), 3.9);
}

#[test]
fn resp3_reply_is_a_map_with_native_types() {
    let server = Server::start();
    let mut con = server.client_resp3();
    register(&mut con, "perms", PERMS);
    store(&mut con, "h", "f", &perms_value());
    let reply = getdict(&mut con, "h", "f", "perms").unwrap();
    let expected = Value::Map(vec![
        (bulk("a"), Value::Boolean(true)),
        (bulk("bb"), Value::Boolean(false)),
        (bulk("ccc"), Value::Nil),
        (
            bulk("meta"),
            Value::Map(vec![
                (bulk("x"), bulk("hi")),
                (bulk("y"), Value::Double(3.9)),
            ]),
        ),
    ]);
    assert_eq!(reply, expected);
}

#[test]
fn the_design_notes_25_booleans_decode_in_order() {
    let server = Server::start();
    let mut con = server.client_resp3();
    let names: Vec<String> = (0..25).map(|i| format!("perm_{i:02}")).collect();
    register(&mut con, "p25", &serde_json::to_string(&names).unwrap());
    let flags: Vec<bool> = (0..25).map(|i| i % 3 == 0).collect();
    store(
        &mut con,
        "calculated-a|1",
        "42",
        &pack(&Mp::Array(flags.iter().map(|&b| Mp::Boolean(b)).collect())),
    );
    let reply = getdict(&mut con, "calculated-a|1", "42", "p25").unwrap();
    let expected = Value::Map(
        names
            .iter()
            .zip(&flags)
            .map(|(n, &b)| (bulk(n), Value::Boolean(b)))
            .collect(),
    );
    assert_eq!(reply, expected);
}

#[test]
fn missing_key_or_field_is_nil() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    store(&mut con, "h", "f", &perms_value());
    assert_eq!(
        getdict(&mut con, "nokey", "f", "perms").unwrap(),
        Value::Nil
    );
    assert_eq!(
        getdict(&mut con, "h", "nofield", "perms").unwrap(),
        Value::Nil
    );
}

#[test]
fn unknown_template_is_an_error_naming_it() {
    let server = Server::start();
    let mut con = server.client();
    store(&mut con, "h", "f", &perms_value());
    for key in ["h", "nokey"] {
        let err = call_err(&mut con, &[b"CALC.GETDICT", key.as_bytes(), b"f", b"nope"]);
        assert!(
            err.starts_with("NOTEMPLATE unknown template 'nope'"),
            "{err}"
        );
    }
}

#[test]
fn every_msgpack_type_maps_to_its_reply_type() {
    let server = Server::start();
    let mut r3 = server.client_resp3();
    let mut r2 = server.client();
    register(
        &mut r3,
        "t",
        r#"["big","min","neg","f32","f64","str","bin","arr","map"]"#,
    );
    let value = Mp::Array(vec![
        Mp::from(u64::MAX),
        Mp::from(i64::MIN),
        Mp::from(-1),
        Mp::F32(0.5),
        Mp::F64(-1e300),
        Mp::from("s\u{e9}"),
        Mp::Binary(vec![0, 255]),
        Mp::Array(vec![Mp::from(1), Mp::Nil, Mp::Boolean(true)]),
        Mp::Map(vec![(Mp::from("k"), Mp::from(2))]),
    ]);
    store(&mut r3, "h", "f", &pack(&value));

    let Value::Map(pairs) = getdict(&mut r3, "h", "f", "t").unwrap() else {
        panic!()
    };
    let values: Vec<Value> = pairs.into_iter().map(|(_, v)| v).collect();
    assert_eq!(values[0], Value::BigNumber(u64::MAX.into()));
    assert_eq!(values[1], Value::Int(i64::MIN));
    assert_eq!(values[2], Value::Int(-1));
    assert_eq!(values[3], Value::Double(0.5));
    assert_eq!(values[4], Value::Double(-1e300));
    assert_eq!(values[5], Value::BulkString("s\u{e9}".as_bytes().to_vec()));
    assert_eq!(values[6], Value::BulkString(vec![0, 255]));
    assert_eq!(
        values[7],
        Value::Array(vec![Value::Int(1), Value::Nil, Value::Boolean(true)])
    );
    assert_eq!(values[8], Value::Map(vec![(bulk("k"), Value::Int(2))]));

    let Value::Array(flat) = getdict(&mut r2, "h", "f", "t").unwrap() else {
        panic!()
    };
    let values: Vec<&Value> = flat.iter().skip(1).step_by(2).collect();
    assert_eq!(*values[0], bulk("18446744073709551615"));
    assert_eq!(resp2_double(values[3]), 0.5);
    assert_eq!(resp2_double(values[4]), -1e300);
    assert_eq!(
        *values[7],
        Value::Array(vec![Value::Int(1), Value::Nil, Value::Int(1)])
    );
    assert_eq!(*values[8], Value::Array(vec![bulk("k"), Value::Int(2)]));
}

#[test]
fn floats_keep_their_value() {
    let server = Server::start();
    let mut con = server.client_resp3();
    register(&mut con, "t", r#"["a","b","c"]"#);
    store(
        &mut con,
        "h",
        "f",
        &pack(&Mp::Array(vec![
            Mp::F64(3.9),
            Mp::F64(-0.1),
            Mp::F64(1e-300),
        ])),
    );
    let Value::Map(pairs) = getdict(&mut con, "h", "f", "t").unwrap() else {
        panic!()
    };
    let got: Vec<Value> = pairs.into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        got,
        [
            Value::Double(3.9),
            Value::Double(-0.1),
            Value::Double(1e-300)
        ]
    );
}

#[test]
fn dogpile_serialized_values_decode_the_same() {
    let server = Server::start();
    let mut con = server.client_resp3();
    register(&mut con, "perms", PERMS);
    let mut with_header = br#"{"ct": 1732531200.123, "v": 1}|"#.to_vec();
    with_header.extend(perms_value());
    store(&mut con, "h", "plain", &perms_value());
    store(&mut con, "h", "dogpile", &with_header);
    assert_eq!(
        getdict(&mut con, "h", "dogpile", "perms").unwrap(),
        getdict(&mut con, "h", "plain", "perms").unwrap()
    );
}

#[test]
fn undecodable_values_are_named_errors_and_counted() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    let good = perms_value();
    // A million nested one-element arrays in the first entry.
    let mut deep = vec![0x94];
    deep.extend(std::iter::repeat_n(0x91, 1_000_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not an array",
            pack(&Mp::from("text")),
            "is not a msgpack array",
        ),
        (
            "pickled",
            b"\x80\x04\x95".to_vec(),
            "is not a msgpack array",
        ),
        (
            "too few",
            pack(&Mp::Array(vec![Mp::Nil; 3])),
            "the template has 4, the value has 3",
        ),
        (
            "too many",
            pack(&Mp::Array(vec![Mp::Nil; 5])),
            "the template has 4, the value has 5",
        ),
        (
            "nested count",
            pack(&Mp::Array(vec![
                Mp::Nil,
                Mp::Nil,
                Mp::Nil,
                Mp::Array(vec![Mp::Nil]),
            ])),
            "for entry 'meta': the template has 2, the value has 1",
        ),
        (
            "nested not array",
            pack(&Mp::Array(vec![Mp::Nil, Mp::Nil, Mp::Nil, Mp::from(1)])),
            "the value for entry 'meta' is not a msgpack array",
        ),
        (
            "truncated",
            good[..good.len() - 3].to_vec(),
            "malformed msgpack",
        ),
        (
            "trailing",
            [good.clone(), vec![0xc0]].concat(),
            "trailing bytes",
        ),
        (
            "reserved",
            vec![0x94, 0xc1, 0xc0, 0xc0, 0x92, 0xc0, 0xc0],
            "malformed msgpack",
        ),
        (
            "extension",
            pack(&Mp::Array(vec![
                Mp::Ext(1, vec![0; 4]),
                Mp::Nil,
                Mp::Nil,
                Mp::Array(vec![Mp::Nil, Mp::Nil]),
            ])),
            "extension types are not supported",
        ),
        ("too deep", deep, "nesting deeper than"),
        ("bad dogpile header", b"{\"ct\": 1}".to_vec(), "dogpile"),
        ("empty", Vec::new(), "malformed msgpack"),
    ];
    for (i, (what, value, expected)) in cases.iter().enumerate() {
        store(&mut con, "h", &format!("f{i}"), value);
        let field = format!("f{i}");
        let err = call_err(
            &mut con,
            &[b"CALC.GETDICT", b"h", field.as_bytes(), b"perms"],
        );
        assert!(
            err.starts_with("ERR ") && err.contains(expected),
            "{what}: {err}"
        );
    }
    let info: redis::InfoDict = redis::cmd("INFO").arg("calc").query(&mut con).unwrap();
    assert_eq!(
        info.get::<u64>("calc_decode_errors"),
        Some(cases.len() as u64)
    );
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut con).unwrap(),
        "PONG"
    );
}

#[test]
fn wrongtype_and_arity_errors() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    let _: () = con.set("s", "x").unwrap();
    assert!(call_err(&mut con, &[b"CALC.GETDICT", b"s", b"f", b"perms"]).starts_with("WRONGTYPE"));
    assert!(call_err(&mut con, &[b"CALC.MGETDICT", b"s", b"perms", b"f"]).starts_with("WRONGTYPE"));
    for args in [
        &[&b"CALC.GETDICT"[..], b"h", b"f"][..],
        &[b"CALC.GETDICT", b"h", b"f", b"perms", b"x"],
        &[b"CALC.MGETDICT", b"h", b"perms"],
    ] {
        assert!(call_err(&mut con, args).contains("wrong number of arguments"));
    }
}

#[test]
fn mgetdict_answers_each_field_in_order() {
    let server = Server::start();
    let mut con = server.client_resp3();
    register(&mut con, "t", r#"["n"]"#);
    for i in 0..5 {
        store(
            &mut con,
            "h",
            &format!("f{i}"),
            &pack(&Mp::Array(vec![Mp::from(i)])),
        );
    }
    let reply = call(
        &mut con,
        &[
            b"CALC.MGETDICT",
            b"h",
            b"t",
            b"f3",
            b"missing",
            b"f0",
            b"f3",
        ],
    )
    .unwrap();
    let one = |i: i64| Value::Map(vec![(bulk("n"), Value::Int(i))]);
    assert_eq!(
        reply,
        Value::Array(vec![one(3), Value::Nil, one(0), one(3)])
    );
    let reply = call(&mut con, &[b"CALC.MGETDICT", b"nokey", b"t", b"a", b"b"]).unwrap();
    assert_eq!(reply, Value::Array(vec![Value::Nil, Value::Nil]));
    // Each field gives what GETDICT gives.
    let single = call(&mut con, &[b"CALC.GETDICT", b"h", b"f3", b"t"]).unwrap();
    assert_eq!(single, one(3));
}

#[test]
fn mgetdict_fails_whole_when_one_field_is_undecodable() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["n"]"#);
    store(&mut con, "h", "good", &pack(&Mp::Array(vec![Mp::from(1)])));
    store(
        &mut con,
        "h",
        "bad",
        &pack(&Mp::Array(vec![Mp::from(1), Mp::from(2)])),
    );
    let before = snapshot(&mut con);
    let err = call_err(
        &mut con,
        &[b"CALC.MGETDICT", b"h", b"t", b"good", b"bad", b"good"],
    );
    assert!(err.contains("the template has 1, the value has 2"), "{err}");
    assert!(
        call_err(&mut con, &[b"CALC.MGETDICT", b"h", b"nope", b"good"])
            .starts_with("NOTEMPLATE unknown template")
    );
    // The connection is still in sync: the next reply is the next command's.
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut con).unwrap(),
        "PONG"
    );
    assert_eq!(snapshot(&mut con), before);
}
