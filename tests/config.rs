//! README, Configuration: the limits as module configs (`calc.*`), set at
//! load and with CONFIG SET, read by the commands at once.

mod common;

use common::{bulk, call, call_err, pack, register, Server};
use redis::{Commands, Connection, Value};
use rmpv::Value as Mp;

fn config_get(con: &mut Connection, name: &str) -> String {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(con)
        .unwrap();
    assert_eq!(pair.len(), 2, "{pair:?}");
    pair[1].clone()
}

fn config_set(con: &mut Connection, name: &str, value: &str) -> redis::RedisResult<()> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
}

const DEFAULTS: [(&str, &str); 4] = [
    ("calc.template-max-bytes", "1048576"),
    ("calc.template-max-names", "65536"),
    ("calc.template-max-depth", "32"),
    ("calc.json-reply-max-bytes", "67108864"),
];

#[test]
fn defaults_round_trips_and_bounds() {
    let server = Server::start();
    let mut con = server.client();
    for (name, default) in DEFAULTS {
        assert_eq!(config_get(&mut con, name), default, "{name}");
    }
    config_set(&mut con, "calc.template-max-depth", "8").unwrap();
    assert_eq!(config_get(&mut con, "calc.template-max-depth"), "8");
    // Sizes take units, as maxmemory does.
    config_set(&mut con, "calc.json-reply-max-bytes", "2mb").unwrap();
    assert_eq!(config_get(&mut con, "calc.json-reply-max-bytes"), "2097152");
    for (name, bad) in [
        ("calc.template-max-bytes", "0"),
        ("calc.template-max-names", "-1"),
        ("calc.template-max-depth", "65"),
        ("calc.template-max-names", "abc"),
        ("calc.json-reply-max-bytes", "0"),
        ("calc.json-reply-max-bytes", "5gb"),
        ("calc.template-max-bytes", "65mb"),
    ] {
        let err = config_set(&mut con, name, bad).unwrap_err();
        let text = format!(
            "{} {}",
            err.code().unwrap_or(""),
            err.detail().unwrap_or("")
        );
        assert!(
            text.starts_with("ERR ") && text.contains(name) && text.contains("argument"),
            "{name} {bad}: {text}"
        );
    }
    // A refused value changed nothing.
    assert_eq!(config_get(&mut con, "calc.template-max-depth"), "8");
    assert_eq!(config_get(&mut con, "calc.json-reply-max-bytes"), "2097152");
    // INFO calc has no new fields.
    let info: String = redis::cmd("INFO").arg("calc").query(&mut con).unwrap();
    assert!(!info.contains("max"), "{info}");
}

fn template_set(con: &mut Connection, definition: &[u8]) -> Result<(), String> {
    match call(con, &[b"CALC.TEMPLATE", b"SET", b"t", definition]) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{} {}",
            e.code().unwrap_or(""),
            e.detail().unwrap_or("")
        )),
    }
}

