"""redis_calc.hstore_cluster on three primaries against redis_calc.hstore on
one server: round trips and wall time of a logout purge and of a get_multi.

    make build && .venv/bin/python bench/python_cluster_bench.py
    ROUNDS=5 .venv/bin/python bench/python_cluster_bench.py   # a quick look

Servers (the tests' harness, python/tests/redis_server.py: the module loaded,
loopback, redis-server from PATH or CALC_REDIS_SERVER): a cluster of three
primaries and three replicas, and one server alone.

Operations, the two setups interleaved in every round (order rotating):

* logout purge: an a-hash stashed against 100 b-ids with ``a2bset`` (written
  again before each purge, not timed), then ``purgea`` timed. On the cluster
  the b-hashes are spread over the three primaries (no hash tags), so the
  purge is ``CALC.PURGEA ... LOCAL`` + ``WATCH``, the ``HDEL`` s pipelined per
  node, then ``MULTI``/``HDEL``/``EXEC``; on one server, one ``CALC.PURGEA``;
* get_multi: 20 keys of a template region, each in its own hash (on the
  cluster, spread over the three primaries);
* get: one key, for reference;
* get_or_create miss: a new field of an existing hash, under the
  distributed lock (the read; the ``SET NX`` with dogpile's re-check; the
  write with the lock's release).

Round trips are counted on redis-py's connections (one untimed pass): a
*request* is one write on one connection; a *step* is a wave of requests sent
before any reply is awaited (a cluster pipeline writes to every node, then
reads every node: one step, one request per node). Wall times: medians and
90th percentiles over ROUNDS x the batch, in microseconds. Writes
bench/python_cluster_results.md.
"""

import os
import pathlib
import platform
import statistics
import sys
import time

import redis
from dogpile.cache import make_region
from redis.connection import AbstractConnection

import redis_calc  # noqa: F401  (registers the backends)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python" / "tests"))
from redis_server import Cluster, Server  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", 30))
PURGES = 10  # per setup and round
READS = 100  # get_multi and get, per setup and round
B_IDS = 100
HASHES = 20
TEMPLATE = ["flag_%02d" % i for i in range(25)]
VALUE = {name: i % 2 == 0 for i, name in enumerate(TEMPLATE)}
ARGS = {
    "redis_expiration_time": 3600,
    "distributed_lock": True,
    "thread_local_lock": False,
    "calc_template": "bench",
    "calc_template_definition": TEMPLATE,
}


class Trips:
    """Counts requests (writes) and steps (waves of writes between reads) on
    every redis-py connection while on."""

    def __init__(self):
        self.on = False
        self.requests, self.steps, self.by_port = 0, 0, {}
        self._reading = True
        send, read = AbstractConnection.send_packed_command, AbstractConnection.read_response
        trips = self

        def counted_send(conn, *args, **kwargs):
            if trips.on:
                trips.requests += 1
                trips.by_port[conn.port] = trips.by_port.get(conn.port, 0) + 1
                if trips._reading:
                    trips.steps += 1
                    trips._reading = False
            return send(conn, *args, **kwargs)

        def counted_read(conn, *args, **kwargs):
            if trips.on:
                trips._reading = True
            return read(conn, *args, **kwargs)

        AbstractConnection.send_packed_command = counted_send
        AbstractConnection.read_response = counted_read

    def count(self, operation, prepare=lambda: None):
        """The round trips of ``operation``, run once before (after
        ``prepare``) so that no connection is made while counting."""
        prepare()
        operation()
        prepare()
        self.requests, self.steps, self.by_port, self._reading = 0, 0, {}, True
        self.on = True
        try:
            operation()
        finally:
            self.on = False
        return {"requests": self.requests, "steps": self.steps, "nodes": len(self.by_port)}


def stash(backend, a):
    for b in range(B_IDS):
        backend.a2bset("a2b-a|%d" % a, "a2b-b|%d" % b, a, b, VALUE)


