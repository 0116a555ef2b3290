//! The module against the design note's Lua scripts: one seeded random sequence
//! of operations runs on two servers, through the scripts on one and through
//! the module on the other. Final data, TTL presence and the multiset of
//! keyspace events must be the same.

mod common;

use std::time::Duration;

use common::lua::{HSET_MANY_WITH_EXPIRY, HSET_WITH_EXPIRY, PURGE};
use common::{call, snapshot, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::{Connection, Script, Value};

const IDS: u32 = 12;

/// The forced expiry, and the pause after it that lets it pass on both servers.
/// Both are generous enough for servers slowed down by valgrind: a PEXPIRE
/// whose time has passed before the command ends deletes the key at once (a
/// `del` event instead of `expire` then `expired`).
const EXPIRE_MS: u64 = 20;
const EXPIRE_PAUSE: Duration = Duration::from_millis(25);

enum Op {
    Set {
        key: String,
        pairs: Vec<(String, Vec<u8>)>,
        seconds: u32,
    },
    Stash {
        a: u32,
        b: u32,
        value: Vec<u8>,
        seconds: u32,
    },
    PurgeA {
        a: u32,
    },
    PurgeB {
        b: u32,
    },
    Expire {
        key: String,
    },
}

fn any_key(rng: &mut StdRng) -> String {
    let id = rng.gen_range(0..IDS);
    match rng.gen_range(0..3) {
        0 => format!("calculated-a|{id}"),
        1 => format!("a2b-a|{id}"),
        _ => format!("a2b-b|{id}"),
    }
}

fn random_op(rng: &mut StdRng) -> Op {
    let value =
        |rng: &mut StdRng| -> Vec<u8> { (0..rng.gen_range(0..12)).map(|_| rng.gen()).collect() };
    match rng.gen_range(0..100) {
        0..=29 => Op::Set {
            key: format!("calculated-a|{}", rng.gen_range(0..IDS)),
            pairs: vec![(rng.gen_range(0..IDS).to_string(), value(rng))],
            seconds: rng.gen_range(100..1000),
        },
        30..=44 => Op::Set {
            key: format!("calculated-a|{}", rng.gen_range(0..IDS)),
            pairs: (0..rng.gen_range(2..5))
                .map(|_| (rng.gen_range(0..IDS).to_string(), value(rng)))
                .collect(),
            seconds: rng.gen_range(100..1000),
        },
        45..=76 => Op::Stash {
            a: rng.gen_range(0..IDS),
            b: rng.gen_range(0..IDS),
            value: value(rng),
            seconds: rng.gen_range(100..1000),
        },
        77..=88 => Op::PurgeA {
            a: rng.gen_range(0..IDS),
        },
        89..=95 => Op::PurgeB {
            b: rng.gen_range(0..IDS),
        },
        _ => Op::Expire { key: any_key(rng) },
    }
}

fn run_lua(con: &mut Connection, op: &Op) -> Option<Value> {
    match op {
        Op::Set {
            key,
            pairs,
            seconds,
        } if pairs.len() == 1 => {
            let (field, value) = &pairs[0];
            let _: i64 = Script::new(HSET_WITH_EXPIRY)
                .key(key)
                .arg(field)
                .arg(value)
                .arg(seconds)
                .invoke(con)
                .unwrap();
            None
        }
        Op::Set {
            key,
            pairs,
            seconds,
        } => {
            let script = Script::new(HSET_MANY_WITH_EXPIRY);
            let mut invocation = script.key(key);
            for (f, v) in pairs {
                invocation.arg(f).arg(v);
            }
            Some(invocation.arg(seconds).invoke(con).unwrap())
        }
        Op::Stash {
            a,
            b,
            value,
            seconds,
        } => {
            let hset = Script::new(HSET_WITH_EXPIRY);
            let _: i64 = hset
                .key(format!("a2b-a|{a}"))
                .arg(b)
                .arg(value)
                .arg(seconds)
                .invoke(con)
                .unwrap();
            let _: i64 = hset
                .key(format!("a2b-b|{b}"))
                .arg(a)
                .arg(value)
                .arg(seconds)
                .invoke(con)
                .unwrap();
            None
        }
        Op::PurgeA { a } => {
            let _: i64 = Script::new(PURGE)
                .key(format!("a2b-a|{a}"))
                .arg("a2b-b|")
                .arg(a)
                .invoke(con)
                .unwrap();
            None
        }
        Op::PurgeB { b } => {
            let _: i64 = Script::new(PURGE)
                .key(format!("a2b-b|{b}"))
                .arg("a2b-a|")
                .arg(b)
                .invoke(con)
                .unwrap();
            None
        }
        Op::Expire { key } => {
            let _: i64 = redis::cmd("PEXPIRE")
                .arg(key)
                .arg(EXPIRE_MS)
                .query(con)
                .unwrap();
            None
        }
    }
}

fn run_module(con: &mut Connection, op: &Op) -> Option<Value> {
    match op {
        Op::Set {
            key,
            pairs,
            seconds,
        } => {
            let mut cmd = redis::cmd("CALC.HSETEX");
            cmd.arg(key);
            for (f, v) in pairs {
                cmd.arg(f).arg(v);
            }
            let reply: Value = cmd.arg(seconds).query(con).unwrap();
            (pairs.len() > 1).then_some(reply)
        }
        Op::Stash {
            a,
            b,
            value,
            seconds,
        } => {
            common::stash(con, a, b, value, u64::from(*seconds)).unwrap();
            None
        }
        Op::PurgeA { a } => {
            let (akey, a) = (format!("a2b-a|{a}"), a.to_string());
            call(
                con,
                &[b"CALC.PURGEA", akey.as_bytes(), b"a2b-b|", a.as_bytes()],
            )
            .unwrap();
            None
        }
        Op::PurgeB { b } => {
            let (bkey, b) = (format!("a2b-b|{b}"), b.to_string());
            call(
                con,
                &[b"CALC.PURGEA", bkey.as_bytes(), b"a2b-a|", b.as_bytes()],
            )
            .unwrap();
            None
        }
        Op::Expire { .. } => run_lua(con, op),
    }
}

fn subscribe(server: &Server) -> redis::PubSub<'static> {
    let mut admin = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "notify-keyspace-events", "EA"])
        .query(&mut admin)
        .unwrap();
    // Leaked on purpose: the subscription lives until the test ends.
    let con: &'static mut Connection = Box::leak(Box::new(server.client()));
    let mut pubsub = con.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
}

