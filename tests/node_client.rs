//! README, From any client: the JSON commands from Node.js (ioredis, RESP2),
//! for real: `tests/node/check.mjs` runs against a server started here. Its
//! ioredis comes from the npm registry, installed by `make test` into
//! `target/node` (`npm ci` from `tests/node/package-lock.json`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{bulk, call, Server};
use redis::Value;

#[test]
fn ioredis_writes_with_setdict_and_reads_json_and_values() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("target/node");
    assert!(
        modules.join("node_modules/ioredis").is_dir(),
        "ioredis is not installed in {}: `make test` installs it (or `make node-deps`)",
        modules.display()
    );
    let server = Server::start();
    let out = Command::new("node")
        .arg(root.join("tests/node/check.mjs"))
        .arg(server.port.to_string())
        .arg(&modules)
        .output()
        .expect("node (Node.js 20) on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");

    // What Node.js wrote is the module's stored form: any client reads it typed.
    let mut r3 = server.client_resp3();
    let dict = call(
        &mut r3,
        &[b"CALC.GETDICT", b"calculated-a|1", b"43", b"perms"],
    )
    .unwrap();
    assert_eq!(
        dict,
        Value::Map(vec![
            (bulk("a"), Value::Boolean(true)),
            (bulk("bb"), Value::Boolean(false)),
            (bulk("ccc"), Value::Nil),
            (
                bulk("meta"),
                Value::Map(vec![
                    (bulk("x"), bulk("hi")),
                    (bulk("y"), Value::Double(3.9))
                ])
            ),
        ])
    );
}
