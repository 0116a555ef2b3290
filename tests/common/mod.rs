//! Test harness: real `redis-server` processes with the module loaded, on free
//! loopback ports, each owned by a guard that kills it on drop, so a failing test
//! leaves no process behind.

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

/// The module under test: `CALC_MODULE`, or the release build `make build` makes.
pub fn module_path() -> PathBuf {
    let path = std::env::var_os("CALC_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/libredis_calc.so")
        });
    assert!(
        path.exists(),
        "module not built at {} (run `make build` or set CALC_MODULE)",
        path.display()
    );
    path
}

/// The server binary under test: `CALC_REDIS_SERVER` (`make test-compat` points
/// it at each server of the matrix), else `redis-server` on PATH.
pub fn server_binary() -> PathBuf {
    std::env::var_os("CALC_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// The cli that came with the server under test (beside it: `redis-cli`, or
/// `valkey-cli` in a Valkey build tree), else the `redis-cli` on PATH.
pub fn cli_binary() -> PathBuf {
    let server = server_binary();
    let dir = server.parent();
    ["redis-cli", "valkey-cli"]
        .iter()
        .filter_map(|name| dir.map(|dir| dir.join(name)))
        .find(|cli| cli.is_file())
        .unwrap_or_else(|| PathBuf::from("redis-cli"))
}

/// The server's version as (major, minor), from `INFO server`.
pub fn server_version(con: &mut Connection) -> (u32, u32) {
    let version = info_field(con, "server", "redis_version").unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

pub mod cluster;
pub mod lua;

pub struct Server {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Run by a tool (valgrind): slower to start and to shut down.
    slow: bool,
}

impl Server {
    /// A fresh server with the module loaded and persistence off.
    pub fn start() -> Server {
        Server::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// A fresh server with extra configuration (`--name value` pairs).
    pub fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("redis-calc-test")
            .tempdir()
            .expect("temp dir");
        Server::start_in(dir, extra)
    }

    /// A server on `dir` (e.g. one another server wrote its RDB or AOF into).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Server::start_on_free_port(dir, extra, free_port)
    }

    /// Starts on a port `pick` chooses; a port found free can be taken before
    /// the server binds it, so this retries with another.
    pub fn start_on_free_port(dir: tempfile::TempDir, extra: &[&str], pick: fn() -> u16) -> Server {
        Server::start_under(dir, extra, pick, memcheck)
    }

    /// A server run by a tool (`tool(port)` gives the command line before
    /// `redis-server`, e.g. valgrind and its options).
    pub fn start_under(
        dir: tempfile::TempDir,
        extra: &[&str],
        pick: fn() -> u16,
        tool: fn(u16) -> Vec<String>,
    ) -> Server {
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = pick();
            let wrapper = tool(port);
            let slow = !wrapper.is_empty();
            let mut child = spawn(dir.path(), port, &wrapper, extra);
            if wait_for_ping(port, &mut child, slow) {
                return Server {
                    child,
                    port,
                    dir,
                    slow,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default();
        }
        panic!("redis-server did not start; last log:\n{last_log}");
    }

    /// A replica of `primary` with persistence off, returned once its link is up.
    pub fn start_replica_of(primary: &Server) -> Server {
        let replica = Server::start_with(&[
            "--save",
            "",
            "--appendonly",
            "no",
            "--replicaof",
            "127.0.0.1",
            &primary.port.to_string(),
        ]);
        replica.wait_for_replica_link();
        replica
    }

    /// A replica of `primary` with `extra` configuration (e.g. [`DEBUG`]) and
    /// persistence off, returned once its link is up.
    pub fn start_replica_with(primary: &Server, extra: &[&str]) -> Server {
        let port = primary.port.to_string();
        let mut args = vec!["--save", "", "--appendonly", "no"];
        args.extend_from_slice(extra);
        args.extend(["--replicaof", "127.0.0.1", &port]);
        let replica = Server::start_with(&args);
        replica.wait_for_replica_link();
        replica
    }

    /// Makes this server stop answering, and stop applying its primary's
    /// stream, for `secs` seconds (`DEBUG SLEEP` from its own connection; the
    /// server needs [`DEBUG`]). Returns once the sleep has surely begun; join
    /// the handle to wait for its end.
    pub fn lag(&self, secs: f64) -> std::thread::JoinHandle<()> {
        let url = self.url();
        let sleeper = std::thread::spawn(move || {
            let mut con = connect(&url);
            let _: () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(secs)
                .query(&mut con)
                .expect("DEBUG SLEEP");
        });
        sleep(Duration::from_millis(200));
        sleeper
    }

    /// Waits until this server is a replica whose link to its primary is up.
    pub fn wait_for_replica_link(&self) {
        let mut con = self.client();
        wait_until(30, "replica link", || {
            info_field(&mut con, "replication", "master_link_status").as_deref() == Some("up")
        });
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A RESP2 connection.
    pub fn client(&self) -> Connection {
        connect(&self.url())
    }

    /// A RESP3 connection.
    pub fn client_resp3(&self) -> Connection {
        connect(&format!("{}?protocol=resp3", self.url()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Stops the server (as a crash would: no final save) and returns its data
    /// directory, so a new server can start on the same files.
    pub fn kill(mut self) -> tempfile::TempDir {
        self.crash();
        let dir = tempfile::Builder::new()
            .prefix("redis-calc-test")
            .tempdir()
            .expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// SIGTERM and a clean shutdown (so valgrind can write its report), then
    /// SIGKILL if the server has not exited in time.
    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: a signal to the pid of our own child, which has not
            // been reaped (try_wait saw it running), so it is still ours.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(if self.slow { 60 } else { 10 });
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ends the server at once, as a crash would.
    fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Configuration that enables `DEBUG` (SLEEP, LOADAOF, SET-ACTIVE-EXPIRE).
pub const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];

/// Configuration of a server that logs every write to its AOF at once.
pub const AOF_ALWAYS: [&str; 6] = [
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
];

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `make valgrind` sets CALC_VALGRIND=<folder>: every server then runs under
/// valgrind memcheck (malloc of the system jemalloc replaced, so the module's
/// allocations are tracked), writing one report per server into that folder.
fn valgrind_dir() -> Option<PathBuf> {
    std::env::var_os("CALC_VALGRIND").map(PathBuf::from)
}

/// Whether the servers run under valgrind (`make valgrind`): tens of times
/// slower, so a test whose point is a 1-second TTL passing at a chosen moment
/// cannot hold its timing there.
pub fn under_valgrind() -> bool {
    valgrind_dir().is_some()
}

/// The memcheck command line when `make valgrind` asks for it, else none.
fn memcheck(port: u16) -> Vec<String> {
    let Some(reports) = valgrind_dir() else {
        return Vec::new();
    };
    vec![
        "valgrind".into(),
        "--leak-check=full".into(),
        "--show-leak-kinds=definite".into(),
        "--errors-for-leak-kinds=definite".into(),
        "--soname-synonyms=somalloc=libjemalloc.so*".into(),
        format!(
            "--suppressions={}/tests/valgrind.supp",
            env!("CARGO_MANIFEST_DIR")
        ),
        format!("--log-file={}/redis-{port}.%p.log", reports.display()),
    ]
}

fn spawn(dir: &Path, port: u16, wrapper: &[String], extra: &[&str]) -> Child {
    let mut cmd = match wrapper {
        [] => Command::new(server_binary()),
        [tool, args @ ..] => {
            let mut cmd = Command::new(tool);
            cmd.args(args).arg(server_binary());
            cmd
        }
    };
    cmd.arg("--port")
        .arg(port.to_string())
        .args([
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--loadmodule")
        .arg(module_path())
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // If the test process dies without unwinding, the kernel kills the server too.
    // SAFETY: the closure runs in the forked child before exec and only makes
    // one async-signal-safe system call.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start {} ({e}); make test installs redis-server",
            server_binary().display()
        )
    })
}

fn wait_for_ping(port: u16, child: &mut Child, slow: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(if slow { 60 } else { 10 });
    let url = format!("redis://127.0.0.1:{port}/");
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut con) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
            if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                return true;
            }
        }
        sleep(Duration::from_millis(20));
    }
    false
}

fn connect(url: &str) -> Connection {
    let con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    con
}

/// Runs a command given as a list of arguments, returning the raw reply.
pub fn call(con: &mut Connection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
}

/// The error text of a command that must fail.
pub fn call_err(con: &mut Connection, args: &[&[u8]]) -> String {
    match call(con, args) {
        Ok(v) => panic!("expected an error from {:?}, got {v:?}", show(args)),
        Err(e) => {
            let code = e.code().unwrap_or("");
            let detail = e.detail().unwrap_or("");
            format!("{code} {detail}").trim().to_string()
        }
    }
}

fn show(args: &[&[u8]]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Packs a msgpack value.
pub fn pack(value: &rmpv::Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("pack");
    out
}

/// The design note's template: eight flags, here with a nested dict at the end.
pub const PERMS: &str = r#"["a","bb","ccc",["meta",["x","y"]]]"#;

pub fn register(con: &mut Connection, name: &str, definition: &str) {
    let ok: String = redis::cmd("CALC.TEMPLATE.SET")
        .arg(name)
        .arg(definition)
        .query(con)
        .expect("template set");
    assert_eq!(ok, "OK");
}

pub fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// One key of a `snapshot`: name, type, whether it has a TTL, content.
pub type SnapshotEntry = (Vec<u8>, String, bool, Value);

/// A snapshot of everything in the keyspace (type, TTL presence, hash content),
/// to prove that a failed command changed nothing.
pub fn snapshot(con: &mut Connection) -> Vec<SnapshotEntry> {
    let mut keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).expect("keys");
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let kind: String = redis::cmd("TYPE").arg(&k).query(con).expect("type");
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(con).expect("pttl");
            let content: Value = match kind.as_str() {
                "hash" => {
                    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> =
                        redis::cmd("HGETALL").arg(&k).query(con).expect("hgetall");
                    pairs.sort();
                    Value::Array(
                        pairs
                            .into_iter()
                            .flat_map(|(f, v)| [Value::BulkString(f), Value::BulkString(v)])
                            .collect(),
                    )
                }
                "string" => redis::cmd("GET").arg(&k).query(con).expect("get"),
                _ => Value::Nil,
            };
            (k, kind, ttl >= 0, content)
        })
        .collect()
}

/// Every key with its absolute expiry in ms (`PEXPIRETIME`; -1 for none).
pub fn expiries(con: &mut Connection) -> Vec<(Vec<u8>, i64)> {
    let mut keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).expect("keys");
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let at: i64 = redis::cmd("PEXPIRETIME")
                .arg(&k)
                .query(con)
                .expect("pexpiretime");
            (k, at)
        })
        .collect()
}

