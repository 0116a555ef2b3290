"""The design note's pattern end to end from Python, four ways, on one server.

    make bench-python                      # the whole run (a few minutes)
    BENCH_A=100 ROUNDS=3 make bench-python # a quick look

Regions (each in its own database of one redis-server with the module):

(a) ``redis_calc.hstore`` with a template (this project's backend);
(b) the design note's own setup: ``dogpile_backend_redis_advanced.hstore``
    whose reads decode the values-only msgpack in the client
    (``dict(zip(TEMPLATE, msgpack.unpackb(raw)))``, the note's
    ``Serializer_loads`` faking a fresh ``CachedValue``), whose misses never
    cache through dogpile (``should_cache_fn`` always False) but write the raw
    value with the note's ``hset_with_expiry`` Lua script, and whose stash and
    purge are the note's Lua scripts;
(c) the parent hstore backend with dogpile's default pickle serializer (stash
    and purge: the same Lua scripts, pickled values);
(d) ``dogpile.cache.redis``, one key per (a, b) (no stash: a logout deletes
    the user's keys with one ``delete_multi``).

Workload: BENCH_A users (a) x BENCH_B (b) cached dicts of 25 booleans; every
region uses the distributed lock (``distributed_lock=True``,
``thread_local_lock=False``). Operations, each a batch timed in every round,
regions interleaved (their order rotates per round): get hit, get_multi (the
BENCH_B b of one a), get_or_create miss (a new field of an existing a), stash
write (one (a, b) pair), logout purge (one a stashed against BENCH_B b-ids of
1000). Per batch: wall time (ops/s), the client's process CPU time
(``time.process_time``), the server's CPU time (``INFO cpu`` user+sys deltas,
less the cost of the INFO calls themselves, calibrated). Medians over
ROUNDS rounds; ratios are ratios of medians. Memory: ``INFO memory``
used_memory before and after filling each region, per entry, and per stashed
pair.

Side tables (same server, interleaved too): get hit and get_multi over RESP2 /
RESP3 with hiredis or redis-py's Python parser; the client cost of reply
shapes for one get_multi of 20 values.

Writes bench/python_results.json and bench/python_results.md; plot with
bench/plot_python.py.
"""

import json
import os
import pathlib
import pickle
import platform
import statistics
import sys
import time

import msgpack
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE, CachedValue
from dogpile.cache.region import register_backend, value_version
from dogpile_backend_redis_advanced.cache.backends.redis_advanced import RedisAdvancedHstoreBackend

import redis_calc  # noqa: F401  (registers redis_calc.hstore)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python" / "tests"))
from redis_server import Server  # noqa: E402

A = int(os.environ.get("BENCH_A", 1000))
B = int(os.environ.get("BENCH_B", 20))
ROUNDS = int(os.environ.get("ROUNDS", 40))
# The side tables: more rounds of smaller batches (a quarter), so that a burst
# of load on a shared machine spoils few of them.
SIDE_ROUNDS = int(os.environ.get("SIDE_ROUNDS", ROUNDS * 2))
TTL = 3600
B_IDS = 1000  # b-hashes of the stash
MISS_B0 = 100000  # misses create fields b >= this, a new one each time
TEMPLATE = ["flag_%02d" % i for i in range(25)]  # sorted, as the note's pack_dictionary packs
REGIONS = ["a", "b", "c", "d"]
LABELS = {
    "a": "(a) redis_calc.hstore, template",
    "b": "(b) design note: parent hstore + msgpack values, Lua",
    "c": "(c) parent hstore, pickle",
    "d": "(d) dogpile.cache.redis, key per (a, b)",
}
OPS = ["get hit", "get_multi", "get_or_create miss", "logout purge", "stash write"]
# Operations per timed batch (scaled for BENCH_A; purge batches also stash).
BATCH = {"get hit": 1000, "get_multi": 200, "get_or_create miss": 200, "logout purge": 50}

# -- the design note's code, on today's dogpile.cache ------------------------

HSET_WITH_EXPIRY = """local exists = redis.call('exists', KEYS[1])
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
if exists == 0 then
    redis.call('expire', KEYS[1], ARGV[3])
end
return 1"""

