//! README, Commands and Persistence and replication: flags and key positions,
//! keyspace notifications, atomic use inside MULTI and scripts, `INFO calc`.

mod common;

use std::time::Duration;

use common::{call, pack, register, Server};
use redis::{Connection, Value};

fn command_info(con: &mut Connection, name: &str) -> (Vec<String>, i64, i64, i64) {
    let reply: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg(name)
        .query(con)
        .unwrap();
    let Value::Array(outer) = reply else {
        panic!("{reply:?}")
    };
    let Some(Value::Array(info)) = outer.first() else {
        panic!("{name} unknown: {outer:?}")
    };
    let flags = match &info[2] {
        Value::Array(f) => f
            .iter()
            .map(|v| match v {
                Value::SimpleString(s) => s.clone(),
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    let int = |v: &Value| match v {
        Value::Int(i) => *i,
        other => panic!("{other:?}"),
    };
    (flags, int(&info[3]), int(&info[4]), int(&info[5]))
}

/// A command's name, its flags, and its (first, last, step) key positions.
type Declared<'a> = (&'a str, &'a [&'a str], (i64, i64, i64));

#[test]
fn flags_and_key_positions_are_declared() {
    let server = Server::start();
    let mut con = server.client();
    let expected: &[Declared] = &[
        ("calc.hsetex", &["write", "denyoom", "fast"], (1, 1, 1)),
        ("calc.a2bset", &["write", "denyoom", "fast"], (1, 2, 1)),
        ("calc.getdict", &["readonly", "fast"], (1, 1, 1)),
        ("calc.mgetdict", &["readonly"], (1, 1, 1)),
        ("calc.purgea", &["write"], (1, 1, 1)),
        ("calc.template.set", &["write", "denyoom"], (0, 0, 0)),
        ("calc.template.get", &["readonly"], (0, 0, 0)),
        ("calc.template.info", &["readonly"], (0, 0, 0)),
        ("calc.template.del", &["write"], (0, 0, 0)),
        ("calc.template.list", &["readonly"], (0, 0, 0)),
    ];
    for (name, flags, positions) in expected {
        let (got_flags, first, last, step) = command_info(&mut con, name);
        for flag in *flags {
            assert!(
                got_flags.iter().any(|f| f == flag),
                "{name} lacks {flag}: {got_flags:?}"
            );
        }
        assert_eq!((first, last, step), *positions, "{name}");
    }
}

#[test]
fn command_getkeys_answers_for_every_keyed_command() {
    let server = Server::start();
    let mut con = server.client();
    let cases: &[(&[&str], &[&str])] = &[
        (&["CALC.HSETEX", "h", "f", "v", "g", "w", "10"], &["h"]),
        (
            &["CALC.A2BSET", "ka", "kb", "1", "2", "v", "10"],
            &["ka", "kb"],
        ),
        (&["CALC.GETDICT", "h", "f", "t"], &["h"]),
        (&["CALC.MGETDICT", "h", "t", "f1", "f2"], &["h"]),
        (&["CALC.PURGEA", "a2b-a|1", "a2b-b|", "1"], &["a2b-a|1"]),
    ];
    for (args, keys) in cases {
        let got: Vec<String> = redis::cmd("COMMAND")
            .arg("GETKEYS")
            .arg(*args)
            .query(&mut con)
            .unwrap();
        assert_eq!(got, *keys, "{args:?}");
    }
}

/// Collects `__keyevent@0__:*` messages produced while `act` runs.
fn events(server: &Server, act: impl FnOnce(&mut Connection)) -> Vec<(String, String)> {
    let mut admin = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "notify-keyspace-events", "KEA"])
        .query(&mut admin)
        .unwrap();
    let mut sub = server.client();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    act(&mut admin);
    let mut seen = Vec::new();
    while let Ok(msg) = pubsub.get_message() {
        let event = msg
            .get_channel_name()
            .trim_start_matches("__keyevent@0__:")
            .to_string();
        seen.push((event, msg.get_payload::<String>().unwrap()));
    }
    seen
}

fn ev(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(e, k)| (e.to_string(), k.to_string()))
        .collect()
}

#[test]
fn keyspace_events_are_the_lua_scripts_events() {
    let server = Server::start();
    let seen = events(&server, |con| {
        call(con, &[b"CALC.HSETEX", b"h", b"f", b"v", b"100"]).unwrap();
        call(con, &[b"CALC.HSETEX", b"h", b"g", b"v", b"100"]).unwrap();
        common::stash(con, 1, 7, b"v", 100).unwrap();
        common::stash(con, 2, 7, b"v", 100).unwrap();
        call(con, &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]).unwrap();
        call(con, &[b"CALC.PURGEA", b"a2b-a|2", b"a2b-b|", b"2"]).unwrap();
        call(con, &[b"CALC.PURGEA", b"a2b-a|404", b"a2b-b|", b"404"]).unwrap();
    });
    let expected = ev(&[
        ("hset", "h"),
        ("expire", "h"),
        ("hset", "h"),
        ("hset", "a2b-a|1"),
        ("expire", "a2b-a|1"),
        ("hset", "a2b-b|7"),
        ("expire", "a2b-b|7"),
        ("hset", "a2b-a|2"),
        ("expire", "a2b-a|2"),
        ("hset", "a2b-b|7"),
        ("hdel", "a2b-b|7"),
        ("del", "a2b-a|1"),
        ("hdel", "a2b-b|7"),
        ("del", "a2b-b|7"),
        ("del", "a2b-a|2"),
    ]);
    assert_eq!(seen, expected);
}