/// Every template as (name, `definition onmismatch fingerprint-required`), from
/// `CALC.TEMPLATE.INFO`, so comparisons cover the policy too.
pub fn templates(con: &mut Connection) -> Vec<(Vec<u8>, String)> {
    let names: Vec<Vec<u8>> = redis::cmd("CALC.TEMPLATE.LIST").query(con).expect("list");
    names
        .into_iter()
        .map(|n| {
            let info: Vec<Value> = redis::cmd("CALC.TEMPLATE.INFO")
                .arg(&n)
                .query(con)
                .expect("info");
            let show = |v: &Value| match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            };
            // RESP2: name, n, definition, d, onmismatch, p, fingerprint, f, fingerprint-required, r
            let described = format!("{} {} {}", show(&info[3]), show(&info[5]), show(&info[9]));
            (n, described)
        })
        .collect()
}

/// Registers with options (`ONMISMATCH NIL`, `FINGERPRINT REQUIRED`, ...).
pub fn register_with(con: &mut Connection, name: &str, definition: &str, options: &[&str]) {
    let ok: String = redis::cmd("CALC.TEMPLATE.SET")
        .arg(name)
        .arg(definition)
        .arg(options)
        .query(con)
        .expect("template set");
    assert_eq!(ok, "OK");
}

