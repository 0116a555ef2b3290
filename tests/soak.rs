//! No leaks: a million mixed operations (successes and every kind of error)
//! from many connections, then FLUSHALL. Everything the module allocates goes
//! through Redis's allocator, so `used_memory` must return to its baseline.

mod common;

use std::thread;

use common::{info_field, pack, register, used_memory, Server, PERMS};
use redis::Pipeline;
use rmpv::Value as Mp;

const THREADS: usize = 8;
const OPS_PER_THREAD: usize = 125_000;
const BATCH: usize = 500;
/// What `used_memory` may stay above its baseline after FLUSHALL: allocator
/// caches and the connections' buffers, not the workload's data.
const LEAK_TOLERANCE: i64 = 256 << 10;

fn good_batch(pipe: &mut Pipeline, t: usize, batch: usize, value: &[u8]) {
    for j in 0..BATCH {
        let n = batch * BATCH + j;
        let key = format!("soak:{}:{}", t, n % 700);
        match n % 10 {
            0..=2 => pipe
                .cmd("CALC.HSETEX")
                .arg(&key)
                .arg(n % 50)
                .arg(value)
                .arg(1000),
            3 => pipe
                .cmd("CALC.HSETEX")
                .arg(&key)
                .arg("x")
                .arg(value)
                .arg("y")
                .arg(value)
                .arg(1000),
            4 | 5 => pipe.cmd("CALC.GETDICT").arg(&key).arg(n % 50).arg("perms"),
            6 => pipe
                .cmd("CALC.MGETDICT")
                .arg(&key)
                .arg("perms")
                .arg("x")
                .arg("missing")
                .arg(n % 50),
            7 | 8 => pipe
                .cmd("CALC.A2BSET")
                .arg(format!("a2b-a|{t}:{}", n % 300))
                .arg(format!("a2b-b|{t}:{}", n % 170))
                .arg(format!("{t}:{}", n % 300))
                .arg(format!("{t}:{}", n % 170))
                .arg(value)
                .arg(1000),
            _ if n % 20 == 9 => pipe
                .cmd("CALC.PURGEA")
                .arg(format!("a2b-a|{t}:{}", n % 300))
                .arg("a2b-b|")
                .arg(format!("{t}:{}", n % 300)),
            _ => pipe.cmd("CALC.TEMPLATE.GET").arg("perms"),
        };
    }
}

fn error_batch(pipe: &mut Pipeline, t: usize) {
    for j in 0..BATCH {
        let key = format!("soak:{t}:{}", j % 700);
        match j % 6 {
            0 => pipe
                .cmd("CALC.GETDICT")
                .arg(&key)
                .arg(1)
                .arg("no-such-template"),
            1 => pipe
                .cmd("CALC.GETDICT")
                .arg("soak:bad")
                .arg(j % 4)
                .arg("perms"),
            2 => pipe
                .cmd("CALC.MGETDICT")
                .arg("soak:bad")
                .arg("perms")
                .arg(0)
                .arg(1)
                .arg(2),
            3 => pipe.cmd("CALC.HSETEX").arg(&key).arg("f").arg("v").arg(-1),
            4 => pipe
                .cmd("CALC.GETDICT")
                .arg("soak:string")
                .arg("f")
                .arg("perms"),
            _ => pipe.cmd("CALC.TEMPLATE.SET").arg("broken").arg("[[]]"),
        };
    }
}

#[test]
fn a_million_operations_then_flushall_return_memory_to_its_baseline() {
    let server = Server::start();
    let mut admin = server.client();
    register(&mut admin, "perms", PERMS);
    let baseline = used_memory(&mut admin);

    let value = pack(&Mp::Array(vec![
        Mp::Boolean(true),
        Mp::Boolean(false),
        Mp::F64(0.5),
        Mp::Array(vec![Mp::from("x"), Mp::from(7)]),
    ]));
    let bad: [&[u8]; 4] = [
        b"\x95",
        b"\x94\xc1",
        b"\x94\xdd\xff\xff\xff\xff",
        b"\x93\xc0\xc0\xc0",
    ];
    for (i, b) in bad.iter().enumerate() {
        let _: i64 = redis::cmd("HSET")
            .arg("soak:bad")
            .arg(i)
            .arg(*b)
            .query(&mut admin)
            .unwrap();
    }
    let _: () = redis::cmd("SET")
        .arg("soak:string")
        .arg("x")
        .query(&mut admin)
        .unwrap();

    thread::scope(|scope| {
        for t in 0..THREADS {
            let (server, value) = (&server, &value);
            scope.spawn(move || {
                let mut con = server.client();
                for batch in 0..OPS_PER_THREAD / BATCH {
                    let mut pipe = redis::pipe();
                    if batch % 10 == 9 {
                        error_batch(&mut pipe, t);
                        assert!(pipe.query::<redis::Value>(&mut con).is_err());
                    } else {
                        good_batch(&mut pipe, t, batch, value);
                        pipe.query::<redis::Value>(&mut con).expect("good batch");
                    }
                }
            });
        }
    });
    let served: u64 = info_field(&mut admin, "calc", "calc_commands_served")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        served >= (THREADS * OPS_PER_THREAD) as u64,
        "served {served}"
    );
    // The leak check below is only meaningful if the workload stored far more
    // than it tolerates. How many bytes the same hashes take differs between
    // servers (encodings, allocator accounting: Redis 7.2 counts 1.02 MB here,
    // under the 1 MiB this test once required), so the bar is a multiple of the
    // tolerance, not a byte count.
    let keys: i64 = redis::cmd("DBSIZE").query(&mut admin).unwrap();
    assert!(
        keys > 2000,
        "the workload should have stored hashes: {keys} keys"
    );
    let stored = used_memory(&mut admin) - baseline;
    assert!(
        stored > 3 * LEAK_TOLERANCE,
        "the workload stored {stored} bytes: too little to tell a leak of {LEAK_TOLERANCE}"
    );

    let _: () = redis::cmd("FLUSHALL")
        .arg("SYNC")
        .query(&mut admin)
        .unwrap();
    // Closed connections are freed asynchronously; give the event loop a moment.
    let mut after = used_memory(&mut admin);
    for _ in 0..50 {
        if after - baseline < LEAK_TOLERANCE {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        after = used_memory(&mut admin);
    }
    assert!(
        after - baseline < LEAK_TOLERANCE,
        "used_memory {after} vs baseline {baseline}: a leak of {} bytes",
        after - baseline
    );
}
