//! A lean load generator. On two cores the server and the client share the
//! machine, so a client that spends CPU per operation caps what it measures:
//! with redis-rs pipelines built and parsed into values per call, plain HSET
//! topped out at half of what redis-benchmark drives. Here every request is
//! encoded before the clock starts and replies are counted without being
//! built, so the connections' threads mostly wait on the network and the
//! server gets the other core.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// One request of a connection: `ops` logical operations encoded as a
/// pipeline, optionally preceded by an untimed `setup` pipeline.
pub struct Request {
    setup: Option<Encoded>,
    timed: Encoded,
    ops: usize,
}

struct Encoded {
    bytes: Vec<u8>,
    replies: usize,
}

impl Encoded {
    fn of(pipe: &redis::Pipeline) -> Encoded {
        Encoded {
            bytes: pipe.get_packed_pipeline(),
            replies: pipe.cmd_iter().count(),
        }
    }
}

impl Request {
    pub fn new(pipe: &redis::Pipeline, ops: usize) -> Request {
        Request {
            setup: None,
            timed: Encoded::of(pipe),
            ops,
        }
    }

    /// A request whose `setup` (e.g. the data a purge removes) is sent and
    /// answered before the timed part starts.
    pub fn with_setup(setup: &redis::Pipeline, pipe: &redis::Pipeline, ops: usize) -> Request {
        Request {
            setup: Some(Encoded::of(setup)),
            ..Request::new(pipe, ops)
        }
    }
}

/// How long a run lasts: until `Duration` has been timed (cycling through the
/// requests), or until every request has been sent once.
pub enum Until {
    Elapsed(Duration),
    AllSent,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Conn {
            stream,
            buf: vec![0; 1 << 20],
            filled: 0,
        }
    }

    /// Sends one encoded pipeline and waits for all its replies.
    fn exchange(&mut self, encoded: &Encoded, what: &str) {
        self.stream
            .write_all(&encoded.bytes)
            .expect("write request");
        self.read_replies(encoded.replies, what);
    }

    /// Reads until `count` whole replies have arrived; an error reply fails the run.
    fn read_replies(&mut self, count: usize, what: &str) {
        let (mut seen, mut at) = (0, 0);
        while seen < count {
            match reply_end(&self.buf[..self.filled], at) {
                Ok(Some(end)) => {
                    at = end;
                    seen += 1;
                    continue;
                }
                Ok(None) => {}
                Err(e) => panic!("{what}: error reply: {e}"),
            }
            // Keep the partial reply, make room, read more.
            self.buf.copy_within(at..self.filled, 0);
            self.filled -= at;
            at = 0;
            if self.filled == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self
                .stream
                .read(&mut self.buf[self.filled..])
                .expect("read replies");
            assert!(n > 0, "{what}: server closed the connection");
            self.filled += n;
        }
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
    }
}

/// Drives `requests[c]` on connection `c`, each connection on its own thread,
/// so the server always has the next request of some connection waiting.
/// Setups run in lockstep (every connection's setup answered before any timed
/// part starts), so no connection's timed work shares the server with
/// another's setup. Returns operations per second: all operations over the
/// connections' mean timed span.
pub fn drive(port: u16, requests: &[Vec<Request>], until: Until, what: &str) -> f64 {
    let barrier = Barrier::new(requests.len());
    let results: Vec<(usize, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|reqs| {
                let barrier = &barrier;
                let until = &until;
                scope.spawn(move || {
                    let mut conn = Conn::open(port);
                    let (mut ops, mut timed) = (0usize, Duration::ZERO);
                    for (step, req) in reqs.iter().cycle().enumerate() {
                        match until {
                            Until::Elapsed(limit) if timed >= *limit => break,
                            Until::AllSent if step == reqs.len() => break,
                            _ => {}
                        }
                        if let Some(setup) = &req.setup {
                            barrier.wait();
                            conn.exchange(setup, what);
                            barrier.wait();
                        }
                        let start = Instant::now();
                        conn.exchange(&req.timed, what);
                        timed += start.elapsed();
                        ops += req.ops;
                    }
                    (ops, timed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ops: usize = results.iter().map(|r| r.0).sum();
    let span = results.iter().map(|r| r.1.as_secs_f64()).sum::<f64>() / results.len() as f64;
    ops as f64 / span
}

/// Sends every request's setup, then calls `between`, then every timed part,
/// on one connection: so that a counter reset in `between` sees the timed
/// work alone. Returns the operations sent.
pub fn send_split(port: u16, requests: &[Request], between: impl FnOnce(), what: &str) -> usize {
    let mut conn = Conn::open(port);
    for setup in requests.iter().filter_map(|r| r.setup.as_ref()) {
        conn.exchange(setup, what);
    }
    between();
    for req in requests {
        conn.exchange(&req.timed, what);
    }
    requests.iter().map(|r| r.ops).sum()
}

/// The end of the RESP2 reply that starts at `at`, or `None` when `buf` does
/// not hold all of it yet. Replies are skipped, never built.
fn reply_end(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
    let Some(line_len) = buf
        .get(at..)
        .and_then(|rest| rest.windows(2).position(|w| w == b"\r\n"))
    else {
        return Ok(None);
    };
    let line = &buf[at + 1..at + line_len];
    let next = at + line_len + 2;
    let number = || -> Result<i64, String> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(line)))
    };
    match buf[at] {
        b'+' | b':' => Ok(Some(next)),
        b'-' => Err(String::from_utf8_lossy(line).into_owned()),
        b'$' => match number()? {
            len if len < 0 => Ok(Some(next)),
            len => {
                let end = next + len as usize + 2;
                Ok((end <= buf.len()).then_some(end))
            }
        },
        b'*' => {
            let mut pos = next;
            for _ in 0..number()?.max(0) {
                match reply_end(buf, pos)? {
                    Some(end) => pos = end,
                    None => return Ok(None),
                }
            }
            Ok(Some(pos))
        }
        other => Err(format!("unexpected reply type {:?}", other as char)),
    }
}