def main():
    trips = Trips()
    cluster, single = Cluster(), Server()
    try:
        regions = {
            "cluster (3 primaries)": make_region().configure(
                "redis_calc.hstore_cluster", arguments=dict(ARGS, startup_nodes=cluster.startup_nodes())),
            "one server": make_region().configure(
                "redis_calc.hstore", arguments=dict(ARGS, host="127.0.0.1", port=single.port)),
        }
        keys = [("calculated-a|%d" % i, "7") for i in range(HASHES)]
        spread = {cluster.primary_for(name).port for name, _ in keys}
        bspread = {cluster.primary_for("a2b-b|%d" % b).port for b in range(B_IDS)}
        assert len(spread) == 3 and len(bspread) == 3, "keys not on every primary"
        for region in regions.values():
            region.set_multi({key: VALUE for key in keys})

        # get_or_create of a new field of an existing hash, each time another.
        misses = (("calculated-a|%d" % (n % HASHES), "m%d" % n) for n in range(10**9))
        counted = {}
        for name, region in regions.items():
            counted[name] = {
                "purge": trips.count(lambda: region.backend.purgea("a2b-a|1", "a2b-b|", 1),
                                     lambda: stash(region.backend, 1)),
                "get_multi": trips.count(lambda: region.get_multi(keys)),
                "get": trips.count(lambda: region.get(keys[0])),
                "miss": trips.count(lambda: region.get_or_create(next(misses), lambda: VALUE)),
            }
            assert region.get_multi(keys) == [VALUE] * HASHES

        times = {name: {"purge": [], "get_multi": [], "get": [], "miss": []} for name in regions}
        names = list(regions)
        for r in range(ROUNDS):
            for name in names[r % 2:] + names[:r % 2]:
                region, out = regions[name], times[name]
                for _ in range(PURGES):
                    stash(region.backend, 1)
                    t = time.perf_counter_ns()
                    removed = region.backend.purgea("a2b-a|1", "a2b-b|", 1)
                    out["purge"].append((time.perf_counter_ns() - t) / 1000)
                    assert removed == B_IDS, removed
                for _ in range(READS):
                    t = time.perf_counter_ns()
                    region.get_multi(keys)
                    out["get_multi"].append((time.perf_counter_ns() - t) / 1000)
                for _ in range(READS):
                    t = time.perf_counter_ns()
                    region.get(keys[0])
                    out["get"].append((time.perf_counter_ns() - t) / 1000)
                for _ in range(PURGES):
                    key = next(misses)
                    t = time.perf_counter_ns()
                    region.get_or_create(key, lambda: VALUE)
                    out["miss"].append((time.perf_counter_ns() - t) / 1000)
        report(counted, times)
    finally:
        cluster.stop()
        single.cleanup()


def report(counted, times):
    server = os.environ.get("CALC_REDIS_SERVER", "redis-server")
    lines = [
        "# redis_calc.hstore_cluster (3 primaries) against redis_calc.hstore (one server)",
        "",
        "`.venv/bin/python bench/python_cluster_bench.py` (ROUNDS=%d; %s; Python %s, redis-py %s; %s, %d cores;"
        " every server on loopback)." % (ROUNDS, server, platform.python_version(), redis.__version__,
                                         platform.machine(), os.cpu_count()),
        "",
        "| operation | setup | steps (sequential round trips) | requests (nodes) | median µs | p90 µs |",
        "|---|---|---|---|---|---|",
    ]
    labels = {"purge": "logout purge, %d b-ids" % B_IDS, "get_multi": "get_multi, %d hashes" % HASHES,
              "get": "get, one key", "miss": "get_or_create miss (distributed lock)"}
    for op in ("purge", "get_multi", "get", "miss"):
        for name in counted:
            c, samples = counted[name][op], sorted(times[name][op])
            p90 = samples[int(len(samples) * 0.9)]
            lines.append("| %s | %s | %d | %d (%d) | %.0f | %.0f |" % (
                labels[op], name, c["steps"], c["requests"], c["nodes"], statistics.median(samples), p90))
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "python_cluster_results.md").write_text(text)


if __name__ == "__main__":
    main()