# "another version stashed a similar A2B intersection in two hashes ... more
# complicated scripts are needed to set values/expiries": hset_with_expiry on
# both sides, in one script. KEYS: akey bkey; ARGV: id_a id_b value seconds.
A2B_SET = """local function hset_with_expiry(key, field, value, ttl)
    local exists = redis.call('exists', key)
    redis.call('hset', key, field, value)
    if exists == 0 then
        redis.call('expire', key, ttl)
    end
end
hset_with_expiry(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
hset_with_expiry(KEYS[2], ARGV[1], ARGV[3], ARGV[4])
return 1"""

# The note's purge, with the prefix and member as arguments (as tests/common/lua.rs).
PURGE = """local b_ids = redis.call('hkeys', KEYS[1])
for i, b_id in ipairs(b_ids) do
    redis.call('hdel', ARGV[1] .. b_id, ARGV[2])
end
redis.call('del', KEYS[1])
return 1"""


def note_pack(payload):
    """The note's pack_dictionary + msgpack_dumps: the values only."""
    return msgpack.packb([payload[name] for name in TEMPLATE], use_bin_type=True)


def note_loads(value):
    """The note's Serializer_loads: values -> dict (zip, "way faster" for a
    single-level dict, as the note says) -> a CachedValue with fresh metadata."""
    if value is NO_VALUE or value is None:
        return NO_VALUE
    return CachedValue(dict(zip(TEMPLATE, msgpack.unpackb(value))), {"ct": time.time(), "v": value_version})


class DesignNoteHstore(RedisAdvancedHstoreBackend):
    """The parent hstore backend with the note's loader. In the note (dogpile
    0.6) the backend applied ``loads`` to what it read; dogpile >= 1.1 only
    offers a region serializer that expects its own metadata header, so the
    loader sits where the note's did: on the backend's reads."""

    serializer = None
    deserializer = None

    def get(self, key):
        return note_loads(self.get_serialized(key))

    def get_multi(self, keys):
        return [note_loads(v) for v in self.get_serialized_multi(keys)]

    def set(self, key, value):
        raise ValueError("never run this!")  # the note's Serializer_dumps

    set_multi = set


register_backend("bench.design_note_hstore", __name__, "DesignNoteHstore")


def calculate_dict(id_a, id_b):
    return {name: (id_a * 31 + id_b * 7 + i) % 3 == 0 for i, name in enumerate(TEMPLATE)}


def stash_b_ids(a):
    """The BENCH_B b-ids of a's stash, out of 1000 b-hashes."""
    return [(a * 37 + j * 50) % B_IDS for j in range(B)]


# -- the regions ---------------------------------------------------------------


def lock_args():
    return {"distributed_lock": True, "thread_local_lock": False}


