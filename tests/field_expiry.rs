//! README, Persistence and replication, on servers with hash-field expiry
//! (`HPEXPIRE`, Redis 7.4+): fields of a-hashes and b-hashes whose own TTL
//! passes while a replica lags, and before the AOF is loaded again, leave the
//! primary, the replica and an AOF reload with the same hashes and the same
//! absolute expiries, for every writer. Servers without field expiry (Redis
//! 7.0 and 7.2, Valkey 8.0) skip these tests with a printed reason.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{call, hashes, Server, AOF_ALWAYS, DEBUG};
use redis::{Connection, Value};

/// The TTL given to fields, in milliseconds: long enough for the first writes
/// of a scenario to find them alive on the primary, short enough to have
/// passed when the lagging replica applies them.
const FIELD_TTL_MS: u64 = 1000;
/// How long the replica sleeps: past every field TTL.
const LAG_SECS: f64 = 2.5;

struct Pair {
    primary: Server,
    replica: Server,
}

/// A primary with an AOF and a replica, both accepting DEBUG; `None` (and a
/// printed reason) on a server without field expiry.
fn pair(test: &str, active_expire: bool) -> Option<Pair> {
    let mut config = AOF_ALWAYS.to_vec();
    config.extend(DEBUG);
    let primary = Server::start_with(&config);
    let mut p = primary.client();
    if !common::has_field_expiry(&mut p) {
        println!(
            "{test}: skipped: {} has no hash-field expiry (HPEXPIRE is Redis 7.4+)",
            common::server_name(&mut p)
        );
        return None;
    }
    if !active_expire {
        // The primary then never reclaims a field by itself: every write
        // below meets the expired fields still in place.
        let _: () = redis::cmd("DEBUG")
            .arg("SET-ACTIVE-EXPIRE")
            .arg(0)
            .query(&mut p)
            .unwrap();
    }
    let replica = Server::start_replica_with(&primary, &DEBUG);
    Some(Pair { primary, replica })
}

/// Sets field TTLs of `FIELD_TTL_MS` on `fields` of `key`.
fn expire_fields(con: &mut Connection, key: &str, fields: &[&str]) {
    let set: Vec<i64> = redis::cmd("HPEXPIRE")
        .arg(key)
        .arg(FIELD_TTL_MS)
        .arg("FIELDS")
        .arg(fields.len())
        .arg(fields)
        .query(con)
        .unwrap();
    assert!(set.iter().all(|&r| r == 1), "HPEXPIRE {key}: {set:?}");
}

fn run(con: &mut Connection, args: &[&str]) -> Value {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    call(con, &args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The scenario: `setup` (its field TTLs start now), then the replica lags
/// while `alive` runs on the primary (the fields still live there) and, once
/// their TTL has passed on the primary, `expired` runs. Then the replica
/// catches up and must read exactly as the primary; then the primary loads
/// its AOF again and must read as it did before. Returns the primary's hashes
/// for the caller's own expectations.
fn check(
    pair: &Pair,
    setup: impl FnOnce(&mut Connection),
    alive: impl FnOnce(&mut Connection),
    expired: impl FnOnce(&mut Connection),
) -> std::collections::BTreeMap<Vec<u8>, common::HashState> {
    let mut p = pair.primary.client();
    let mut r = pair.replica.client();
    let start = Instant::now();
    setup(&mut p);
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1);
    let sleeper = pair.replica.lag(LAG_SECS);
    assert!(
        start.elapsed() < Duration::from_millis(FIELD_TTL_MS / 2),
        "too slow to write while the fields live"
    );
    alive(&mut p);
    let past = Duration::from_millis(FIELD_TTL_MS + 200);
    sleep(past.saturating_sub(start.elapsed()));
    expired(&mut p);
    sleeper.join().unwrap();

    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "replica log:\n{}", pair.replica.log());
    let on_primary = hashes(&mut p);
    assert_eq!(hashes(&mut r), on_primary, "replica != primary");
    common::reload_aof(&mut p);
    assert_eq!(hashes(&mut p), on_primary, "AOF reload != primary");
    on_primary
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

/// The fields of `key` in `state`, or `None` when it reads as absent.
fn fields_of(
    state: &std::collections::BTreeMap<Vec<u8>, common::HashState>,
    key: &str,
) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    state.get(key.as_bytes()).map(|(f, _)| f.clone())
}