#[test]
fn commands_compose_in_multi_and_scripts() {
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "t", r#"["n"]"#);
    let value = pack(&rmpv::Value::Array(vec![rmpv::Value::from(5)]));
    let (added, dict): (i64, Vec<Value>) = redis::pipe()
        .atomic()
        .cmd("CALC.HSETEX")
        .arg("h")
        .arg("f")
        .arg(&value)
        .arg(100)
        .cmd("CALC.GETDICT")
        .arg("h")
        .arg("f")
        .arg("t")
        .query(&mut con)
        .unwrap();
    assert_eq!(added, 1);
    assert_eq!(dict, [common::bulk("n"), Value::Int(5)]);
    let from_lua: i64 = redis::Script::new(
        "return redis.call('CALC.HSETEX', KEYS[1], 'g', ARGV[1], 100) + redis.call('CALC.HSETEX', KEYS[1], 'f', ARGV[1], 100)",
    )
    .key("h")
    .arg(&value)
    .invoke(&mut con)
    .unwrap();
    assert_eq!(from_lua, 1);
}

#[test]
fn module_identifies_itself_and_reports_info() {
    let server = Server::start();
    let mut con = server.client();
    let Value::Array(modules) = redis::cmd("MODULE").arg("LIST").query(&mut con).unwrap() else {
        panic!()
    };
    let named_calc = |m: &Value| match m {
        Value::Array(fields) => fields
            .windows(2)
            .any(|w| w[0] == common::bulk("name") && w[1] == common::bulk("calc")),
        _ => false,
    };
    assert!(modules.iter().any(named_calc), "{modules:?}");
    register(&mut con, "t", r#"["n"]"#);
    let _: Value = redis::cmd("CALC.TEMPLATE.LIST").query(&mut con).unwrap();
    let info: redis::InfoDict = redis::cmd("INFO").arg("calc").query(&mut con).unwrap();
    assert_eq!(info.get::<u64>("calc_templates"), Some(1));
    assert_eq!(info.get::<u64>("calc_commands_served"), Some(2));
    assert_eq!(info.get::<u64>("calc_decode_errors"), Some(0));
}

#[test]
fn writes_signal_modified_keys_to_watch() {
    let server = Server::start();
    let mut watcher = server.client();
    let mut writer = server.client();
    for (key, write) in [
        ("h", &[&b"CALC.HSETEX"[..], b"h", b"f", b"v", b"100"][..]),
        (
            "a2b-b|7",
            &[
                b"CALC.A2BSET",
                b"a2b-a|1",
                b"a2b-b|7",
                b"1",
                b"7",
                b"v",
                b"100",
            ],
        ),
        ("a2b-b|7", &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]),
    ] {
        let _: () = redis::cmd("WATCH").arg(key).query(&mut watcher).unwrap();
        call(&mut writer, write).unwrap();
        let _: () = redis::cmd("MULTI").query(&mut watcher).unwrap();
        let _: String = redis::cmd("PING").query(&mut watcher).unwrap();
        let exec: Value = redis::cmd("EXEC").query(&mut watcher).unwrap();
        assert_eq!(exec, Value::Nil, "WATCH on {key} must see the write");
    }
}

#[test]
fn writes_invalidate_client_side_caches() {
    let server = Server::start();
    let mut invalidations = server.client();
    let id: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query(&mut invalidations)
        .unwrap();
    let mut pubsub = invalidations.as_pubsub();
    pubsub.subscribe("__redis__:invalidate").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();

    let mut cached = server.client();
    let _: () = redis::cmd("CLIENT")
        .arg(&["TRACKING", "on", "REDIRECT"])
        .arg(id)
        .query(&mut cached)
        .unwrap();
    let mut writer = server.client();
    common::stash(&mut writer, 1, 7, b"v", 100).unwrap();
    for (key, write) in [
        (
            "a2b-a|1",
            &[&b"CALC.HSETEX"[..], b"a2b-a|1", b"8", b"v", b"100"][..],
        ),
        ("a2b-b|7", &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]),
    ] {
        // Reading the key makes the server track it for this client.
        let _: Value = redis::cmd("HGETALL").arg(key).query(&mut cached).unwrap();
        call(&mut writer, write).unwrap();
        let msg = pubsub.get_message().expect("an invalidation message");
        let keys: Vec<String> = msg.get_payload().unwrap();
        assert!(
            keys.iter().any(|k| k == key),
            "{key} not invalidated: {keys:?}"
        );
    }
}
