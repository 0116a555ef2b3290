//! README, Commands: CALC.HSETEX key field value [field value ...] seconds

mod common;

use common::{
    assert_times_answered_as_set, call, call_err, native_integer_error, snapshot, Server,
};
use redis::{Commands, Connection, Value};

fn hsetex(con: &mut Connection, args: &[&[u8]]) -> i64 {
    let mut full: Vec<&[u8]> = vec![b"CALC.HSETEX"];
    full.extend_from_slice(args);
    match call(con, &full).expect("hsetex") {
        Value::Int(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

#[test]
fn creating_the_key_sets_its_ttl_and_counts_new_fields() {
    let server = Server::start();
    let mut con = server.client();
    assert_eq!(hsetex(&mut con, &[b"h", b"f1", b"v1", b"100"]), 1);
    let ttl: i64 = con.ttl("h").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(con.hget::<_, _, String>("h", "f1").unwrap(), "v1");

    assert_eq!(
        hsetex(&mut con, &[b"m", b"a", b"1", b"b", b"2", b"c", b"3", b"60"]),
        3
    );
    let all: std::collections::BTreeMap<String, String> = con.hgetall("m").unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all["b"], "2");
    assert!(con.ttl::<_, i64>("m").unwrap() > 0);
}

#[test]
fn a_later_field_never_prolongs_the_ttl() {
    let server = Server::start();
    let mut con = server.client();
    hsetex(&mut con, &[b"h", b"f1", b"v", b"100"]);
    let expire_at: i64 = redis::cmd("PEXPIRETIME").arg("h").query(&mut con).unwrap();
    assert_eq!(
        hsetex(&mut con, &[b"h", b"f2", b"v", b"f3", b"v", b"100000"]),
        2
    );
    let after: i64 = redis::cmd("PEXPIRETIME").arg("h").query(&mut con).unwrap();
    assert_eq!(after, expire_at, "the absolute expiry must not move");
    assert_eq!(con.hlen::<_, i64>("h").unwrap(), 3);
}

#[test]
fn an_existing_key_without_ttl_keeps_having_none() {
    let server = Server::start();
    let mut con = server.client();
    let _: i64 = con.hset("h", "old", "v").unwrap();
    assert_eq!(hsetex(&mut con, &[b"h", b"new", b"v", b"100"]), 1);
    assert_eq!(con.ttl::<_, i64>("h").unwrap(), -1);
}

#[test]
fn updating_fields_counts_like_hset() {
    let server = Server::start();
    let mut con = server.client();
    // The same arguments through native HSET on another key give the reference count.
    let cases: &[&[&[u8]]] = &[
        &[b"f", b"1"],
        &[b"f", b"2"],
        &[b"f", b"3", b"g", b"1"],
        &[b"x", b"1", b"x", b"2"],
        &[b"g", b"9", b"y", b"1", b"y", b"2"],
    ];
    for pairs in cases {
        let mut native: Vec<&[u8]> = vec![b"HSET", b"native"];
        native.extend_from_slice(pairs);
        let expected = call(&mut con, &native).unwrap();
        let mut module: Vec<&[u8]> = vec![b"module"];
        module.extend_from_slice(pairs);
        module.push(b"100");
        assert_eq!(Value::Int(hsetex(&mut con, &module)), expected, "{pairs:?}");
    }
    let native: Vec<(String, String)> = con.hgetall("native").unwrap();
    let module: Vec<(String, String)> = con.hgetall("module").unwrap();
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(native), sorted(module));
}

/// Each of `BAD_TIMES`, as `seconds` and as `PXAT`'s time, against an
/// existing key and a new one: the answer `SET ... EX|PXAT` gives it (and, for
/// what is not an integer, `EXPIRE`'s), and nothing written.
#[test]
fn expire_times_are_read_as_set_and_expire_read_them() {
    let server = Server::start();
    let mut con = server.client();
    hsetex(&mut con, &[b"h", b"f", b"v", b"100"]);
    let kinds = assert_times_answered_as_set(
        &mut con,
        "calc.hsetex",
        &[
            &[&b"CALC.HSETEX"[..], b"h", b"f", b"changed"],
            &[&b"CALC.HSETEX"[..], b"fresh", b"f", b"changed"],
        ],
    );
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ERR invalid expire time in 'calc.hsetex' command",
            "ERR value is not an integer or out of range"
        ]
    );
    // The example: a leading zero, as EXPIRE reads it.
    let err = call_err(&mut con, &[&b"CALC.HSETEX"[..], b"k", b"f", b"v", b"05"]);
    assert_eq!(Some(err), native_integer_error(&mut con, b"05"));
    assert!(!con.exists::<_, bool>("k").unwrap());
}

