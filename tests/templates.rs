//! README, Commands (CALC.TEMPLATE.SET, GET, INFO, DEL, LIST) and Templates in
//! production (policies, fingerprints).

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
        .starts_with("NOTEMPLATE unknown template"));
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

/// A flat definition of `n` distinct names.
fn flat(n: usize) -> String {
    let names: Vec<String> = (0..n).map(|i| format!("name{i}")).collect();
    serde_json::to_string(&names).unwrap()
}

#[test]
fn a_definition_of_40000_names_registers_while_other_clients_are_served() {
    let server = Server::start();
    let definition = flat(40_000);
    let setter = {
        let mut con = server.client();
        let definition = definition.clone();
        std::thread::spawn(move || -> String {
            redis::cmd("CALC.TEMPLATE.SET")
                .arg("big")
                .arg(definition)
                .query(&mut con)
                .unwrap()
        })
    };
    let mut other = server.client();
    let pong: String = redis::cmd("PING").query(&mut other).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(setter.join().unwrap(), "OK");
    assert_eq!(get(&mut other, b"big").unwrap(), definition);
}

#[test]
fn oversized_definitions_are_refused_by_the_limit_they_pass() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["keep"]"#);
    // 100,000 names in under 1 MiB (short hex names): the names limit is
    // what refuses it.
    let names: Vec<String> = (0..100_000).map(|i| format!("{i:x}")).collect();
    let many = serde_json::to_string(&names).unwrap();
    assert!(many.len() < 1 << 20);
    let err = call_err(&mut con, &[b"CALC.TEMPLATE.SET", b"t", many.as_bytes()]);
    assert_eq!(
        err,
        "ERR invalid template definition: more than 65536 names, the limit for one template, all levels together (calc.template-max-names)"
    );
    // 2 MiB: refused for its size before it is read (it is not even JSON).
    let huge = vec![b'['; 2 << 20];
    let err = call_err(&mut con, &[b"CALC.TEMPLATE.SET", b"t", &huge]);
    assert_eq!(
        err,
        "ERR invalid template definition: 2097152 bytes, over the limit of 1048576 bytes for a definition (calc.template-max-bytes)"
    );
    assert_eq!(get(&mut con, b"t").unwrap(), r#"["keep"]"#);
    // At the limits: 65,536 names registers.
    register(&mut con, "t", &flat(65_536));
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

/// A value packed as the dogpile backend writes it: the template's
/// fingerprint (msgpack fixext 4, type 0x63), then the values.
fn marked(fingerprint_hex: &str, values: &[u8]) -> Vec<u8> {
    let mut out = vec![0xd6, 0x63];
    out.extend((0..4).map(|i| u8::from_str_radix(&fingerprint_hex[2 * i..2 * i + 2], 16).unwrap()));
    out.extend_from_slice(values);
    out
}

fn fingerprint(con: &mut Connection, name: &str) -> String {
    let info: Vec<Value> = redis::cmd("CALC.TEMPLATE.INFO")
        .arg(name)
        .query(con)
        .unwrap();
    match &info[7] {
        Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_template_is_its_own_error_code() {
    let server = Server::start();
    let mut con = server.client();
    for args in [
        &[&b"CALC.GETDICT"[..], b"h", b"f", b"nope"][..],
        &[b"CALC.MGETDICT", b"h", b"nope", b"f"],
    ] {
        let err = call_err(&mut con, args);
        assert!(
            err.starts_with("NOTEMPLATE unknown template 'nope'"),
            "{err}"
        );
    }
}

#[test]
fn onmismatch_nil_reads_undecodable_values_as_nil_and_counts_them() {
    let server = Server::start();
    let mut con = server.client();
    common::register_with(&mut con, "t", r#"["a","b"]"#, &["onmismatch", "nil"]);
    let _: () = con.hset("h", "good", b"\x92\xc3\xc2".as_slice()).unwrap();
    let _: () = con.hset("h", "short", b"\x91\xc3".as_slice()).unwrap();
    let _: () = con.hset("h", "junk", b"\x92\xc3".as_slice()).unwrap();
    let _: () = con
        .hset("h", "ext", b"\x92\xd4\x01\x00\xc3".as_slice())
        .unwrap();
    for field in ["short", "junk", "ext"] {
        let got = call(&mut con, &[b"CALC.GETDICT", b"h", field.as_bytes(), b"t"]).unwrap();
        assert_eq!(got, Value::Nil, "{field}");
    }
    let many = call(
        &mut con,
        &[b"CALC.MGETDICT", b"h", b"t", b"short", b"good", b"junk"],
    )
    .unwrap();
    let Value::Array(many) = many else {
        panic!("{many:?}")
    };
    assert_eq!(many[0], Value::Nil);
    assert_ne!(many[1], Value::Nil);
    assert_eq!(many[2], Value::Nil);
    let info: redis::InfoDict = redis::cmd("INFO").arg("calc").query(&mut con).unwrap();
    assert_eq!(info.get::<u64>("calc_mismatches_read_as_nil"), Some(5));
    assert_eq!(info.get::<u64>("calc_decode_errors"), Some(0));

    // ERROR (the default, and what SET without options restores).
    register(&mut con, "t", r#"["a","b"]"#);
    let err = call_err(&mut con, &[b"CALC.GETDICT", b"h", b"short", b"t"]);
    assert!(err.contains("the template has 2, the value has 1"), "{err}");
}

#[test]
fn under_error_mgetdict_names_the_undecodable_field() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["a"]"#);
    let _: () = con.hset("h", "good", b"\x91\xc3".as_slice()).unwrap();
    let _: () = con.hset("h", "bad", b"\x92\xc3\xc3".as_slice()).unwrap();
    let err = call_err(&mut con, &[b"CALC.MGETDICT", b"h", b"t", b"good", b"bad"]);
    assert!(err.starts_with("ERR field 'bad':"), "{err}");
}

#[test]
fn policy_words_are_checked_and_a_bad_set_changes_nothing() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["a"]"#);
    for options in [
        &["ONMISMATCH", "IGNORE"][..],
        &["ONMISMATCH"],
        &["FINGERPRINT", "MAYBE"],
        &["COLOR", "RED"],
    ] {
        let mut args: Vec<&[u8]> = vec![b"CALC.TEMPLATE.SET", b"t", b"[\"z\"]"];
        args.extend(options.iter().map(|o| o.as_bytes()));
        let err = call_err(&mut con, &args);
        assert!(err.starts_with("ERR syntax error"), "{options:?}: {err}");
    }
    assert_eq!(get(&mut con, b"t").unwrap(), r#"["a"]"#);
}

#[test]
fn info_shows_the_definition_policy_and_fingerprint() {
    let server = Server::start();
    let mut con = server.client();
    common::register_with(
        &mut con,
        "t",
        r#"["a","bb","ccc"]"#,
        &["FINGERPRINT", "REQUIRED", "ONMISMATCH", "NIL"],
    );
    let info: Vec<Value> = redis::cmd("CALC.TEMPLATE.INFO")
        .arg("t")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        info,
        [
            common::bulk("name"),
            common::bulk("t"),
            common::bulk("definition"),
            common::bulk(r#"["a","bb","ccc"]"#),
            common::bulk("onmismatch"),
            common::bulk("NIL"),
            common::bulk("fingerprint"),
            // SHA-256 of the definition's compact JSON, first 4 bytes.
            common::bulk("bac51ee3"),
            common::bulk("fingerprint-required"),
            Value::Int(1),
        ]
    );
    let none: Value = redis::cmd("CALC.TEMPLATE.INFO")
        .arg("nope")
        .query(&mut con)
        .unwrap();
    assert_eq!(none, Value::Nil);
}

#[test]
fn a_value_is_never_decoded_under_another_definition() {
    let server = Server::start();
    let mut con = server.client();
    let value = b"\x93\xc3\xc2\x03"; // [true, false, 3]
    register(&mut con, "old", r#"["a","bb","ccc"]"#);
    let old = fingerprint(&mut con, "old");
    let _: () = con.hset("h", "f", marked(&old, value)).unwrap();
    let got = call(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"old"]).unwrap();
    assert_eq!(
        got,
        Value::Array(vec![
            common::bulk("a"),
            Value::Int(1),
            common::bulk("bb"),
            Value::Int(0),
            common::bulk("ccc"),
            Value::Int(3),
        ])
    );
    // Reordered, renamed, replaced: same count, so the shape alone would pass.
    for definition in [
        r#"["bb","a","ccc"]"#,
        r#"["a","b","ccc"]"#,
        r#"["a","bb","admin"]"#,
    ] {
        register(&mut con, "new", definition);
        let err = call_err(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"new"]);
        assert!(
            err.contains("written under another definition"),
            "{definition}: {err}"
        );
        common::register_with(&mut con, "new", definition, &["ONMISMATCH", "NIL"]);
        let got = call(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"new"]).unwrap();
        assert_eq!(got, Value::Nil, "{definition}");
    }
    // FINGERPRINT REQUIRED: an unmarked value (whatever wrote it) is a mismatch too.
    let _: () = con.hset("h", "plain", value.as_slice()).unwrap();
    common::register_with(
        &mut con,
        "strict",
        r#"["a","bb","ccc"]"#,
        &["FINGERPRINT", "REQUIRED", "ONMISMATCH", "NIL"],
    );
    let got = call(&mut con, &[b"CALC.GETDICT", b"h", b"plain", b"strict"]).unwrap();
    assert_eq!(got, Value::Nil);
    let got = call(&mut con, &[b"CALC.GETDICT", b"h", b"f", b"strict"]).unwrap();
    assert_ne!(got, Value::Nil);
    // Without it, an unmarked value decodes by shape, as the design note writes it.
    let got = call(&mut con, &[b"CALC.GETDICT", b"h", b"plain", b"old"]).unwrap();
    assert_ne!(got, Value::Nil);
}

/// `CALC.TEMPLATE <subcommand>`: the same commands under one container, with
/// the dotted names as aliases of the same registry.
fn sub(con: &mut Connection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    let mut full: Vec<&[u8]> = vec![b"CALC.TEMPLATE"];
    full.extend_from_slice(args);
    call(con, &full)
}

#[test]
fn the_container_form_and_the_dotted_aliases_share_one_registry() {
    let server = Server::start();
    let mut con = server.client();
    assert_eq!(
        sub(
            &mut con,
            &[b"set", b"perms", PERMS.as_bytes(), b"ONMISMATCH", b"NIL"]
        )
        .unwrap(),
        Value::Okay
    );
    // Written through the container, read through the alias, and back.
    assert_eq!(get(&mut con, b"perms").unwrap(), PERMS);
    register(&mut con, "other", r#"["z"]"#);
    assert_eq!(
        sub(&mut con, &[b"GET", b"other"]).unwrap(),
        common::bulk(r#"["z"]"#)
    );
    assert_eq!(
        sub(&mut con, &[b"LIST"]).unwrap(),
        Value::Array(vec![common::bulk("other"), common::bulk("perms")])
    );
    let info = sub(&mut con, &[b"INFO", b"perms"]).unwrap();
    let Value::Array(info) = info else {
        panic!("INFO is a map (RESP2: a flat array): {info:?}")
    };
    assert_eq!(info[5], common::bulk("NIL"), "{info:?}");
    assert_eq!(sub(&mut con, &[b"del", b"other"]).unwrap(), Value::Int(1));
    assert_eq!(sub(&mut con, &[b"DEL", b"other"]).unwrap(), Value::Int(0));
    assert_eq!(list(&mut con), vec![b"perms".to_vec()]);
    assert_eq!(sub(&mut con, &[b"GET", b"other"]).unwrap(), Value::Nil);
}

#[test]
fn the_container_checks_its_subcommands_and_their_arity() {
    let server = Server::start();
    let mut con = server.client();
    let err = call_err(&mut con, &[b"CALC.TEMPLATE", b"GET"]);
    assert!(
        err.contains("wrong number of arguments for 'calc.template|get'"),
        "{err}"
    );
    let err = call_err(&mut con, &[b"CALC.TEMPLATE", b"SET", b"only-a-name"]);
    assert!(
        err.contains("wrong number of arguments for 'calc.template|set'"),
        "{err}"
    );
    let err = call_err(&mut con, &[b"CALC.TEMPLATE", b"LIST", b"extra"]);
    assert!(err.contains("wrong number of arguments"), "{err}");
    let err = call_err(&mut con, &[b"CALC.TEMPLATE", b"NOPE", b"x"]);
    assert!(err.to_lowercase().contains("unknown subcommand"), "{err}");
    let err = call_err(&mut con, &[b"CALC.TEMPLATE"]);
    assert!(err.contains("wrong number of arguments"), "{err}");
    // A refused SET through the container keeps the old definition.
    register(&mut con, "perms", r#"["a"]"#);
    let err = call_err(&mut con, &[b"CALC.TEMPLATE", b"SET", b"perms", b"[]"]);
    assert!(err.starts_with("ERR invalid template definition"), "{err}");
    let err = call_err(
        &mut con,
        &[
            b"CALC.TEMPLATE",
            b"SET",
            b"perms",
            b"[\"b\"]",
            b"ONMISMATCH",
        ],
    );
    assert!(err.starts_with("ERR syntax error"), "{err}");
    assert_eq!(get(&mut con, b"perms").unwrap(), r#"["a"]"#);
    // HELP names every subcommand.
    let Value::Array(lines) = sub(&mut con, &[b"HELP"]).unwrap() else {
        panic!("HELP is an array")
    };
    let text = format!("{lines:?}");
    for word in ["SET", "GET", "INFO", "DEL", "LIST", "HELP"] {
        assert!(text.contains(word), "HELP lacks {word}: {text}");
    }
}