fn purge_scenario(active_expire: bool) {
    let Some(pair) = pair("purgea", active_expire) else {
        return;
    };
    let removed = std::cell::RefCell::new(Value::Nil);
    let state = check(
        &pair,
        |p| {
            // a|A lists b-ids 1, 2, 3 and 4; field "1" has its own TTL.
            for b in ["1", "2", "3", "4"] {
                let bkey = format!("b|{b}");
                run(p, &["CALC.A2BSET", "a|A", &bkey, "A", b, "v", "1000"]);
            }
            run(p, &["HSET", "b|1", "other", "w"]);
            run(p, &["HSET", "b|2", "other", "w"]);
            expire_fields(p, "a|A", &["1"]);
            // The member's field in a b-hash has its own TTL too.
            expire_fields(p, "b|2", &["A"]);
            // The b side: b|9 lists a-ids B and C; its field "B" expires.
            for a in ["B", "C"] {
                let akey = format!("a|{a}");
                run(p, &["CALC.A2BSET", &akey, "b|9", a, "9", "v", "1000"]);
            }
            run(p, &["HSET", "a|B", "keep", "k"]);
            expire_fields(p, "b|9", &["B"]);
        },
        |p| {
            *removed.borrow_mut() = run(p, &["CALC.PURGEA", "a|A", "b|", "A"]);
            run(p, &["CALC.PURGEA", "b|9", "a|", "9"]);
        },
        |_| {},
    );
    // Every b-hash lost the member while the fields lived on the primary.
    assert_eq!(removed.into_inner(), Value::Int(4));
    assert_eq!(fields_of(&state, "b|1"), Some(fields(&[("other", "w")])));
    assert_eq!(fields_of(&state, "b|2"), Some(fields(&[("other", "w")])));
    assert_eq!(fields_of(&state, "b|3"), None);
    assert_eq!(fields_of(&state, "b|4"), None);
    assert_eq!(fields_of(&state, "a|A"), None);
    assert_eq!(fields_of(&state, "b|9"), None);
    assert_eq!(fields_of(&state, "a|B"), Some(fields(&[("keep", "k")])));
    assert_eq!(fields_of(&state, "a|C"), None);
}

#[test]
fn a_purge_ends_the_same_when_a_fields_ttl_passes_on_a_lagging_replica_and_before_an_aof_load() {
    purge_scenario(true);
}

#[test]
fn a_purge_ends_the_same_with_expired_fields_left_in_place() {
    purge_scenario(false);
}

fn hsetex_scenario(active_expire: bool) {
    let Some(pair) = pair("hsetex", active_expire) else {
        return;
    };
    let later = (unix_ms() + 500_000).to_string();
    let state = check(
        &pair,
        |p| {
            run(p, &["CALC.HSETEX", "h1", "f1", "v", "f2", "v", "1000"]);
            run(p, &["CALC.HSETEX", "h2", "f1", "v", "PXAT", &later]);
            run(p, &["CALC.HSETEX", "h3", "f1", "v", "1000"]);
            run(p, &["CALC.HSETEX", "h4", "f1", "v", "PXAT", &later]);
            // Every field of every hash expires.
            expire_fields(p, "h1", &["f1", "f2"]);
            for key in ["h2", "h3", "h4"] {
                expire_fields(p, key, &["f1"]);
            }
        },
        |p| {
            // The keys exist: each write replicates as sent.
            run(p, &["CALC.HSETEX", "h1", "f3", "v", "50"]);
            run(p, &["CALC.HSETEX", "h1", "f1", "v2", "50"]);
            run(p, &["CALC.HSETEX", "h2", "g", "v", "PXAT", &later]);
            // A creation: replicated in its absolute form.
            run(p, &["CALC.HSETEX", "new", "f", "v", "50"]);
        },
        |p| {
            // Their only fields have expired: whether the primary has
            // reclaimed them yet decides whether these writes create the key.
            run(p, &["CALC.HSETEX", "h3", "g", "v", "50"]);
            run(p, &["CALC.HSETEX", "h4", "g", "v", "PXAT", &later]);
        },
    );
    // f1's new value has no field TTL (HSET clears it); f2 expired.
    assert_eq!(
        fields_of(&state, "h1"),
        Some(fields(&[("f1", "v2"), ("f3", "v")]))
    );
    for key in ["h2", "h3", "h4"] {
        assert_eq!(fields_of(&state, key), Some(fields(&[("g", "v")])), "{key}");
    }
    assert!(state.values().all(|(_, at)| *at > 0), "{state:?}");
}