class Region:
    """One way of running the pattern: the operations a user calls."""

    def __init__(self, tag, port, db, connection_kwargs=None):
        self.tag = tag
        self.client_name = "bench-%s-%d" % (tag, id(self))
        base = {"host": "127.0.0.1", "port": port, "db": db, "redis_expiration_time": TTL, **lock_args()}
        # A protocol or parser of its own: dogpile takes them as a pool.
        base["connection_pool"] = redis.ConnectionPool(
            host="127.0.0.1", port=port, db=db, client_name=self.client_name, **(connection_kwargs or {}))
        if tag == "a":
            self.region = make_region().configure(
                "redis_calc.hstore",
                arguments={**base, "calc_template": "perms", "calc_template_definition": TEMPLATE},
            )
        elif tag == "b":
            self.region = make_region().configure("bench.design_note_hstore", arguments=base)
        elif tag == "c":
            self.region = make_region().configure("dogpile_backend_redis_advanced.hstore", arguments=base)
        else:
            self.region = make_region().configure("dogpile.cache.redis", arguments=base)
        self.client = self.region.backend.writer_client
        if tag in ("b", "c"):
            # The note: "we'll cache redis-client script objects" (register_script).
            self.hset_with_expiry = self.client.register_script(HSET_WITH_EXPIRY)
            self.a2b_set = self.client.register_script(A2B_SET)
            self.purge_script = self.client.register_script(PURGE)

    # keys
    def key(self, a, b):
        if self.tag == "d":
            return "calculated-a|%s|%s" % (a, b)
        return ("calculated-a|%s" % a, str(b))

    # operations
    def get(self, a, b):
        return self.region.get(self.key(a, b))

    def get_multi(self, a):
        return self.region.get_multi([self.key(a, b) for b in range(B)])

    def get_or_create(self, a, b):
        key = self.key(a, b)
        if self.tag != "b":
            return self.region.get_or_create(key, lambda: calculate_dict(a, b))

        def populate():
            # The note's _populate_CaclulatedDict_a2b: compute, pack the values,
            # write them with the script, never through dogpile.
            payload = calculate_dict(a, b)
            self.hset_with_expiry(keys=[key[0]], args=[key[1], note_pack(payload), TTL])
            return payload

        return self.region.get_or_create(key, populate, should_cache_fn=lambda value: False)

    def stash(self, a, b):
        payload = calculate_dict(a, b)
        akey, bkey = "a2b-a|%s" % a, "a2b-b|%s" % b
        if self.tag == "a":
            return self.region.backend.a2bset(akey, bkey, a, b, payload)
        value = note_pack(payload) if self.tag == "b" else pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)
        return self.a2b_set(keys=[akey, bkey], args=[a, b, value, TTL])

    def purge(self, a):
        if self.tag == "a":
            return self.region.backend.purgea("a2b-a|%s" % a, "a2b-b|", a)
        if self.tag == "d":
            return self.region.delete_multi([self.purge_key(a, b) for b in range(B)])
        return self.purge_script(keys=["a2b-a|%s" % a], args=["a2b-b|", a])

    # (d) purges a user's own keys, written (untimed) before each purge batch.
    def purge_key(self, a, b):
        return "purge-a|%s|%s" % (a, b)

    def fill(self, a_values):
        """Caches every (a, b) of ``a_values``, the region's own bulk way."""
        if self.tag == "b":
            pipe = self.client.pipeline(transaction=False)
            for a in a_values:
                for b in range(B):
                    key = self.key(a, b)
                    self.hset_with_expiry(keys=[key[0]], args=[key[1], note_pack(calculate_dict(a, b)), TTL], client=pipe)
            pipe.execute()
            return
        self.region.set_multi({self.key(a, b): calculate_dict(a, b) for a in a_values for b in range(B)})

    def warm_up(self):
        """Every write path once, on a throwaway user, then removed."""
        throwaway = 10 ** 9
        self.fill([throwaway])
        self.get_or_create(throwaway, MISS_B0)
        self.prepare_purge([throwaway])
        self.purge(throwaway)
        self.client.delete(*self.client.keys("*%d*" % throwaway))

    def prepare_purge(self, a_values):
        if self.tag == "d":
            self.region.set_multi({self.purge_key(a, b): calculate_dict(a, b) for a in a_values for b in range(B)})
        else:
            for a in a_values:
                for b in stash_b_ids(a):
                    self.stash(a, b)


# -- measuring -------------------------------------------------------------------


class Meter:
    """Client CPU, server CPU and wall time of a batch."""

    def __init__(self, info_client):
        self.info = info_client
        self.overhead = 0.0
        samples = []
        for _ in range(41):
            s0 = self.server_cpu()
            samples.append(self.server_cpu() - s0)
        # One INFO's own cost lands between two readings.
        self.overhead = statistics.median(samples)

    def server_cpu(self):
        cpu = self.info.info("cpu")
        return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])

    def run(self, n, fn, *args):
        s0 = self.server_cpu()
        w0, c0 = time.perf_counter(), time.process_time()
        fn(*args)
        w1, c1 = time.perf_counter(), time.process_time()
        s1 = self.server_cpu()
        return {
            "ops_per_sec": n / (w1 - w0),
            "client_us": (c1 - c0) / n * 1e6,
            "server_us": max(0.0, s1 - s0 - self.overhead) / n * 1e6,
        }