#[test]
fn wrongtype_leaves_the_key_as_it_was() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = con.set("s", "plain").unwrap();
    let _: i64 = con.rpush("l", "x").unwrap();
    let before = snapshot(&mut con);
    for key in ["s", "l"] {
        let err = call_err(
            &mut con,
            &[
                b"CALC.HSETEX",
                key.as_bytes(),
                b"f",
                b"v",
                b"f2",
                b"v",
                b"10",
            ],
        );
        assert!(err.starts_with("WRONGTYPE"), "{err}");
    }
    assert_eq!(snapshot(&mut con), before);
}

#[test]
fn wrong_arity_is_refused() {
    let server = Server::start();
    let mut con = server.client();
    for args in [
        &[&b"CALC.HSETEX"[..]][..],
        &[&b"CALC.HSETEX"[..], b"h"],
        &[&b"CALC.HSETEX"[..], b"h", b"10"],
        &[&b"CALC.HSETEX"[..], b"h", b"f", b"10"],
        &[&b"CALC.HSETEX"[..], b"h", b"f", b"v", b"g", b"10"],
    ] {
        let err = call_err(&mut con, args);
        assert!(err.contains("wrong number of arguments"), "{err}");
    }
    assert_eq!(con.exists::<_, i64>("h").unwrap(), 0);
}

#[test]
fn keys_fields_and_values_are_binary_safe() {
    let server = Server::start();
    let mut con = server.client();
    let key = b"k\x00\xff\r\n";
    let field = b"\x00f\x00";
    let value = b"\x00\x01\x02\xc1";
    assert_eq!(hsetex(&mut con, &[key, field, value, b"100"]), 1);
    let got: Vec<u8> = con.hget(&key[..], &field[..]).unwrap();
    assert_eq!(got, value);
    assert!(con.ttl::<_, i64>(&key[..]).unwrap() > 0);
}

#[test]
fn an_expired_key_is_created_again_with_a_fresh_ttl() {
    let server = Server::start();
    let mut con = server.client();
    hsetex(&mut con, &[b"h", b"old", b"v", b"100"]);
    let _: i64 = con.pexpire("h", 20).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(hsetex(&mut con, &[b"h", b"new", b"v", b"50"]), 1);
    let ttl: i64 = con.ttl("h").unwrap();
    assert!((49..=50).contains(&ttl), "ttl {ttl}");
    assert_eq!(con.hkeys::<_, Vec<String>>("h").unwrap(), ["new"]);
}

#[test]
fn command_names_are_case_insensitive() {
    let server = Server::start();
    let mut con = server.client();
    assert_eq!(
        call(&mut con, &[b"calc.hsetex", b"h", b"f", b"v", b"10"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        call(&mut con, &[b"Calc.HSetEx", b"h", b"g", b"v", b"10"]).unwrap(),
        Value::Int(1)
    );
}

/// A unix time in ms `secs` from the server's now.
fn server_ms_from_now(con: &mut Connection, secs: i64) -> i64 {
    let (s, us): (i64, i64) = redis::cmd("TIME").query(con).unwrap();
    s * 1000 + us / 1000 + secs * 1000
}

#[test]
fn pxat_gives_the_created_key_that_exact_expiry() {
    let server = Server::start();
    let mut con = server.client();
    let at = server_ms_from_now(&mut con, 500);
    let at_arg = at.to_string();
    assert_eq!(
        hsetex(
            &mut con,
            &[b"h", b"f", b"v", b"g", b"w", b"PXAT", at_arg.as_bytes()]
        ),
        2
    );
    assert_eq!(con.pexpire_time::<_, i64>("h").unwrap(), at);
    // An existing key keeps its expiry, whatever PXAT says.
    let later = (at + 100_000).to_string();
    assert_eq!(
        hsetex(&mut con, &[b"h", b"x", b"y", b"pxat", later.as_bytes()]),
        1
    );
    assert_eq!(con.pexpire_time::<_, i64>("h").unwrap(), at);
}

#[test]
fn pxat_is_a_keyword_only_where_the_argument_count_calls_for_it() {
    let server = Server::start();
    let mut con = server.client();
    // Odd count after the key: pairs then seconds, so PXAT is a field here.
    assert_eq!(hsetex(&mut con, &[b"h", b"PXAT", b"v", b"100"]), 1);
    assert_eq!(con.hget::<_, _, String>("h", "PXAT").unwrap(), "v");
    assert!((99..=100).contains(&con.ttl::<_, i64>("h").unwrap()));
    // Even count without PXAT before the last argument: a pair is incomplete.
    let err = call_err(
        &mut con,
        &[&b"CALC.HSETEX"[..], b"h", b"f", b"v", b"g", b"100"],
    );
    assert!(err.contains("wrong number of arguments"), "{err}");
}

#[test]
fn a_pxat_already_past_creates_a_key_that_has_expired() {
    let server = Server::start();
    let mut con = server.client();
    let past = server_ms_from_now(&mut con, -10).to_string();
    assert_eq!(
        hsetex(&mut con, &[b"gone", b"f", b"v", b"PXAT", past.as_bytes()]),
        1
    );
    assert!(!con.exists::<_, bool>("gone").unwrap());
}
