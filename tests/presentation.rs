//! README, Security (ACL, as for native commands): exact arity, key specs,
//! docs, ACL categories where the server lets a module set them, and ACL rules
//! that behave for CALC commands as they do for HSET and HGET.

mod common;

use common::{call, call_err, pack, register, server_version, snapshot, user, Server};
use redis::{Connection, Value};
use rmpv::Value as Mp;

fn text(v: &Value) -> String {
    match v {
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        other => panic!("not a list: {other:?}"),
    }
}

/// The value after `key` in a flat `key, value, ...` reply (or a RESP3 map).
fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .find(|kv| text(&kv[0]) == key)
            .map(|kv| &kv[1])
            .unwrap_or_else(|| panic!("no {key} in {v:?}")),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| text(k) == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {v:?}")),
        other => panic!("not a map: {other:?}"),
    }
}

fn command_info(con: &mut Connection, name: &str) -> Vec<Value> {
    let reply: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg(name)
        .query(con)
        .unwrap();
    match reply {
        Value::Array(mut outer) => match outer.remove(0) {
            Value::Array(info) => info,
            other => panic!("{name} unknown: {other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// Whether the server lets a module set ACL categories (Redis 7.2+, Valkey),
/// and add its own (Redis 7.4+, Valkey 8).
fn category_support(con: &mut Connection) -> (bool, bool) {
    let valkey = common::info_field(con, "server", "valkey_version").is_some();
    let version = server_version(con);
    (version >= (7, 2), valkey || version >= (7, 4))
}

const ALL: [&str; 14] = [
    "calc.hsetex",
    "calc.a2bset",
    "calc.getdict",
    "calc.mgetdict",
    "calc.setdict",
    "calc.getjson",
    "calc.mgetjson",
    "calc.getvalues",
    "calc.purgea",
    "calc.template.set",
    "calc.template.get",
    "calc.template.info",
    "calc.template.del",
    "calc.template.list",
];

#[test]
fn arity_is_exact_and_checked_by_redis() {
    let server = Server::start();
    let mut con = server.client();
    let expected = [-5, -7, 4, -4, -6, 4, -4, -5, -4, -3, 2, 2, 2, 1];
    for (name, arity) in ALL.iter().zip(expected) {
        assert_eq!(command_info(&mut con, name)[1], Value::Int(arity), "{name}");
    }
    // Redis answers a short call before the command runs, as for HSET.
    let err = call_err(&mut con, &[b"CALC.HSETEX", b"k", b"f", b"10"]);
    assert!(
        err.contains("wrong number of arguments for 'calc.hsetex'"),
        "{err}"
    );
    let err = call_err(&mut con, &[b"CALC.GETDICT", b"k", b"f"]);
    assert!(
        err.contains("wrong number of arguments for 'calc.getdict'"),
        "{err}"
    );
}

#[test]
fn key_specs_say_how_each_key_is_used() {
    let server = Server::start();
    let mut con = server.client();
    let flags_of = |con: &mut Connection, name: &str| -> Vec<Vec<String>> {
        let info = command_info(con, name);
        match &info[8] {
            Value::Array(specs) => specs.iter().map(|s| texts(field(s, "flags"))).collect(),
            other => panic!("{other:?}"),
        }
    };
    let hset = flags_of(&mut con, "hset");
    assert_eq!(
        flags_of(&mut con, "calc.hsetex"),
        hset,
        "as HSET declares its key"
    );
    assert_eq!(
        flags_of(&mut con, "calc.a2bset"),
        [hset[0].clone(), hset[0].clone()]
    );
    assert_eq!(flags_of(&mut con, "calc.getdict"), [["RO", "access"]]);
    assert_eq!(flags_of(&mut con, "calc.mgetdict"), [["RO", "access"]]);
    assert_eq!(
        flags_of(&mut con, "calc.setdict"),
        hset,
        "as HSET declares its key"
    );
    for reader in ["calc.getjson", "calc.mgetjson", "calc.getvalues"] {
        assert_eq!(flags_of(&mut con, reader), [["RO", "access"]], "{reader}");
    }
    assert_eq!(
        flags_of(&mut con, "calc.purgea"),
        [["RW", "access", "delete"]]
    );
    assert!(flags_of(&mut con, "calc.template.set").is_empty());
}

#[test]
fn command_getkeys_refuses_a_short_call_as_for_hset() {
    let server = Server::start();
    let mut con = server.client();
    for args in [
        &["HSET", "k"][..],
        &["CALC.HSETEX", "k"],
        &["CALC.A2BSET", "a", "b"],
    ] {
        let err = redis::cmd("COMMAND")
            .arg("GETKEYS")
            .arg(args)
            .query::<Value>(&mut con)
            .unwrap_err();
        assert!(
            err.to_string().contains("Invalid number of arguments"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn docs_give_summary_since_complexity_and_arguments() {
    let server = Server::start();
    let mut con = server.client();
    for name in ALL {
        let reply: Value = redis::cmd("COMMAND")
            .arg("DOCS")
            .arg(name)
            .query(&mut con)
            .unwrap();
        let docs = field(&reply, name);
        for key in ["summary", "since", "complexity"] {
            assert!(!text(field(docs, key)).is_empty(), "{name} {key}");
        }
        assert_eq!(text(field(docs, "group")), "module", "{name}");
    }
    let reply: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("calc.hsetex")
        .query(&mut con)
        .unwrap();
    let Value::Array(args) = field(field(&reply, "calc.hsetex"), "arguments") else {
        panic!("{reply:?}")
    };
    let names: Vec<String> = args.iter().map(|a| text(field(a, "name"))).collect();
    assert_eq!(names, ["key", "data", "expiration"]);
    assert_eq!(text(field(&args[0], "type")), "key");
    assert_eq!(text(field(&args[1], "type")), "block");
    assert!(texts(field(&args[1], "flags")).contains(&"multiple".to_string()));
    assert_eq!(text(field(&args[2], "type")), "oneof");
    let Value::Array(expiration) = field(&args[2], "arguments") else {
        panic!("{reply:?}")
    };
    assert_eq!(text(field(&expiration[0], "type")), "integer");
    assert_eq!(text(field(&expiration[1], "type")), "unix-time");
    assert_eq!(text(field(&expiration[1], "token")), "PXAT");

    let reply: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("calc.template.set")
        .query(&mut con)
        .unwrap();
    let Value::Array(args) = field(field(&reply, "calc.template.set"), "arguments") else {
        panic!("{reply:?}")
    };
    let policy = &args[2];
    assert_eq!(text(field(policy, "token")), "ONMISMATCH");
    assert_eq!(text(field(policy, "type")), "oneof");
    assert!(texts(field(policy, "flags")).contains(&"optional".to_string()));
}

#[test]
fn acl_categories_are_a_native_commands_where_the_server_allows() {
    let server = Server::start();
    let mut con = server.client();
    let (categories, calc_category) = category_support(&mut con);
    let expected: [(&str, &[&str]); 20] = [
        ("calc.hsetex", &["@write", "@hash", "@fast"]),
        ("calc.a2bset", &["@write", "@hash", "@fast"]),
        ("calc.getdict", &["@read", "@hash", "@fast"]),
        ("calc.mgetdict", &["@read", "@hash", "@slow"]),
        ("calc.setdict", &["@write", "@hash", "@slow"]),
        ("calc.getjson", &["@read", "@hash", "@fast"]),
        ("calc.mgetjson", &["@read", "@hash", "@slow"]),
        ("calc.getvalues", &["@read", "@hash", "@fast"]),
        ("calc.purgea", &["@write", "@hash", "@slow"]),
        ("calc.template.set", &["@write", "@slow"]),
        ("calc.template.get", &["@slow"]),
        ("calc.template.info", &["@slow"]),
        ("calc.template.del", &["@write", "@slow"]),
        ("calc.template.list", &["@slow"]),
        ("calc.template|set", &["@write", "@slow"]),
        ("calc.template|get", &["@slow"]),
        ("calc.template|info", &["@slow"]),
        ("calc.template|del", &["@write", "@slow"]),
        ("calc.template|list", &["@slow"]),
        ("calc.template|help", &["@slow"]),
    ];
    for (name, wanted) in expected {
        let got = texts(&command_info(&mut con, name)[6]);
        let mut wanted: Vec<String> = if categories {
            wanted.iter().map(|c| c.to_string()).collect()
        } else {
            Vec::new() // Redis 7.0: a module cannot set categories
        };
        if calc_category {
            wanted.push("@calc".into());
        }
        let mut got_sorted = got.clone();
        got_sorted.sort();
        wanted.sort();
        assert_eq!(got_sorted, wanted, "{name}: {got:?}");
    }
}

/// The README's rules for Redis 7.0, where a module cannot set categories.
const NO_WRITES_ON_7_0: &[&str] = &[
    "-calc.hsetex",
    "-calc.a2bset",
    "-calc.setdict",
    "-calc.purgea",
    "-calc.template.set",
    "-calc.template.del",
];
const READS_ON_7_0: &[&str] = &[
    "+calc.getdict",
    "+calc.mgetdict",
    "+calc.getjson",
    "+calc.mgetjson",
    "+calc.getvalues",
];

fn seeded(server: &Server) -> Connection {
    let mut admin = server.client();
    register(&mut admin, "perms", r#"["a","bb"]"#);
    let value = pack(&Mp::Array(vec![Mp::Boolean(true), Mp::Boolean(false)]));
    call(
        &mut admin,
        &[
            b"CALC.A2BSET",
            b"a2b-a|1",
            b"a2b-b|7",
            b"1",
            b"7",
            &value,
            b"100",
        ],
    )
    .unwrap();
    admin
}

#[test]
fn minus_write_refuses_every_calc_writer_and_changes_nothing() {
    let server = Server::start();
    let mut admin = seeded(&server);
    let (categories, _) = category_support(&mut admin);
    let mut rules = vec!["~*", "+@all", "-@write"];
    if !categories {
        rules.extend(NO_WRITES_ON_7_0);
    }
    let mut con = user(&server, &mut admin, "reader", &rules);
    let before = snapshot(&mut admin);
    let writers: [&[&[u8]]; 9] = [
        &[b"HSET", b"h", b"f", b"v"],
        &[b"CALC.HSETEX", b"h", b"f", b"v", b"10"],
        &[
            b"CALC.SETDICT",
            b"h",
            b"perms",
            b"f",
            br#"{"a":1,"bb":2}"#,
            b"10",
        ],
        &[
            b"CALC.A2BSET",
            b"a2b-a|2",
            b"a2b-b|8",
            b"2",
            b"8",
            b"v",
            b"10",
        ],
        &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"],
        &[b"CALC.TEMPLATE.SET", b"perms", b"[\"x\"]"],
        &[b"CALC.TEMPLATE.DEL", b"perms"],
        &[b"CALC.TEMPLATE", b"SET", b"perms", b"[\"x\"]"],
        &[b"CALC.TEMPLATE", b"DEL", b"perms"],
    ];
    for args in writers {
        let err = call_err(&mut con, args);
        assert!(
            err.starts_with("NOPERM"),
            "{:?}: {err}",
            String::from_utf8_lossy(args[0])
        );
    }
    assert_eq!(snapshot(&mut admin), before);
    let definition: String = redis::cmd("CALC.TEMPLATE.GET")
        .arg("perms")
        .query(&mut admin)
        .unwrap();
    assert_eq!(definition, r#"["a","bb"]"#);
    // Reads still work for this user.
    for reader in READERS {
        let got = call(&mut con, reader).unwrap();
        assert!(
            matches!(got, Value::Array(_) | Value::BulkString(_)),
            "{got:?}"
        );
    }
}

/// One call of every reader on the seeded value.
const READERS: [&[&[u8]]; 5] = [
    &[b"CALC.GETDICT", b"a2b-a|1", b"7", b"perms"],
    &[b"CALC.MGETDICT", b"a2b-a|1", b"perms", b"7"],
    &[b"CALC.GETJSON", b"a2b-a|1", b"7", b"perms"],
    &[b"CALC.MGETJSON", b"a2b-a|1", b"perms", b"7"],
    &[b"CALC.GETVALUES", b"a2b-a|1", b"7", b"perms", b"bb"],
];

#[test]
fn plus_read_allows_the_readers_as_for_hget() {
    let server = Server::start();
    let mut admin = seeded(&server);
    let (categories, _) = category_support(&mut admin);
    let mut rules = vec!["~*", "+@read"];
    if !categories {
        rules.extend(READS_ON_7_0);
    }
    let mut con = user(&server, &mut admin, "reader", &rules);
    call(&mut con, &[b"HGET", b"a2b-a|1", b"7"]).unwrap();
    let one = call(&mut con, &[b"CALC.GETDICT", b"a2b-a|1", b"7", b"perms"]).unwrap();
    assert_ne!(one, Value::Nil);
    let many = call(
        &mut con,
        &[b"CALC.MGETDICT", b"a2b-a|1", b"perms", b"7", b"9"],
    )
    .unwrap();
    assert!(
        matches!(&many, Value::Array(v) if v.len() == 2 && v[0] != Value::Nil && v[1] == Value::Nil),
        "{many:?}"
    );
    let json = call(&mut con, &[b"CALC.GETJSON", b"a2b-a|1", b"7", b"perms"]).unwrap();
    assert_eq!(
        json,
        Value::BulkString(br#"{"a":true,"bb":false}"#.to_vec())
    );
    let many = call(
        &mut con,
        &[b"CALC.MGETJSON", b"a2b-a|1", b"perms", b"9", b"7"],
    )
    .unwrap();
    assert_eq!(many, Value::Array(vec![Value::Nil, json]));
    let one = call(
        &mut con,
        &[b"CALC.GETVALUES", b"a2b-a|1", b"7", b"perms", b"a"],
    )
    .unwrap();
    assert_eq!(one, Value::Array(vec![Value::Int(1)]));
    for writer in [
        &[&b"CALC.HSETEX"[..], b"h", b"f", b"v", b"10"][..],
        &[
            b"CALC.SETDICT",
            b"h",
            b"perms",
            b"f",
            br#"{"a":1,"bb":2}"#,
            b"10",
        ],
    ] {
        let err = call_err(&mut con, writer);
        assert!(err.starts_with("NOPERM"), "{err}");
    }
}

#[test]
fn read_only_key_permissions_allow_reads_and_refuse_writes() {
    let server = Server::start();
    let mut admin = seeded(&server);
    let mut con = user(&server, &mut admin, "ro", &["%R~*", "+@all"]);
    call(&mut con, &[b"HGET", b"a2b-a|1", b"7"]).unwrap();
    for reader in READERS {
        let got = call(&mut con, reader).unwrap();
        assert!(
            matches!(got, Value::Array(_) | Value::BulkString(_)),
            "{got:?}"
        );
    }
    let before = snapshot(&mut admin);
    for args in [
        &[&b"HSET"[..], b"a2b-a|1", b"f", b"v"][..],
        &[b"CALC.HSETEX", b"a2b-a|1", b"f", b"v", b"10"],
        &[
            b"CALC.SETDICT",
            b"a2b-a|1",
            b"perms",
            b"f",
            br#"{"a":1,"bb":2}"#,
            b"10",
        ],
        &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"],
    ] {
        let err = call_err(&mut con, args);
        assert!(err.starts_with("NOPERM"), "{err}");
    }
    assert_eq!(snapshot(&mut admin), before);
    // Each refusal is in the ACL log, as a refused native key is: one entry
    // for the key, counted four times.
    let log: Vec<Value> = redis::cmd("ACL").arg("LOG").query(&mut admin).unwrap();
    let [entry] = &log[..] else { panic!("{log:?}") };
    assert_eq!(text(field(entry, "reason")), "key");
    assert_eq!(text(field(entry, "object")), "a2b-a|1");
    assert_eq!(text(field(entry, "count")), "4");
}

#[test]
fn the_template_container_presents_each_subcommand() {
    let server = Server::start();
    let mut con = server.client();
    let info = command_info(&mut con, "calc.template");
    assert_eq!(info[1], Value::Int(-2), "a container takes a subcommand");
    // The subcommands, each with its own arity and flags (as FUNCTION's).
    let Value::Array(subs) = &info[9] else {
        panic!("no subcommands: {info:?}")
    };
    let declared: Vec<(String, i64, Vec<String>)> = subs
        .iter()
        .map(|sub| match sub {
            Value::Array(sub) => (
                text(&sub[0]),
                match sub[1] {
                    Value::Int(n) => n,
                    _ => panic!("{sub:?}"),
                },
                texts(&sub[2]),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    let mut names: Vec<&str> = declared.iter().map(|(n, _, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "calc.template|del",
            "calc.template|get",
            "calc.template|help",
            "calc.template|info",
            "calc.template|list",
            "calc.template|set"
        ]
    );
    for (name, arity, flags) in &declared {
        let (want_arity, want_flag) = match name.as_str() {
            "calc.template|set" => (-4, "denyoom"),
            "calc.template|del" => (3, "write"),
            "calc.template|get" | "calc.template|info" => (3, "readonly"),
            "calc.template|list" => (2, "readonly"),
            _ => (2, "loading"),
        };
        assert_eq!(*arity, want_arity, "{name}");
        assert!(flags.contains(&want_flag.to_string()), "{name}: {flags:?}");
    }
    // Docs, as for the dotted names.
    let docs: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("calc.template|set")
        .query(&mut con)
        .unwrap();
    let Value::Array(docs) = docs else {
        panic!("{docs:?}")
    };
    assert!(text(field(&docs[1], "summary")).contains("Registers a template"));
}

#[test]
fn acl_rules_can_name_one_template_subcommand() {
    let server = Server::start();
    let mut admin = seeded(&server);
    let mut con = user(
        &server,
        &mut admin,
        "lookup",
        &[
            "~*",
            "+calc.template|get",
            "+calc.template|list",
            // One operation, two names: allowed only where both are.
            "+calc.template.get",
            "+calc.template.list",
        ],
    );
    let got = call(&mut con, &[b"CALC.TEMPLATE", b"GET", b"perms"]).unwrap();
    assert_eq!(got, common::bulk(r#"["a","bb"]"#));
    call(&mut con, &[b"CALC.TEMPLATE", b"LIST"]).unwrap();
    for args in [
        &[&b"CALC.TEMPLATE"[..], b"SET", b"perms", b"[\"x\"]"][..],
        &[b"CALC.TEMPLATE", b"DEL", b"perms"],
        &[b"CALC.TEMPLATE.SET", b"perms", b"[\"x\"]"],
    ] {
        let err = call_err(&mut con, args);
        assert!(err.starts_with("NOPERM"), "{err}");
    }
    let definition: String = redis::cmd("CALC.TEMPLATE")
        .arg("GET")
        .arg("perms")
        .query(&mut admin)
        .unwrap();
    assert_eq!(definition, r#"["a","bb"]"#);
}