/// Polls `check` until it holds, failing the test after `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

/// One field of `INFO <section>`.
pub fn info_field(con: &mut Connection, section: &str, field: &str) -> Option<String> {
    let info: String = redis::cmd("INFO").arg(section).query(con).expect("info");
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

/// `used_memory` of `INFO memory`: every byte the module allocates is counted there.
pub fn used_memory(con: &mut Connection) -> i64 {
    info_field(con, "memory", "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory")
}

/// `CALC.A2BSET a2b-a|<a> a2b-b|<b> <a> <b> value seconds`: the design note's
/// symmetric stash layout.
pub fn stash(
    con: &mut Connection,
    a: impl std::fmt::Display,
    b: impl std::fmt::Display,
    value: &[u8],
    seconds: u64,
) -> redis::RedisResult<Value> {
    redis::cmd("CALC.A2BSET")
        .arg(format!("a2b-a|{a}"))
        .arg(format!("a2b-b|{b}"))
        .arg(a.to_string())
        .arg(b.to_string())
        .arg(value)
        .arg(seconds)
        .query(con)
}

/// Whether the server has hash-field expiry (`HPEXPIRE`: Redis 7.4+; not
/// Valkey 8.0).
pub fn has_field_expiry(con: &mut Connection) -> bool {
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("HPEXPIRE")
        .query(con)
        .expect("command info");
    matches!(info, Value::Array(ref v) if v.first().is_some_and(|c| *c != Value::Nil))
}

/// The server's name and version as `INFO server` gives them, for messages.
pub fn server_name(con: &mut Connection) -> String {
    match info_field(con, "server", "valkey_version") {
        Some(v) => format!("Valkey {v}"),
        None => format!(
            "Redis {}",
            info_field(con, "server", "redis_version").unwrap_or_default()
        ),
    }
}

/// One hash as [`hashes`] sees it: its live fields, sorted, and its absolute
/// expiry (`PEXPIRETIME`, -1 for none).
pub type HashState = (Vec<(Vec<u8>, Vec<u8>)>, i64);

/// Every hash in the keyspace as a client reads it: `HGETALL` (which leaves
/// out fields whose own TTL has passed) and `PEXPIRETIME`. A hash with no
/// live field reads as absent, as it is once the primary reclaims its fields,
/// so two servers compare equal whichever of them has reclaimed them yet.
pub fn hashes(con: &mut Connection) -> std::collections::BTreeMap<Vec<u8>, HashState> {
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).expect("keys");
    let mut out = std::collections::BTreeMap::new();
    for key in keys {
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> =
            redis::cmd("HGETALL").arg(&key).query(con).expect("hgetall");
        if fields.is_empty() {
            continue;
        }
        fields.sort();
        let at: i64 = redis::cmd("PEXPIRETIME")
            .arg(&key)
            .query(con)
            .expect("pexpiretime");
        out.insert(key, (fields, at));
    }
    out
}