#[test]
fn template_limits_lowered_refuse_and_raised_accept() {
    let server = Server::start();
    let mut con = server.client();
    let three = br#"["a","b",["c",["d"]]]"#;
    template_set(&mut con, three).unwrap();
    config_set(&mut con, "calc.template-max-names", "3").unwrap();
    assert_eq!(
        template_set(&mut con, three).unwrap_err(),
        "ERR invalid template definition: more than 3 names, the limit for one template, all levels together (calc.template-max-names)"
    );
    config_set(&mut con, "calc.template-max-depth", "1").unwrap();
    assert_eq!(
        template_set(&mut con, br#"["a",["c",["d"]]]"#).unwrap_err(),
        "ERR invalid template definition: nested deeper than 1 levels (calc.template-max-depth)"
    );
    config_set(&mut con, "calc.template-max-bytes", "10").unwrap();
    assert_eq!(
        template_set(&mut con, br#"["a","b"]  "#).unwrap_err(),
        "ERR invalid template definition: 11 bytes, over the limit of 10 bytes for a definition (calc.template-max-bytes)"
    );
    // Raised past the defaults: a 1.5 MiB definition 40 levels deep.
    config_set(&mut con, "calc.template-max-bytes", "2mb").unwrap();
    config_set(&mut con, "calc.template-max-names", "100000").unwrap();
    config_set(&mut con, "calc.template-max-depth", "64").unwrap();
    let mut deep = String::from(r#"["leaf"]"#);
    for _ in 1..40 {
        deep = format!(r#"[["n",{deep}]]"#);
    }
    let mut big = deep.into_bytes();
    big.resize(3 << 19, b' ');
    template_set(&mut con, &big).unwrap();
    // The template registered under raised limits still decodes values.
    let value = (1..40).fold(Mp::Array(vec![Mp::from(7)]), |v, _| Mp::Array(vec![v]));
    let _: i64 = con.hset("h", "f", pack(&value)).unwrap();
    let json = call(&mut con, &[b"CALC.GETJSON", b"h", b"f", b"t"]).unwrap();
    let Value::BulkString(json) = json else {
        panic!("{json:?}")
    };
    let expected = format!(r#"{}{{"leaf":7}}{}"#, r#"{"n":"#.repeat(39), "}".repeat(39));
    assert_eq!(String::from_utf8(json).unwrap(), expected);
}

#[test]
fn configs_given_at_load() {
    let server = Server::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--calc.template-max-depth",
        "2",
        "--calc.json-reply-max-bytes",
        "1kb",
    ]);
    let mut con = server.client();
    assert_eq!(config_get(&mut con, "calc.template-max-depth"), "2");
    assert_eq!(config_get(&mut con, "calc.json-reply-max-bytes"), "1024");
    assert_eq!(config_get(&mut con, "calc.template-max-names"), "65536");
    template_set(&mut con, br#"["a",["m",["x"]]]"#).unwrap();
    assert!(template_set(&mut con, br#"["a",["m",[["y",["z"]]]]]"#)
        .unwrap_err()
        .contains("nested deeper than 2 levels (calc.template-max-depth)"));
}

#[test]
fn the_json_reply_limit_counts_every_field_each_time_it_is_named() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "one", r#"["a"]"#);
    // `{"a":"xxxx..."}`: 8 + 50 = 58 bytes of JSON.
    let _: i64 = con
        .hset("h", "f", pack(&Mp::Array(vec![Mp::from("x".repeat(50))])))
        .unwrap();
    let text = format!(r#"{{"a":"{}"}}"#, "x".repeat(50));
    assert_eq!(text.len(), 58);
    config_set(&mut con, "calc.json-reply-max-bytes", "116").unwrap();
    let reply = call(
        &mut con,
        &[b"CALC.MGETJSON", b"h", b"one", b"f", b"nofield", b"f"],
    )
    .unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![bulk(&text), Value::Nil, bulk(&text)])
    );
    let refused =
        "ERR the JSON reply would be over the limit of 116 bytes (calc.json-reply-max-bytes)";
    assert_eq!(
        call_err(
            &mut con,
            &[b"CALC.MGETJSON", b"h", b"one", b"f", b"f", b"f"]
        ),
        refused
    );
    config_set(&mut con, "calc.json-reply-max-bytes", "57").unwrap();
    assert_eq!(
        call_err(&mut con, &[b"CALC.GETJSON", b"h", b"f", b"one"]),
        "ERR the JSON reply would be over the limit of 57 bytes (calc.json-reply-max-bytes)"
    );
    config_set(&mut con, "calc.json-reply-max-bytes", "58").unwrap();
    assert_eq!(
        call(&mut con, &[b"CALC.GETJSON", b"h", b"f", b"one"]).unwrap(),
        bulk(&text)
    );
    // Missing fields print nothing.
    config_set(&mut con, "calc.json-reply-max-bytes", "1").unwrap();
    assert_eq!(
        call(&mut con, &[b"CALC.MGETJSON", b"h", b"one", b"x", b"y"]).unwrap(),
        Value::Array(vec![Value::Nil, Value::Nil])
    );
}
