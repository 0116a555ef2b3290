//! README, Commands: CALC.GETVALUES key field template name [name ...]

mod common;

use common::{
    bulk, call, call_err, info_field, pack, register, register_with, setdict, Server, PERMS,
    PERMS_JSON,
};
use redis::{Commands, Connection, Value};
use rmpv::Value as Mp;

fn getvalues(
    con: &mut Connection,
    key: &str,
    field: &str,
    names: &[&str],
) -> redis::RedisResult<Value> {
    let mut args: Vec<&[u8]> = vec![
        b"CALC.GETVALUES",
        key.as_bytes(),
        field.as_bytes(),
        b"perms",
    ];
    args.extend(names.iter().map(|n| n.as_bytes()));
    call(con, &args)
}

fn seeded(server: &Server) -> Connection {
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    setdict(&mut con, "h", "perms", &[("f", PERMS_JSON)], &["100"]).unwrap();
    con
}

#[test]
fn the_named_entries_in_the_order_asked_typed_as_getdict_types_them() {
    let server = Server::start();
    let mut r2 = seeded(&server);
    let mut r3 = server.client_resp3();
    // The permission check: one name.
    assert_eq!(
        getvalues(&mut r3, "h", "f", &["a"]).unwrap(),
        Value::Array(vec![Value::Boolean(true)])
    );
    assert_eq!(
        getvalues(&mut r2, "h", "f", &["a"]).unwrap(),
        Value::Array(vec![Value::Int(1)])
    );
    // Several, out of template order, repeated; a sub-template entry is its map.
    let meta3 = Value::Map(vec![
        (bulk("x"), bulk("hi")),
        (bulk("y"), Value::Double(3.9)),
    ]);
    assert_eq!(
        getvalues(&mut r3, "h", "f", &["meta", "ccc", "bb", "a", "bb"]).unwrap(),
        Value::Array(vec![
            meta3.clone(),
            Value::Nil,
            Value::Boolean(false),
            Value::Boolean(true),
            Value::Boolean(false),
        ])
    );
    let Value::Array(items) = getvalues(&mut r2, "h", "f", &["meta", "bb"]).unwrap() else {
        panic!()
    };
    assert_eq!(items[1], Value::Int(0));
    let Value::Array(meta2) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(meta2[..3], [bulk("x"), bulk("hi"), bulk("y")]);
    // Each value is what GETDICT gives for that name.
    let Value::Map(dict) = call(&mut r3, &[b"CALC.GETDICT", b"h", b"f", b"perms"]).unwrap() else {
        panic!()
    };
    assert_eq!(dict[3].1, meta3);
}

#[test]
fn every_msgpack_type_comes_back_typed() {
    let server = Server::start();
    let mut r3 = server.client_resp3();
    register(&mut r3, "perms", r#"["big","neg","f","s","arr","map"]"#);
    let value = Mp::Array(vec![
        Mp::from(u64::MAX),
        Mp::from(i64::MIN),
        Mp::F64(0.1 + 0.2),
        Mp::from("s\u{e9}"),
        Mp::Array(vec![Mp::from(1), Mp::Nil]),
        Mp::Map(vec![(Mp::from("k"), Mp::from(2))]),
    ]);
    let _: i64 = r3.hset("h", "f", pack(&value)).unwrap();
    assert_eq!(
        getvalues(&mut r3, "h", "f", &["map", "arr", "s", "f", "neg", "big"]).unwrap(),
        Value::Array(vec![
            Value::Map(vec![(bulk("k"), Value::Int(2))]),
            Value::Array(vec![Value::Int(1), Value::Nil]),
            bulk("s\u{e9}"),
            Value::Double(0.1 + 0.2),
            Value::Int(i64::MIN),
            Value::BigNumber(u64::MAX.into()),
        ])
    );
}

#[test]
fn a_name_the_template_lacks_is_an_error_before_any_data_is_read() {
    let server = Server::start();
    let mut con = seeded(&server);
    let _: () = con.set("s", "x").unwrap();
    let _: i64 = con.hset("h", "junk", "not msgpack").unwrap();
    // Whatever the key holds, even nothing or another type.
    for (key, field) in [("h", "f"), ("h", "junk"), ("nokey", "f"), ("s", "f")] {
        let err = getvalues(&mut con, key, field, &["a", "x"]).unwrap_err();
        assert_eq!(err.code(), Some("ERR"));
        assert_eq!(
            err.detail(),
            Some("template 'perms' has no name 'x'"),
            "{key}"
        );
    }
    // Names are top-level names: a nested one is not one.
    let err = getvalues(&mut con, "h", "f", &["meta.x"]).unwrap_err();
    assert_eq!(err.detail(), Some("template 'perms' has no name 'meta.x'"));
    // Not a decode error.
    assert_eq!(
        info_field(&mut con, "calc", "calc_decode_errors").unwrap(),
        "0"
    );
}

#[test]
fn missing_values_and_mismatches() {
    let server = Server::start();
    let mut con = seeded(&server);
    assert_eq!(
        getvalues(&mut con, "nokey", "f", &["a"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        getvalues(&mut con, "h", "nofield", &["a"]).unwrap(),
        Value::Nil
    );
    // The whole value must decode, not only the entries asked for.
    let bad = pack(&Mp::Array(vec![
        Mp::Boolean(true),
        Mp::Nil,
        Mp::Nil,
        Mp::Array(vec![Mp::Nil]),
    ]));
    let _: i64 = con.hset("h", "bad", bad).unwrap();
    let err = getvalues(&mut con, "h", "bad", &["a"]).unwrap_err();
    assert_eq!(
        err.detail(),
        Some("wrong number of values for entry 'meta': the template has 2, the value has 1")
    );
    assert_eq!(
        info_field(&mut con, "calc", "calc_decode_errors").unwrap(),
        "1"
    );
    register_with(&mut con, "perms", PERMS, &["ONMISMATCH", "NIL"]);
    assert_eq!(getvalues(&mut con, "h", "bad", &["a"]).unwrap(), Value::Nil);
    assert_eq!(
        info_field(&mut con, "calc", "calc_mismatches_read_as_nil").unwrap(),
        "1"
    );
    // A fingerprint of another definition, under the default policy.
    register(&mut con, "perms", r#"["a","bb","ccc",["meta",["y","x"]]]"#);
    let err = getvalues(&mut con, "h", "f", &["a"]).unwrap_err();
    assert!(
        err.detail()
            .unwrap()
            .contains("written under another definition"),
        "{err}"
    );
}

#[test]
fn notemplate_wrongtype_and_arity() {
    let server = Server::start();
    let mut con = seeded(&server);
    let _: () = con.set("s", "x").unwrap();
    let err = call_err(&mut con, &[b"CALC.GETVALUES", b"h", b"f", b"nope", b"a"]);
    assert!(
        err.starts_with("NOTEMPLATE unknown template 'nope'"),
        "{err}"
    );
    let err = getvalues(&mut con, "s", "f", &["a"]).unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    let err = call_err(&mut con, &[b"CALC.GETVALUES", b"h", b"f", b"perms"]);
    assert!(
        err.contains("wrong number of arguments for 'calc.getvalues'"),
        "{err}"
    );
}