/// `DEBUG LOADAOF`: the server empties itself and loads its AOF again, as a
/// restart would (the server needs [`DEBUG`] and an AOF).
pub fn reload_aof(con: &mut Connection) {
    let _: () = redis::cmd("DEBUG")
        .arg("LOADAOF")
        .query(con)
        .expect("DEBUG LOADAOF");
}

/// Expiry arguments a writer must refuse exactly as Redis refuses them:
/// leading zeros, signs, spaces, fractions, other bases, the 64-bit bounds,
/// zero and negatives.
pub const BAD_TIMES: &[&[u8]] = &[
    b"05",
    b"00",
    b"-05",
    b"-0",
    b"+5",
    b" 5",
    b"5 ",
    b"",
    b"abc",
    b"1.5",
    b"1e3",
    b"0x10",
    b"\0",
    b"0",
    b"-1",
    b"9223372036854775807",
    b"9223372036854775",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"99999999999999999999",
];

/// How this server answers `SET <probe> v <unit> <time>` (`unit` is `EX` or
/// `PXAT`): `None` when it accepts it (the probe key is deleted again), else
/// the error, with SET's name in it replaced by `command`, so that it reads
/// as the module's command must answer the same time.
pub fn native_time_error(
    con: &mut Connection,
    unit: &str,
    time: &[u8],
    command: &str,
) -> Option<String> {
    const PROBE: &[u8] = b"calc-test-native-probe";
    let answer = call(con, &[b"SET", PROBE, b"v", unit.as_bytes(), time]);
    let _: () = redis::cmd("DEL").arg(PROBE).query(con).expect("del");
    answer.err().map(|e| {
        let text = format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""));
        text.trim().replace("'set'", &format!("'{command}'"))
    })
}

