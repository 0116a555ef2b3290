//! The module against the design note's Lua scripts: one seeded random sequence
//! of operations runs on two servers, through the scripts on one and through
//! the module on the other. Final data, TTL presence and the multiset of
//! keyspace events must be the same. And CALC.GETJSON against what a Python
//! client prints for the same stored values (msgpack-python + json).

mod common;

use std::time::Duration;

use common::lua::{HSET_MANY_WITH_EXPIRY, HSET_WITH_EXPIRY, PURGE};
use common::{call, pack, register, snapshot, Server};
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

/// The template the JSON differential decodes against: flat and nested names.
const JSON_TEMPLATE: &str = r#"["a","bb",["meta",["x","y",["deep",["z"]]]],"list","map"]"#;

/// What a Python client prints for a stored value: `msgpack.unpackb`, the
/// values zipped with the template's names, `json.dumps`. Where JSON has no
/// form, the module's documented one: NaN and infinities as null (Python
/// would print `NaN`, which is not JSON); bin values are UTF-8 text here.
const PYTHON_PRINTER: &str = r#"
import json, math, sys
import msgpack

def named(values, template):
    out = {}
    for entry, value in zip(template, values):
        if isinstance(entry, str):
            out[entry] = value
        else:
            out[entry[0]] = named(value, entry[1])
    return out

def jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {jsonable(k) if isinstance(k, bytes) else k: jsonable(x) for k, x in v.items()}
    return v

template = json.loads(sys.argv[1])
for line in sys.stdin:
    values = msgpack.unpackb(bytes.fromhex(line.strip()), raw=False, strict_map_key=False)
    print(json.dumps(jsonable(named(values, template))))
"#;

/// The Python of the `.venv` `make test` creates (with msgpack-python).
fn venv_python() -> std::path::PathBuf {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: `make test` creates it (or `make .venv/.installed`)",
        python.display()
    );
    python
}

fn random_text(rng: &mut StdRng) -> String {
    const PIECES: &[&str] = &[
        "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "漢",
        "😀", "\u{2028}", "\u{fffd}",
    ];
    (0..rng.gen_range(0..12))
        .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
        .collect()
}

fn random_float(rng: &mut StdRng) -> f64 {
    const SPECIAL: &[f64] = &[
        0.1 + 0.2,
        1e308,
        -1e308,
        5e-324,
        2.0,
        -0.0,
        0.0,
        1e16,
        1e-7,
        3.9,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    match rng.gen_range(0..3) {
        0 => SPECIAL[rng.gen_range(0..SPECIAL.len())],
        1 => f64::from_bits(rng.gen()),
        _ => rng.gen_range(-1e6..1e6),
    }
}

/// Any msgpack value a writer might store (no extension types, which no
/// decoder answers; map keys strings, integers or nil, which Python can hold).
fn random_value(rng: &mut StdRng, depth: u32) -> rmpv::Value {
    use rmpv::Value as Mp;
    let containers = if depth < 4 { 9 } else { 7 };
    match rng.gen_range(0..containers) {
        0 => Mp::Nil,
        1 => Mp::Boolean(rng.gen()),
        2 => match rng.gen_range(0..4) {
            0 => Mp::from(i64::MIN),
            1 => Mp::from(u64::MAX),
            2 => Mp::from(rng.gen::<u64>()),
            _ => Mp::from(rng.gen_range(-300i64..300)),
        },
        3 => Mp::F64(random_float(rng)),
        4 => Mp::F32(random_float(rng) as f32),
        5 => Mp::from(random_text(rng)),
        6 => Mp::Binary(random_text(rng).into_bytes()),
        7 => Mp::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => Mp::Map(
            (0..rng.gen_range(0..4))
                .map(|i| {
                    let key = match rng.gen_range(0..3) {
                        0 => Mp::from(format!("k{}", random_text(rng))),
                        1 => Mp::from(i * 1000 - rng.gen_range(0..3)),
                        _ => Mp::Nil,
                    };
                    (key, random_value(rng, depth + 1))
                })
                .collect(),
        ),
    }
}

/// A stored value for JSON_TEMPLATE: its five entries, `meta` nested.
fn random_stored(rng: &mut StdRng) -> Vec<u8> {
    use rmpv::Value as Mp;
    let mut any = || random_value(rng, 1);
    let (a, bb, x, y, z, list, map) = (any(), any(), any(), any(), any(), any(), any());
    pack(&Mp::Array(vec![
        a,
        bb,
        Mp::Array(vec![x, y, Mp::Array(vec![z])]),
        list,
        map,
    ]))
}

#[test]
fn getjson_prints_what_msgpack_python_and_json_print() {
    let python = venv_python();
    let server = Server::start();
    let mut con = server.client();
    register(&mut con, "diff", JSON_TEMPLATE);
    let mut rng = StdRng::seed_from_u64(21);
    let values: Vec<Vec<u8>> = (0..1000).map(|_| random_stored(&mut rng)).collect();
    let mut pipe = redis::pipe();
    for (i, value) in values.iter().enumerate() {
        pipe.cmd("HSET").arg("json").arg(i).arg(value).ignore();
    }
    for i in 0..values.len() {
        pipe.cmd("CALC.GETJSON").arg("json").arg(i).arg("diff");
    }
    let printed: Vec<String> = pipe.query(&mut con).unwrap();

    let mut child = std::process::Command::new(python)
        .args(["-c", PYTHON_PRINTER, JSON_TEMPLATE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = values
        .iter()
        .map(|v| v.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "python failed");
    let by_python: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(by_python.len(), values.len());

    for (i, (ours, theirs)) in printed.iter().zip(&by_python).enumerate() {
        let ours_parsed: serde_json::Value = serde_json::from_str(ours)
            .unwrap_or_else(|e| panic!("value {i}: invalid JSON ({e}): {ours}"));
        let theirs_parsed: serde_json::Value = serde_json::from_str(theirs).unwrap();
        assert_eq!(
            ours_parsed, theirs_parsed,
            "value {i}:\n module: {ours}\n python: {theirs}"
        );
    }
}
