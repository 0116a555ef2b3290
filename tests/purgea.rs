//! README, Commands: CALC.PURGEA akey bprefix member

mod common;

use common::{call, call_err, snapshot, user, Server};
use redis::{Commands, Connection, Value};

fn stash(con: &mut Connection, pairs: &[(&str, &str)]) {
    for (a, b) in pairs {
        common::stash(con, a, b, b"v", 1000).unwrap();
    }
}

fn purge(
    con: &mut Connection,
    akey: &str,
    prefix: &str,
    member: &str,
) -> redis::RedisResult<Value> {
    purge_with(con, akey, prefix, member, &[])
}

/// `CALC.PURGEA akey bprefix member` followed by `options`.
fn purge_with(
    con: &mut Connection,
    akey: &str,
    prefix: &str,
    member: &str,
    options: &[&[u8]],
) -> redis::RedisResult<Value> {
    let mut args: Vec<&[u8]> = vec![
        b"CALC.PURGEA",
        akey.as_bytes(),
        prefix.as_bytes(),
        member.as_bytes(),
    ];
    args.extend_from_slice(options);
    call(con, &args)
}

const LAYOUT: &[(&str, &str)] = &[
    ("1", "7"),
    ("1", "8"),
    ("1", "9"),
    ("2", "7"),
    ("3", "9"),
    ("3", "10"),
];

#[test]
fn purges_one_a_from_both_sides() {
    let server = Server::start();
    let mut con = server.client();
    stash(&mut con, LAYOUT);
    assert_eq!(
        purge(&mut con, "a2b-a|1", "a2b-b|", "1").unwrap(),
        Value::Int(3)
    );
    let mut keys: Vec<String> = con.keys("*").unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["a2b-a|2", "a2b-a|3", "a2b-b|10", "a2b-b|7", "a2b-b|9"]
    );
    assert_eq!(con.hkeys::<_, Vec<String>>("a2b-b|7").unwrap(), ["2"]);
    assert_eq!(con.hkeys::<_, Vec<String>>("a2b-b|9").unwrap(), ["3"]);
    assert!(
        !con.exists::<_, bool>("a2b-b|8").unwrap(),
        "an emptied b-hash disappears"
    );
}

#[test]
fn purging_from_the_b_side_is_the_same_command() {
    let server = Server::start();
    let mut con = server.client();
    stash(&mut con, LAYOUT);
    assert_eq!(
        purge(&mut con, "a2b-b|7", "a2b-a|", "7").unwrap(),
        Value::Int(2)
    );
    assert!(!con.exists::<_, bool>("a2b-b|7").unwrap());
    let mut a1: Vec<String> = con.hkeys("a2b-a|1").unwrap();
    a1.sort();
    assert_eq!(a1, ["8", "9"]);
    assert!(!con.exists::<_, bool>("a2b-a|2").unwrap());
}

#[test]
fn ends_like_the_design_notes_lua_script() {
    let server = Server::start();
    let mut con = server.client();
    for (akey, prefix, member) in [
        ("a2b-a|1", "a2b-b|", "1"),
        ("a2b-b|9", "a2b-a|", "9"),
        ("a2b-a|404", "a2b-b|", "404"),
    ] {
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        stash(&mut con, LAYOUT);
        let _: i64 = redis::Script::new(common::lua::PURGE)
            .key(akey)
            .arg(prefix)
            .arg(member)
            .invoke(&mut con)
            .unwrap();
        let by_lua = snapshot(&mut con);
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        stash(&mut con, LAYOUT);
        purge(&mut con, akey, prefix, member).unwrap();
        assert_eq!(snapshot(&mut con), by_lua, "purge of {akey}");
    }
}

#[test]
fn a_missing_a_key_purges_nothing() {
    let server = Server::start();
    let mut con = server.client();
    stash(&mut con, LAYOUT);
    let before = snapshot(&mut con);
    assert_eq!(
        purge(&mut con, "a2b-a|404", "a2b-b|", "404").unwrap(),
        Value::Int(0)
    );
    assert_eq!(snapshot(&mut con), before);
}

#[test]
fn a_derived_key_of_another_type_is_wrongtype_and_nothing_changes() {
    let server = Server::start();
    let mut con = server.client();
    stash(&mut con, LAYOUT);
    let _: () = con.del("a2b-b|9").unwrap();
    let _: () = con.set("a2b-b|9", "not a hash").unwrap();
    let before = snapshot(&mut con);
    let err = call_err(&mut con, &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]);
    assert!(
        err.starts_with("WRONGTYPE") && err.contains("a2b-b|9"),
        "{err}"
    );
    assert_eq!(snapshot(&mut con), before);

    let _: () = con.set("plain", "x").unwrap();
    assert!(
        call_err(&mut con, &[b"CALC.PURGEA", b"plain", b"a2b-b|", b"1"]).starts_with("WRONGTYPE")
    );
}