/// How this server answers `EXPIRE <missing key> <time>`: `None` when it
/// takes `time` as an integer, else its error.
pub fn native_integer_error(con: &mut Connection, time: &[u8]) -> Option<String> {
    call(con, &[b"EXPIRE", b"calc-test-missing-key", time])
        .err()
        .map(|e| {
            let text = format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""));
            text.trim().to_string()
        })
}

/// Every form of `BAD_TIMES`, as `seconds` and as `PXAT`'s time, after each
/// of `calls` (a command's arguments up to its expiry): the answer
/// `SET ... EX|PXAT` gives that time, with SET's name replaced by `command`
/// (and, for what is not an integer, `EXPIRE`'s answer too), and nothing
/// written. Returns the distinct answers.
pub fn assert_times_answered_as_set(
    con: &mut Connection,
    command: &str,
    calls: &[&[&[u8]]],
) -> std::collections::BTreeSet<String> {
    let mut kinds = std::collections::BTreeSet::new();
    for unit in ["EX", "PXAT"] {
        for &time in BAD_TIMES {
            let Some(expected) = native_time_error(con, unit, time, command) else {
                continue; // a time far ahead is a valid PXAT
            };
            if expected.contains("not an integer") {
                assert_eq!(native_integer_error(con, time).as_ref(), Some(&expected));
            }
            kinds.insert(expected.clone());
            let before = snapshot(con);
            for call_args in calls {
                let mut args = call_args.to_vec();
                if unit == "PXAT" {
                    args.push(b"PXAT");
                }
                args.push(time);
                assert_eq!(call_err(con, &args), expected, "{unit} {time:?}");
            }
            assert_eq!(snapshot(con), before);
        }
    }
    kinds
}

/// The text of the AOF's incremental files (multi-part AOF, Redis 7).
pub fn aof_text(server: &Server) -> String {
    let dir = server.dir().join("appendonlydir");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".incr.aof") {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
        }
    }
    text
}

/// `CALC.SETDICT key template field json [field json ...] expiry...`, where
/// `expiry` is `["3600"]` or `["PXAT", "<ms>"]`.
pub fn setdict(
    con: &mut Connection,
    key: &str,
    template: &str,
    pairs: &[(&str, &str)],
    expiry: &[&str],
) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd("CALC.SETDICT");
    cmd.arg(key).arg(template);
    for (field, json) in pairs {
        cmd.arg(*field).arg(*json);
    }
    cmd.arg(expiry).query(con)
}

/// The `"a":..` JSON object of PERMS whose values GETDICT tests use:
/// a=true, bb=false, ccc=null, meta={x: "hi", y: 3.9}.
pub const PERMS_JSON: &str = r#"{"a":true,"bb":false,"ccc":null,"meta":{"x":"hi","y":3.9}}"#;

/// Keyspace events published on `server` while `run` runs (`notify-keyspace-events`
/// set to all), as (event, key) in order.
pub fn keyspace_events(server: &Server, run: impl FnOnce()) -> Vec<(String, String)> {
    let mut admin = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "notify-keyspace-events", "KEA"])
        .query(&mut admin)
        .expect("config set");
    let mut con = server.client();
    let mut pubsub = con.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").expect("psubscribe");
    run();
    let end = "__keyevent@0__:end-of-run";
    let _: i64 = redis::cmd("PUBLISH")
        .arg(end)
        .arg("end")
        .query(&mut admin)
        .expect("publish");
    pubsub
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut events = Vec::new();
    loop {
        let msg = pubsub.get_message().expect("events up to the end marker");
        let channel = msg.get_channel_name().to_string();
        if channel == end {
            return events;
        }
        let event = channel.trim_start_matches("__keyevent@0__:").to_string();
        events.push((event, msg.get_payload::<String>().expect("key")));
    }
}

/// A connection authenticated as a new user with `rules`.
pub fn user(server: &Server, admin: &mut Connection, name: &str, rules: &[&str]) -> Connection {
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(name)
        .arg("on")
        .arg(">pw")
        .arg(rules)
        .query(admin)
        .unwrap();
    let mut con = server.client();
    let _: () = redis::cmd("AUTH")
        .arg(name)
        .arg("pw")
        .query(&mut con)
        .unwrap();
    con
}
