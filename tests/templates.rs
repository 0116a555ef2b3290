//! Spec: CALC.TEMPLATE.SET name definition | GET name | DEL name | LIST

mod common;

use common::{call, call_err, register, Server, PERMS};
use redis::{Commands, Connection, Value};

fn get(con: &mut Connection, name: &[u8]) -> Option<String> {
    redis::cmd("CALC.TEMPLATE.GET")
        .arg(name)
        .query(con)
        .unwrap()
}

fn list(con: &mut Connection) -> Vec<Vec<u8>> {
    redis::cmd("CALC.TEMPLATE.LIST").query(con).unwrap()
}

#[test]
fn set_get_round_trips_as_compact_json() {
    let server = Server::start();
    let mut con = server.client();
    register(
        &mut con,
        "perms",
        "[ \"a\", \"bb\",\n \"ccc\", [\"meta\", [\"x\", \"y\"]] ]",
    );
    let json = get(&mut con, b"perms").unwrap();
    assert_eq!(json, PERMS);
    // What GET returns is a valid definition that gives the same template back.
    register(&mut con, "copy", &json);
    assert_eq!(get(&mut con, b"copy").unwrap(), json);
    assert_eq!(get(&mut con, b"missing"), None);
}

#[test]
fn set_replaces_and_decoding_uses_the_new_definition() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["a"]"#);
    register(&mut con, "t", r#"["b","c"]"#);
    assert_eq!(get(&mut con, b"t").unwrap(), r#"["b","c"]"#);
    assert_eq!(list(&mut con), [b"t".to_vec()]);
    let _: i64 = con.hset("h", "f", &[0x92u8, 0x01, 0x02][..]).unwrap();
    let reply = call(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"t"]).unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![
            common::bulk("b"),
            Value::Int(1),
            common::bulk("c"),
            Value::Int(2)
        ])
    );
}

#[test]
fn del_answers_whether_it_removed() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["a"]"#);
    assert_eq!(
        redis::cmd("CALC.TEMPLATE.DEL")
            .arg("t")
            .query::<i64>(&mut con)
            .unwrap(),
        1
    );
    assert_eq!(
        redis::cmd("CALC.TEMPLATE.DEL")
            .arg("t")
            .query::<i64>(&mut con)
            .unwrap(),
        0
    );
    assert_eq!(get(&mut con, b"t"), None);
    assert!(call_err(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"t"])
        .starts_with("ERR unknown template"));
}

#[test]
fn list_is_sorted_and_names_are_binary_safe() {
    let server = Server::start();
    let mut con = server.client();
    for name in [&b"zeta"[..], b"alpha", b"\x00bin\xff", b"Mid"] {
        let ok: String = redis::cmd("CALC.TEMPLATE.SET")
            .arg(name)
            .arg(r#"["a"]"#)
            .query(&mut con)
            .unwrap();
        assert_eq!(ok, "OK");
    }
    assert_eq!(
        list(&mut con),
        [
            b"\x00bin\xff".to_vec(),
            b"Mid".to_vec(),
            b"alpha".to_vec(),
            b"zeta".to_vec()
        ]
    );
    assert_eq!(get(&mut con, b"\x00bin\xff").unwrap(), r#"["a"]"#);
    let info: redis::InfoDict = redis::cmd("INFO").arg("calc").query(&mut con).unwrap();
    assert_eq!(info.get::<u64>("calc_templates"), Some(4));
}

#[test]
fn invalid_definitions_are_refused_and_keep_the_old_one() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["keep"]"#);
    let deep = format!("{}\"x\"{}", "[[\"n\",".repeat(40), "]]".repeat(40));
    for def in [
        "[]",
        r#"["a","a"]"#,
        r#"["a",["m",["x","x"]]]"#,
        "[1]",
        "[null]",
        r#"[["m",[]]]"#,
        r#"[["m"]]"#,
        r#"{"a":1}"#,
        "not json",
        "",
        deep.as_str(),
    ] {
        let err = call_err(&mut con, &[b"CALC.TEMPLATE.SET", b"t", def.as_bytes()]);
        assert!(
            err.starts_with("ERR invalid template definition"),
            "{def}: {err}"
        );
    }
    assert_eq!(get(&mut con, b"t").unwrap(), r#"["keep"]"#);
}

#[test]
fn flushall_leaves_templates() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["a"]"#);
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    assert_eq!(list(&mut con), [b"t".to_vec()]);
}

#[test]
fn templates_survive_save_and_restart() {
    let server = Server::start_with(&["--appendonly", "no"]);
    let mut con = server.client();
    register(&mut con, "perms", PERMS);
    register(&mut con, "other", r#"["x"]"#);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let dir = server.kill();
    let server = Server::start_in(dir, &["--appendonly", "no"]);
    let mut con = server.client();
    assert_eq!(list(&mut con), [b"other".to_vec(), b"perms".to_vec()]);
    assert_eq!(get(&mut con, b"perms").unwrap(), PERMS);
}

#[test]
fn wrong_arity() {
    let server = Server::start();
    let mut con = server.client();
    for args in [
        &[&b"CALC.TEMPLATE.SET"[..], b"t"][..],
        &[b"CALC.TEMPLATE.GET"],
        &[b"CALC.TEMPLATE.DEL", b"a", b"b"],
        &[b"CALC.TEMPLATE.LIST", b"x"],
    ] {
        assert!(call_err(&mut con, args).contains("wrong number of arguments"));
    }
}
