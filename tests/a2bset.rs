//! README, Commands: CALC.A2BSET akey bkey id_a id_b value seconds

mod common;

use common::{assert_times_answered_as_set, call, call_err, snapshot, Server};
use redis::{Commands, Connection, Value};

fn a2bset(con: &mut Connection, a: &str, b: &str, seconds: u64) -> Value {
    common::stash(con, a, b, b"payload", seconds).expect("a2bset")
}

#[test]
fn stashes_both_sides_with_ttls_on_creation() {
    let server = Server::start();
    let mut con = server.client();
    assert_eq!(a2bset(&mut con, "1", "7", 100), Value::Int(2));
    assert_eq!(con.hget::<_, _, String>("a2b-a|1", "7").unwrap(), "payload");
    assert_eq!(con.hget::<_, _, String>("a2b-b|7", "1").unwrap(), "payload");
    for key in ["a2b-a|1", "a2b-b|7"] {
        let ttl: i64 = con.ttl(key).unwrap();
        assert!((99..=100).contains(&ttl), "{key}: {ttl}");
    }
    // The same pair again: nothing new.
    assert_eq!(a2bset(&mut con, "1", "7", 100), Value::Int(0));
}

#[test]
fn only_a_created_key_gets_the_ttl() {
    let server = Server::start();
    let mut con = server.client();
    a2bset(&mut con, "1", "7", 100);
    let a_expiry: i64 = redis::cmd("PEXPIRETIME")
        .arg("a2b-a|1")
        .query(&mut con)
        .unwrap();
    // a2b-a|1 exists (its TTL stays), a2b-b|8 is new (gets 5000s).
    assert_eq!(a2bset(&mut con, "1", "8", 5000), Value::Int(2));
    let after: i64 = redis::cmd("PEXPIRETIME")
        .arg("a2b-a|1")
        .query(&mut con)
        .unwrap();
    assert_eq!(after, a_expiry);
    assert!(con.ttl::<_, i64>("a2b-b|8").unwrap() > 4000);
    // A key without TTL keeps having none.
    let _: i64 = con.hset("a2b-b|9", "x", "y").unwrap();
    assert_eq!(a2bset(&mut con, "2", "9", 100), Value::Int(2));
    assert_eq!(con.ttl::<_, i64>("a2b-b|9").unwrap(), -1);
}

#[test]
fn wrongtype_on_either_side_changes_nothing() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = con.set("a2b-b|7", "string").unwrap();
    let _: () = con.set("a2b-a|2", "string").unwrap();
    let before = snapshot(&mut con);
    for (a, b) in [(1, 7), (2, 8)] {
        let err = common::stash(&mut con, a, b, b"v", 10).unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
    }
    assert_eq!(snapshot(&mut con), before, "no side may be written");
}

/// Each of `BAD_TIMES`, as `seconds` and as `PXAT`'s time, with both keys
/// new and both existing: the answer `SET ... EX|PXAT` gives it (and, for what
/// is not an integer, `EXPIRE`'s), and nothing written.
#[test]
fn expire_times_are_read_as_set_and_expire_read_them() {
    let server = Server::start();
    let mut con = server.client();
    a2bset(&mut con, "1", "7", 100);
    let kinds = assert_times_answered_as_set(
        &mut con,
        "calc.a2bset",
        &[
            &[
                &b"CALC.A2BSET"[..],
                b"a2b-a|1",
                b"a2b-b|7",
                b"1",
                b"7",
                b"changed",
            ],
            &[
                &b"CALC.A2BSET"[..],
                b"a2b-a|2",
                b"a2b-b|8",
                b"2",
                b"8",
                b"changed",
            ],
        ],
    );
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ERR invalid expire time in 'calc.a2bset' command",
            "ERR value is not an integer or out of range"
        ]
    );
}

#[test]
fn wrong_arity_changes_nothing() {
    let server = Server::start();
    let mut con = server.client();
    let err = call_err(
        &mut con,
        &[&b"CALC.A2BSET"[..], b"a", b"b", b"1", b"7", b"v"],
    );
    assert!(err.contains("wrong number of arguments"));
    assert!(snapshot(&mut con).is_empty());
}

#[test]
fn both_keys_the_same_hash() {
    let server = Server::start();
    let mut con = server.client();
    let reply = call(
        &mut con,
        &[
            &b"CALC.A2BSET"[..],
            b"same",
            b"same",
            b"1",
            b"7",
            b"v",
            b"100",
        ],
    )
    .unwrap();
    assert_eq!(reply, Value::Int(2));
    let mut fields: Vec<String> = con.hkeys("same").unwrap();
    fields.sort();
    assert_eq!(fields, ["1", "7"]);
    assert!(con.ttl::<_, i64>("same").unwrap() > 0);
}

#[test]
fn pxat_gives_both_created_keys_that_exact_expiry_and_leaves_existing_ones() {
    let server = Server::start();
    let mut con = server.client();
    let (s, us): (i64, i64) = redis::cmd("TIME").query(&mut con).unwrap();
    let at = s * 1000 + us / 1000 + 500_000;
    let at_arg = at.to_string();
    let stash = |con: &mut Connection, a: &[u8], b: &[u8], at: &[u8]| {
        let akey = [b"a2b-a|".as_slice(), a].concat();
        let bkey = [b"a2b-b|".as_slice(), b].concat();
        call(
            con,
            &[&b"CALC.A2BSET"[..], &akey, &bkey, a, b, b"v", b"PXAT", at],
        )
    };
    assert_eq!(
        stash(&mut con, b"1", b"7", at_arg.as_bytes()).unwrap(),
        Value::Int(2)
    );
    for key in ["a2b-a|1", "a2b-b|7"] {
        assert_eq!(con.pexpire_time::<_, i64>(key).unwrap(), at, "{key}");
    }
    // a2b-a|1 exists: only the new b side gets the later time.
    let later = (at + 1000).to_string();
    assert_eq!(
        stash(&mut con, b"1", b"8", later.as_bytes()).unwrap(),
        Value::Int(2)
    );
    assert_eq!(con.pexpire_time::<_, i64>("a2b-a|1").unwrap(), at);
    assert_eq!(con.pexpire_time::<_, i64>("a2b-b|8").unwrap(), at + 1000);
    let before = snapshot(&mut con);
    let refused = |con: &mut Connection, keyword: &[u8], time: &[u8]| {
        let args: [&[u8]; 8] = [
            b"CALC.A2BSET",
            b"a2b-a|2",
            b"a2b-b|9",
            b"2",
            b"9",
            b"v",
            keyword,
            time,
        ];
        common::call_err(con, &args)
    };
    let err = refused(&mut con, b"PXAT", b"-1");
    assert!(err.starts_with("ERR invalid expire time"), "{err}");
    let err = refused(&mut con, b"EXAT", b"5");
    assert!(err.contains("wrong number of arguments"), "{err}");
    assert_eq!(snapshot(&mut con), before);
}