def batch_size(op):
    """BATCH[op], scaled down with BENCH_A below 1000."""
    return max(1, BATCH[op] * min(A, 1000) // 1000)


def used_memory(client):
    return int(client.info("memory")["used_memory"])


def settled_memory(admin, region):
    """used_memory once the region's connections (and their query and reply
    buffers) are gone from the server."""
    if region is not None:
        region.client.connection_pool.disconnect()
        deadline = time.time() + 5
        while time.time() < deadline and any(c["name"] == region.client_name for c in admin.client_list()):
            time.sleep(0.01)
    return used_memory(admin)


def median(values):
    return statistics.median(values) if values else None


def summarize(samples):
    return {metric: median([s[metric] for s in samples]) for metric in ("ops_per_sec", "client_us", "server_us")}


# -- the run -----------------------------------------------------------------------


def main():
    started = time.time()
    server = Server()
    try:
        results = run(server)
    finally:
        server.stop()
        server.dir.cleanup()
    results["seconds"] = round(time.time() - started, 1)
    (HERE / "python_results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (HERE / "python_results.md").write_text(markdown(results))
    print(markdown(results))
    print("wrote", HERE / "python_results.md", "and", HERE / "python_results.json", "in %.0f s" % results["seconds"])


def run(server):
    t0 = time.time()
    port = server.port
    admin = redis.Redis(host="127.0.0.1", port=port)
    regions = {tag: Region(tag, port, db) for db, tag in enumerate(REGIONS)}
    meter = Meter(admin)
    n = batch_size

    # Memory: fill each region alone, then its stash. One-time allocations
    # (a script's first load, a database's first key) are made before, by a
    # throwaway user, and the filling client's buffers are not data: its
    # connections are closed before each reading.
    memory, stash_memory = {}, {}
    for tag, r in regions.items():
        r.warm_up()
        before = settled_memory(admin, r)
        for start in range(0, A, 50):
            r.fill(range(start, min(A, start + 50)))
        memory[tag] = (settled_memory(admin, r) - before) / (A * B)
    for tag, r in regions.items():
        if tag == "d":
            continue
        before = settled_memory(admin, r)
        r.prepare_purge(range(A))
        stash_memory[tag] = (settled_memory(admin, r) - before) / (A * B)
        for a in range(A):
            r.purge(a)
        assert not r.client.keys("a2b-*"), tag
    # What the issue measured as (b): the same values-only msgpack written
    # through dogpile's own serializer path, which puts its metadata header
    # ('{"ct": ..., "v": ...}|') before each value. Memory only.
    header = make_region(serializer=note_pack, deserializer=msgpack.unpackb).configure(
        "dogpile_backend_redis_advanced.hstore",
        arguments={"host": "127.0.0.1", "port": port, "db": len(REGIONS), "redis_expiration_time": TTL},
    )
    header.set(("calculated-a|warm-up", "0"), calculate_dict(0, 0))
    header.backend.writer_client.delete("calculated-a|warm-up")
    before = used_memory(admin)
    for start in range(0, A, 50):
        header.set_multi({("calculated-a|%d" % a, str(b)): calculate_dict(a, b)
                          for a in range(start, min(A, start + 50)) for b in range(B)})
    header.backend.writer_client.connection_pool.disconnect()
    time.sleep(0.2)
    memory_with_header = (used_memory(admin) - before) / (A * B)
    header.backend.writer_client.flushdb()

    # Each region reads back what it cached, and creates what it misses.
    for tag, r in regions.items():
        assert r.get(3 % A, 5 % B) == calculate_dict(3 % A, 5 % B), tag
        assert r.get_multi(7 % A) == [calculate_dict(7 % A, b) for b in range(B)], tag
        assert r.get_or_create(1, MISS_B0 - 1) == calculate_dict(1, MISS_B0 - 1) == r.get(1, MISS_B0 - 1), tag

    print("set up in %.0f s" % (time.time() - t0), flush=True)
    samples = {op: {tag: [] for tag in REGIONS} for op in OPS}
    t0 = time.time()
    for rnd in range(ROUNDS):
        # Each operation runs for every region back to back, in an order that
        # rotates per round, so a burst of load elsewhere falls on all alike.
        order = [regions[tag] for tag in REGIONS[rnd % 4:] + REGIONS[:rnd % 4]]
        k = n("get hit")
        keys = [((rnd * 7919 + i * 104729) % A, i % B) for i in range(k)]
        for r in order:
            samples["get hit"][r.tag].append(meter.run(k, lambda: [r.get(a, b) for a, b in keys]))
        k = n("get_multi")
        a_list = [(rnd * 131 + i * 17) % A for i in range(k)]
        for r in order:
            samples["get_multi"][r.tag].append(meter.run(k, lambda: [r.get_multi(a) for a in a_list]))
        k = n("get_or_create miss")
        fresh = [((rnd * 389 + i * 7) % A, MISS_B0 + rnd * k + i) for i in range(k)]
        for r in order:
            samples["get_or_create miss"][r.tag].append(
                meter.run(k, lambda: [r.get_or_create(a, b) for a, b in fresh]))
        # Stash, then purge the same users: each round ends with no stash.
        k = n("logout purge")
        users = [(rnd * k + i) % A for i in range(k)]
        pairs = [(a, b) for a in users for b in stash_b_ids(a)]
        for r in order:
            if r.tag == "d":
                r.prepare_purge(users)
            else:
                samples["stash write"][r.tag].append(meter.run(len(pairs), lambda: [r.stash(a, b) for a, b in pairs]))
        for r in order:
            samples["logout purge"][r.tag].append(meter.run(k, lambda: [r.purge(a) for a in users]))
        print("round %d/%d, %.0f s" % (rnd + 1, ROUNDS, time.time() - t0), flush=True)

    table = {op: {tag: summarize(samples[op][tag]) for tag in REGIONS if samples[op][tag]} for op in OPS}
    for op in OPS:
        base = table[op]["b"]
        for tag, row in table[op].items():
            # Ratios of medians (the table), and the median of each round's own
            # ratio (the same round's batches, next to each other in time).
            row["client_vs_b"] = row["client_us"] / base["client_us"]
            row["server_vs_b"] = row["server_us"] / base["server_us"] if base["server_us"] else None
            row["throughput_vs_b"] = row["ops_per_sec"] / base["ops_per_sec"]
            pairs = list(zip(samples[op][tag], samples[op]["b"]))
            row["client_vs_b_paired"] = median([x["client_us"] / y["client_us"] for x, y in pairs])
            row["server_vs_b_paired"] = median([x["server_us"] / y["server_us"] for x, y in pairs if y["server_us"]])
    memory_rows = {
        tag: {
            "bytes_per_entry": memory[tag],
            "entry_vs_b": memory[tag] / memory["b"],
            "bytes_per_stash_pair": stash_memory.get(tag),
            "stash_pair_vs_b": stash_memory[tag] / stash_memory["b"] if tag in stash_memory else None,
        }
        for tag in REGIONS
    }
    memory_rows["b with dogpile's header"] = {
        "bytes_per_entry": memory_with_header,
        "entry_vs_b": memory_with_header / memory["b"],
        "a_vs_this": memory["a"] / memory_with_header,
    }

    side = side_tables(port, meter, n)
    shapes = reply_shapes(port, meter)
    admin.close()
    return {
        "workload": {"a": A, "b": B, "flags": len(TEMPLATE), "rounds": ROUNDS, "side_rounds": SIDE_ROUNDS,
                     "batch": {op: n(op) for op in BATCH}, "stash_b_ids": B_IDS},
        "regions": LABELS,
        "operations": table,
        "memory": memory_rows,
        "transport": side,
        "reply_shapes": shapes,
        "environment": environment(admin_port=port),
        "targets": targets(table, memory_rows),
    }


def side_tables(port, meter, n):
    """Get hit and get_multi of (a) and (b) over both protocols and parsers."""
    from redis._parsers import _HiredisParser, _RESP2Parser, _RESP3Parser
    from redis.utils import HIREDIS_AVAILABLE

    variants = {}
    parsers = [("python", {2: _RESP2Parser, 3: _RESP3Parser})]
    if HIREDIS_AVAILABLE:
        parsers.insert(0, ("hiredis", {2: _HiredisParser, 3: _HiredisParser}))
    for tag in ("a", "b"):
        for protocol in (2, 3):
            for parser, classes in parsers:
                name = "(%s) RESP%d, %s parser" % (tag, protocol, parser)
                variants[name] = Region(tag, port, REGIONS.index(tag),
                                        {"protocol": protocol, "parser_class": classes[protocol]})
    samples = {name: {"get hit": [], "get_multi": []} for name in variants}
    names = list(variants)
    for rnd in range(SIDE_ROUNDS):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        k = max(1, n("get hit") // 4)
        keys = [((rnd * 7919 + i * 104729) % A, i % B) for i in range(k)]
        for name in order:
            r = variants[name]
            samples[name]["get hit"].append(meter.run(k, lambda: [r.get(a, b) for a, b in keys]))
        k = max(1, n("get_multi") // 4)
        a_list = [(rnd * 131 + i * 17) % A for i in range(k)]
        for name in order:
            r = variants[name]
            samples[name]["get_multi"].append(meter.run(k, lambda: [r.get_multi(a) for a in a_list]))
    return {name: {op: summarize(s) for op, s in ops.items()} for name, ops in samples.items()}


def reply_shapes(port, meter):
    """Client and server CPU per read of 20 values for the reply shapes a
    module command could answer, against HMGET of the packed bytes (the reply
    only: no dogpile). The values-only shape (an array of 25 booleans per
    value) does not exist in the module; a Lua script stands in for it, so
    only its client cost means anything."""
    from redis._parsers import _HiredisParser, _RESP3Parser
    from redis.utils import HIREDIS_AVAILABLE

    from redis_calc.packing import TemplateCodec, pack_values

    codec = TemplateCodec(TEMPLATE)
    admin = redis.Redis(host="127.0.0.1", port=port, db=5)
    admin.execute_command("CALC.TEMPLATE.SET", "shape", json.dumps(TEMPLATE), "ONMISMATCH", "NIL")
    fields = [str(b) for b in range(20)]
    admin.hset("shape", mapping={f: pack_values(calculate_dict(1, int(f)), TEMPLATE) for f in fields})
    values_only = admin.script_load(
        "redis.setresp(3) local out = {} for i = 1, %d do local v = {} for j = 1, %d do "
        "v[j] = (j %% 3 == 0) end out[i] = v end return out" % (len(fields), len(TEMPLATE))
    )
    parsers = [("python", _RESP3Parser)] + ([("hiredis", _HiredisParser)] if HIREDIS_AVAILABLE else [])
    out = {}
    for parser, cls in parsers:
        pool = redis.ConnectionPool(host="127.0.0.1", port=port, db=5, protocol=3, parser_class=cls)
        client = redis.Redis(connection_pool=pool)
        cases = {
            "HMGET of the packed values + client decode": lambda: [
                codec.unpack(v) for v in client.hmget("shape", fields)],
            "CALC.MGETDICT (names and values)": lambda: client.execute_command(
                "CALC.MGETDICT", "shape", "shape", *fields),
            "values-only arrays (25 booleans each, Lua stand-in) + dict(zip())": lambda: [
                dict(zip(TEMPLATE, v)) for v in client.execute_command("EVALSHA", values_only, 0)],
        }
        for fn in cases.values():
            assert fn() is not None
        runs = {name: [] for name in cases}
        for _ in range(max(5, SIDE_ROUNDS)):
            for name, fn in cases.items():
                runs[name].append(meter.run(50, lambda: [fn() for _ in range(50)]))
        for name in cases:
            row = summarize(runs[name])
            if name.startswith("values-only"):
                row["server_us"] = None
            out["%s, RESP3, %s parser" % (name, parser)] = row
        client.close()
    admin.flushdb()
    admin.close()
    return out


def targets(table, memory_rows):
    """Client CPU per operation at most (b)'s (the median of the per-round
    ratios); memory per entry at most 0.55x (b)'s."""
    ops = ["get hit", "get_multi", "get_or_create miss", "logout purge", "stash write"]
    out = {}
    for op in ops:
        row = table[op]["a"]
        out[op] = {"client_vs_b": row["client_vs_b_paired"], "ratio_of_medians": row["client_vs_b"],
                   "met": row["client_vs_b_paired"] <= 1.0 and row["client_vs_b"] <= 1.0}
    ratio = memory_rows["a"]["entry_vs_b"]
    out["memory per entry"] = {"vs_b": ratio, "met": ratio <= 0.55}
    ratio = memory_rows["b with dogpile's header"]["a_vs_this"]
    out["memory per entry, against (b) with dogpile's header"] = {"vs_b": ratio, "met": ratio <= 0.55}
    return out


def environment(admin_port):
    from importlib.metadata import version

    import dogpile

    from redis.utils import HIREDIS_AVAILABLE

    info = redis.Redis(host="127.0.0.1", port=admin_port).info("server")
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "redis_server": info.get("redis_version"),
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "hiredis": version("hiredis") if HIREDIS_AVAILABLE else None,
        "msgpack": ".".join(map(str, msgpack.version)),
        "dogpile_cache": dogpile.__version__,
        "dogpile_backend_redis_advanced": version("dogpile_backend_redis_advanced"),
        "cpu": cpu,
        "cores": os.cpu_count(),
    }


# -- the report ---------------------------------------------------------------------


def fmt(value, digits=0, suffix=""):
    if value is None:
        return "-"
    return ("{:,.%df}" % digits).format(value) + suffix


def markdown(res):
    w, env = res["workload"], res["environment"]
    lines = [
        "# The design note's pattern from Python: four regions, one server",
        "",
        "`make bench-python`: %d a x %d b cached dicts of %d booleans, %d interleaved rounds, medians; "
        "Redis %s, Python %s, redis-py %s%s, msgpack %s, dogpile.cache %s, dogpile_backend_redis_advanced %s; "
        "%s, %s cores, client and server on one machine over loopback TCP%s."
        % (w["a"], w["b"], w["flags"], w["rounds"], env["redis_server"], env["python"], env["redis_py"],
           " with hiredis %s" % env["hiredis"] if env["hiredis"] else " (Python parser)", env["msgpack"],
           env["dogpile_cache"], env["dogpile_backend_redis_advanced"], env["cpu"], env["cores"],
           ", %.0f s" % res["seconds"] if "seconds" in res else ""),
        "",
    ]
    for tag in REGIONS:
        lines.append("- %s" % res["regions"][tag])
    lines += [
        "",
        "Per operation: throughput, client CPU (the Python process) and server CPU per operation; "
        "ratios to (b), the design note's setup (below 1: (a) costs less; throughput above 1: (a) serves more).",
        "",
        "| operation | region | ops/s | client CPU µs/op | server CPU µs/op | client vs (b) | server vs (b) "
        "| ops/s vs (b) | client vs (b), per round | server vs (b), per round |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op in OPS:
        for tag in REGIONS:
            row = res["operations"][op].get(tag)
            if row is None:
                continue
            lines.append("| %s | (%s) | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                op, tag, fmt(row["ops_per_sec"]), fmt(row["client_us"], 1), fmt(row["server_us"], 1),
                fmt(row["client_vs_b"], 2, "x"), fmt(row["server_vs_b"], 2, "x"), fmt(row["throughput_vs_b"], 2, "x"),
                fmt(row["client_vs_b_paired"], 2, "x"), fmt(row["server_vs_b_paired"], 2, "x")))
    lines += ["", "\"vs (b)\": ratio of the medians; \"per round\": the median of each round's own ratio "
              "(the two batches ran next to each other), what the targets use."]
    lines += ["", "Memory (`INFO memory` used_memory delta):", "",
              "| region | bytes per cached entry | vs (b) | bytes per stashed pair | vs (b) |", "|---|---|---|---|---|"]
    for tag in REGIONS:
        m = res["memory"][tag]
        lines.append("| (%s) | %s | %s | %s | %s |" % (tag, fmt(m["bytes_per_entry"], 1), fmt(m["entry_vs_b"], 2, "x"),
                                                   fmt(m["bytes_per_stash_pair"], 1), fmt(m["stash_pair_vs_b"], 2, "x")))
    m = res["memory"]["b with dogpile's header"]
    lines.append("| (b) written through dogpile's serializer path (`{\"ct\":..,\"v\":..}|` + values) | %s | %s | - | - |"
                 % (fmt(m["bytes_per_entry"], 1), fmt(m["entry_vs_b"], 2, "x")))
    lines += ["", "Targets (client CPU per operation at most (b)'s, per round and as a ratio of medians; "
              "memory per entry at most 0.55x (b)'s):", ""]
    for name, t in res["targets"].items():
        if "client_vs_b" in t:
            shown = "%s per round, %s of medians" % (fmt(t["client_vs_b"], 2, "x"), fmt(t["ratio_of_medians"], 2, "x"))
        else:
            shown = fmt(t["vs_b"], 3, "x")
        lines.append("- %s: %s, %s" % (name, shown, "met" if t["met"] else "NOT met"))
    lines += ["", "Transport: client CPU µs per operation (median of %d interleaved rounds)." % w["side_rounds"], "",
              "| region, protocol, parser | get hit | get_multi |", "|---|---|---|"]
    for name, ops in res["transport"].items():
        lines.append("| %s | %s | %s |" % (name, fmt(ops["get hit"]["client_us"], 1), fmt(ops["get_multi"]["client_us"], 1)))
    lines += ["", "Reply shapes: CPU µs per read of 20 values (the reply only, no dogpile; the values-only "
              "shape is not a module command, a Lua script stands in for its client cost).", "",
              "| reply | client CPU µs | server CPU µs |", "|---|---|---|"]
    for name, row in res["reply_shapes"].items():
        lines.append("| %s | %s | %s |" % (name, fmt(row["client_us"], 1), fmt(row["server_us"], 1)))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--report"]:
        # The tables again from python_results.json, without running anything.
        saved = json.loads((HERE / "python_results.json").read_text())
        saved["targets"] = targets(saved["operations"], saved["memory"])
        (HERE / "python_results.json").write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
        (HERE / "python_results.md").write_text(markdown(saved))
    else:
        main()