#[test]
fn hsetex_ends_the_same_when_field_ttls_pass_on_a_lagging_replica_and_before_an_aof_load() {
    hsetex_scenario(true);
}

#[test]
fn hsetex_ends_the_same_with_expired_fields_left_in_place() {
    hsetex_scenario(false);
}

fn a2bset_scenario(active_expire: bool) {
    let Some(pair) = pair("a2bset", active_expire) else {
        return;
    };
    let later = (unix_ms() + 500_000).to_string();
    let state = check(
        &pair,
        |p| {
            run(p, &["CALC.A2BSET", "a|1", "b|1", "1", "1", "v", "1000"]);
            run(p, &["CALC.A2BSET", "a|2", "b|2", "2", "2", "v", "1000"]);
            run(p, &["CALC.A2BSET", "a|3", "b|3", "3", "3", "v", "1000"]);
            for (a, b) in [("a|1", "b|1"), ("a|2", "b|2"), ("a|3", "b|3")] {
                expire_fields(p, a, &[&b[2..]]);
                expire_fields(p, b, &[&a[2..]]);
            }
        },
        |p| {
            // Both keys exist: as sent.
            run(p, &["CALC.A2BSET", "a|1", "b|1", "1", "1", "v2", "50"]);
            // a|1 exists, b|5 is created: `... PXAT` form.
            run(p, &["CALC.A2BSET", "a|1", "b|5", "1", "5", "v", "50"]);
            run(
                p,
                &["CALC.A2BSET", "a|6", "b|1", "6", "1", "v", "PXAT", &later],
            );
        },
        |p| {
            // Keys whose every field has expired, one side or both.
            run(p, &["CALC.A2BSET", "a|2", "b|2", "2", "2", "v", "50"]);
            run(p, &["CALC.A2BSET", "a|3", "b|7", "3", "7", "v", "50"]);
            run(
                p,
                &["CALC.A2BSET", "a|8", "b|3", "8", "3", "v", "PXAT", &later],
            );
        },
    );
    assert_eq!(
        fields_of(&state, "a|1"),
        Some(fields(&[("1", "v2"), ("5", "v")]))
    );
    assert_eq!(
        fields_of(&state, "b|1"),
        Some(fields(&[("1", "v2"), ("6", "v")]))
    );
    assert_eq!(fields_of(&state, "a|2"), Some(fields(&[("2", "v")])));
    assert_eq!(fields_of(&state, "b|2"), Some(fields(&[("2", "v")])));
    assert_eq!(fields_of(&state, "a|3"), Some(fields(&[("7", "v")])));
    assert_eq!(fields_of(&state, "b|3"), Some(fields(&[("8", "v")])));
    assert!(state.values().all(|(_, at)| *at > 0), "{state:?}");
}

#[test]
fn a2bset_ends_the_same_when_field_ttls_pass_on_a_lagging_replica_and_before_an_aof_load() {
    a2bset_scenario(true);
}

#[test]
fn a2bset_ends_the_same_with_expired_fields_left_in_place() {
    a2bset_scenario(false);
}