#[test]
fn acl_is_checked_on_every_derived_key_before_any_change() {
    let server = Server::start();
    let mut admin = server.client();
    stash(&mut admin, LAYOUT);
    let refused = [
        ("a-only", &["~a2b-a|*", "+@all"][..]),
        ("readonly-b", &["~a2b-a|*", "%R~a2b-b|*", "+@all"]),
    ];
    let before = snapshot(&mut admin);
    for (name, rules) in refused {
        let mut con = user(&server, &mut admin, name, rules);
        let err = call_err(&mut con, &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]);
        assert!(
            err.starts_with("NOPERM") && err.contains("a2b-b|"),
            "{name}: {err}"
        );
        assert_eq!(snapshot(&mut admin), before, "{name} changed data");
    }
    let mut con = user(&server, &mut admin, "everything", &["~*", "+@all"]);
    assert_eq!(
        purge(&mut con, "a2b-a|1", "a2b-b|", "1").unwrap(),
        Value::Int(3)
    );
}

/// The newest `ACL LOG` entry, as field -> value (the fields every server
/// has: count, reason, context, object, username, age-seconds, client-info).
fn last_acl_log_entry(admin: &mut Connection) -> std::collections::HashMap<String, Value> {
    let entries: Vec<Vec<Value>> = redis::cmd("ACL").arg("LOG").query(admin).unwrap();
    assert_eq!(entries.len(), 1, "one entry: {entries:?}");
    entries[0]
        .chunks(2)
        .map(|pair| match pair {
            [Value::BulkString(name), value] => {
                (String::from_utf8_lossy(name).into_owned(), value.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn a_refused_derived_key_is_in_the_acl_log_as_a_refused_native_key_is() {
    let server = Server::start();
    let mut admin = server.client();
    stash(&mut admin, LAYOUT);
    let mut con = user(&server, &mut admin, "a-only", &["~a2b-a|*", "+@all"]);
    let _: () = redis::cmd("CLIENT")
        .arg(&["SETNAME", "purger"])
        .query(&mut con)
        .unwrap();
    let before = snapshot(&mut admin);
    let _: () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query(&mut admin)
        .unwrap();

    let err = call_err(&mut con, &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1"]);
    assert_eq!(
        err,
        "NOPERM this user has no permissions to access the 'a2b-b|7' key"
    );
    assert_eq!(snapshot(&mut admin), before, "nothing changed");
    let derived = last_acl_log_entry(&mut admin);

    // The same user refused the same key by a native command.
    let _: () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query(&mut admin)
        .unwrap();
    let err = call_err(&mut con, &[b"HDEL", b"a2b-b|7", b"1"]);
    assert!(err.starts_with("NOPERM"), "{err}");
    let native = last_acl_log_entry(&mut admin);

    for field in ["count", "reason", "object", "username"] {
        assert_eq!(derived[field], native[field], "{field}");
    }
    assert_eq!(text(&derived["reason"]), "key");
    assert_eq!(text(&derived["object"]), "a2b-b|7");
    assert_eq!(text(&derived["username"]), "a-only");
    // Redis names the context of an entry a module adds `module` (a native
    // command's is `toplevel`); the client is the caller.
    assert_eq!(text(&derived["context"]), "module");
    assert_eq!(text(&native["context"]), "toplevel");
    let client = text(&derived["client-info"]);
    assert!(client.contains(" name=purger "), "{client}");
    assert!(client.contains(" user=a-only "), "{client}");
}

#[test]
fn a_derived_key_that_is_the_a_key_itself() {
    let server = Server::start();
    let mut con = server.client();
    // Field "x" of "p|x" derives "p|" .. "x" = "p|x": the a-hash itself.
    let _: i64 = con
        .hset_multiple("p|x", &[("x", "1"), ("y", "1")])
        .map(|()| 0)
        .unwrap();
    let _: i64 = con.hset("p|y", "x", "1").unwrap();
    assert_eq!(purge(&mut con, "p|x", "p|", "x").unwrap(), Value::Int(2));
    assert!(snapshot(&mut con).is_empty());
}

#[test]
fn wrong_arity() {
    let server = Server::start();
    let mut con = server.client();
    assert!(call_err(&mut con, &[b"CALC.PURGEA", b"a", b"p"]).contains("wrong number of arguments"));
    assert!(call_err(
        &mut con,
        &[b"CALC.PURGEA", b"a", b"p", b"m", b"LOCAL", b"x"]
    )
    .contains("wrong number of arguments"));
}

#[test]
fn large_a_hashes_are_purged_completely() {
    let server = Server::start();
    let mut con = server.client();
    // Past the listpack limit, so the hash is a real hashtable scanned in steps.
    let pairs: Vec<(String, String)> = (0..2000)
        .map(|b| ("1".to_string(), b.to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    stash(&mut con, &refs);
    assert_eq!(
        purge(&mut con, "a2b-a|1", "a2b-b|", "1").unwrap(),
        Value::Int(2000)
    );
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 0);
}

/// `CALC.PURGEA akey bprefix member LOCAL`.
fn purge_local(
    con: &mut Connection,
    akey: &str,
    prefix: &str,
    member: &str,
) -> redis::RedisResult<Value> {
    purge_with(con, akey, prefix, member, &[b"LOCAL"])
}

#[test]
fn local_outside_a_cluster_purges_everything_and_leaves_no_ids() {
    let server = Server::start();
    let mut con = server.client();
    stash(&mut con, LAYOUT);
    // The same purge without LOCAL, on a server of its own.
    let plain = Server::start();
    let mut plain_con = plain.client();
    stash(&mut plain_con, LAYOUT);
    assert_eq!(
        purge(&mut plain_con, "a2b-a|1", "a2b-b|", "1").unwrap(),
        Value::Int(3)
    );
    assert_eq!(
        purge_local(&mut con, "a2b-a|1", "a2b-b|", "1").unwrap(),
        Value::Array(vec![Value::Int(3), Value::Array(vec![])])
    );
    assert_eq!(snapshot(&mut con), snapshot(&mut plain_con));
    let b7: Vec<String> = con.hkeys("a2b-b|7").unwrap();
    assert_eq!(b7, ["2"]);
    // The letter case of the option does not matter; a missing a-key is [0, []].
    assert_eq!(
        call(
            &mut con,
            &[b"CALC.PURGEA", b"a2b-a|404", b"a2b-b|", b"404", b"local"]
        )
        .unwrap(),
        Value::Array(vec![Value::Int(0), Value::Array(vec![])])
    );
}

#[test]
fn local_answers_a_pair_over_resp3() {
    let server = Server::start();
    let mut con = server.client_resp3();
    stash(&mut con, LAYOUT);
    assert_eq!(
        purge_local(&mut con, "a2b-b|9", "a2b-a|", "9").unwrap(),
        Value::Array(vec![Value::Int(2), Value::Array(vec![])])
    );
    assert_eq!(con.exists::<_, i64>("a2b-b|9").unwrap(), 0);
}

#[test]
fn an_unknown_option_is_a_syntax_error_and_nothing_changes() {
    let server = Server::start();
    let mut con = server.client();
    stash(&mut con, LAYOUT);
    let before = snapshot(&mut con);
    let err = call_err(
        &mut con,
        &[b"CALC.PURGEA", b"a2b-a|1", b"a2b-b|", b"1", b"REMOTE"],
    );
    assert!(
        err.starts_with("ERR syntax error") && err.contains("REMOTE"),
        "{err}"
    );
    assert_eq!(snapshot(&mut con), before);
}

#[test]
fn local_checks_type_and_acl_of_its_b_keys_before_any_change() {
    let server = Server::start();
    let mut admin = server.client();
    stash(&mut admin, LAYOUT);
    let before = snapshot(&mut admin);
    let mut con = user(&server, &mut admin, "a-only", &["~a2b-a|*", "+@all"]);
    let err = purge_local(&mut con, "a2b-a|1", "a2b-b|", "1")
        .unwrap_err()
        .to_string();
    assert!(err.contains("NOPERM") && err.contains("a2b-b|"), "{err}");
    assert_eq!(snapshot(&mut admin), before);

    let _: () = admin.del("a2b-b|9").unwrap();
    let _: () = admin.set("a2b-b|9", "not a hash").unwrap();
    let before = snapshot(&mut admin);
    let err = purge_local(&mut admin, "a2b-a|1", "a2b-b|", "1").unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
    assert_eq!(snapshot(&mut admin), before);
}

#[test]
fn a_local_purge_reaches_the_replica_as_it_ran() {
    let primary = Server::start();
    let replica = Server::start_replica_of(&primary);
    let mut con = primary.client();
    stash(&mut con, LAYOUT);
    purge_local(&mut con, "a2b-a|3", "a2b-b|", "3").unwrap();
    purge(&mut con, "a2b-b|7", "a2b-a|", "7").unwrap();
    let _: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(snapshot(&mut replica.client()), snapshot(&mut con));
}