const END_MARKER: &str = "__keyevent@0__:end-of-run";

/// Every event up to the end marker `server` publishes after the run: a
/// server's messages arrive in order, so nothing is cut off however slow the
/// server is (e.g. under valgrind).
fn drain(server: &Server, pubsub: &mut redis::PubSub) -> Vec<(String, String)> {
    let _: i64 = redis::cmd("PUBLISH")
        .arg(END_MARKER)
        .arg("end")
        .query(&mut server.client())
        .unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let msg = pubsub.get_message().expect("events up to the end marker");
        if msg.get_channel_name() == END_MARKER {
            break;
        }
        seen.push((
            msg.get_channel_name().to_string(),
            msg.get_payload::<String>().unwrap(),
        ));
    }
    seen.sort();
    seen
}

#[test]
fn thousands_of_random_operations_end_the_same_as_the_lua_scripts() {
    for seed in [7u64, 2024] {
        let (lua_server, module_server) = (Server::start(), Server::start());
        let (mut lua, mut module) = (lua_server.client(), module_server.client());
        let (mut lua_events, mut module_events) =
            (subscribe(&lua_server), subscribe(&module_server));

        let mut rng = StdRng::seed_from_u64(seed);
        for step in 0..2500 {
            let op = random_op(&mut rng);
            let (by_lua, by_module) = (run_lua(&mut lua, &op), run_module(&mut module, &op));
            assert_eq!(by_module, by_lua, "seed {seed} step {step}: replies differ");
            if matches!(op, Op::Expire { .. }) {
                std::thread::sleep(EXPIRE_PAUSE);
            }
        }
        // Settle expiries the same way on both: every key that may have expired
        // is looked up once, so each server reports it expired exactly once.
        std::thread::sleep(EXPIRE_PAUSE);
        for con in [&mut lua, &mut module] {
            for id in 0..IDS {
                for prefix in ["calculated-a|", "a2b-a|", "a2b-b|"] {
                    let _: i64 = redis::cmd("EXISTS")
                        .arg(format!("{prefix}{id}"))
                        .query(con)
                        .unwrap();
                }
            }
        }

        let data = snapshot(&mut module);
        assert_eq!(
            data,
            snapshot(&mut lua),
            "seed {seed}: final data or TTL presence differ"
        );
        assert!(data.len() > 5, "the sequence should leave data behind");
        let events = drain(&module_server, &mut module_events);
        let by_lua = drain(&lua_server, &mut lua_events);
        if events != by_lua {
            let only = |a: &[(String, String)], b: &[(String, String)]| {
                let mut rest = b.to_vec();
                a.iter()
                    .filter(|e| match rest.iter().position(|r| r == *e) {
                        Some(i) => {
                            rest.remove(i);
                            false
                        }
                        None => true,
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            };
            panic!(
                "seed {seed}: keyspace events differ; only by the module: {:?}; only by Lua: {:?}",
                only(&events, &by_lua),
                only(&by_lua, &events)
            );
        }
        let kinds: std::collections::BTreeSet<&str> = events
            .iter()
            .map(|(c, _)| c.trim_start_matches("__keyevent@0__:"))
            .collect();
        for kind in ["hset", "expire", "hdel", "del", "expired"] {
            assert!(
                kinds.contains(kind),
                "seed {seed}: no {kind} event exercised"
            );
        }
    }
}
