"""Template regions read the packed bytes and decode them in the client: the
same dicts the module's own decoder answers, the same misses where the module
answers nil (ONMISMATCH NIL, FINGERPRINT REQUIRED), and the miss path's round
trips folded into the distributed lock's."""

import json
import threading

import msgpack
import pytest
import redis
import redis.connection
from dogpile.cache.api import NO_VALUE
from redis._parsers import _RESP3Parser
from redis.exceptions import ResponseError

import redis_calc
from redis_calc import pack_values, unpack_values
from redis_calc.packing import fingerprint, marker
from redis_server import calc_region

FLAT = ["a", "bb", "ccc"]
NESTED = ["a", "bb", ["meta", ["x", "y", ["deep", ["z"]]]], "name"]


def region_for(server, definition, **extra):
    return calc_region(server.port, definition, **extra)


def server_decode(server, definition, name, field):
    """What the module's decoder answers for the same bytes, under the
    template the backend registered."""
    registered = "perms:%s" % fingerprint(definition).hex()
    # redis-py's own RESP3 parser: hiredis answers big numbers as text.
    pool = redis.ConnectionPool(host="127.0.0.1", port=server.port, protocol=3, parser_class=_RESP3Parser)
    client = redis.Redis(connection_pool=pool)
    try:
        reply = client.execute_command("CALC.GETDICT", name, field, registered)
    finally:
        client.close()
        pool.disconnect()
    return None if reply is None else unpack_values(reply)


@pytest.fixture
def round_trips(monkeypatch):
    """Counts writes to a socket: one per round trip, whichever layer sends."""
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(
        redis.connection.AbstractConnection, "send_packed_command",
        lambda self, *a, **k: sent.append(1) or original(self, *a, **k),
    )
    return sent


FLAT_VALUES = [
    {"a": True, "bb": False, "ccc": None},
    {"a": 0, "bb": -1, "ccc": 2**64 - 1},
    {"a": -(2**63), "bb": 3.9, "ccc": -0.0},
    {"a": 1e300, "bb": float("inf"), "ccc": 2.5e-308},
    {"a": "", "bb": "ü-€-😀", "ccc": "quote\" back\\slash\nnl\x00nul"},
    {"a": [1, [2, None]], "bb": {"k": "v", "n": [True]}, "ccc": []},
]


@pytest.mark.parametrize("value", FLAT_VALUES, ids=range(len(FLAT_VALUES)))
def test_flat_values_read_back_as_written_and_as_the_module_decodes_them(server, value):
    region = region_for(server, FLAT)
    key = ("calculated-a|1", "42")
    region.set(key, value)
    assert region.get(key) == value
    assert region.get_multi([key, ("calculated-a|1", "missing")]) == [value, NO_VALUE]
    assert server_decode(server, FLAT, *key) == value


def test_nested_templates_read_back_as_written_and_as_the_module_decodes_them(server):
    region = region_for(server, NESTED)
    values = {
        str(i): {"a": i, "bb": 3.9 * i, "meta": {"x": "x-%d" % i, "y": None, "deep": {"z": [i, i]}}, "name": "ü"}
        for i in range(5)
    }
    region.set_multi({("calculated-a|2", f): v for f, v in values.items()})
    keys = [("calculated-a|2", f) for f in values]
    assert region.get_multi(keys) == list(values.values())
    for f, v in values.items():
        assert region.get(("calculated-a|2", f)) == v
        assert server_decode(server, NESTED, "calculated-a|2", f) == v


def test_strings_and_bytes_with_calc_decode_strings_both_ways(server):
    value = {"a": "text ü", "bb": b"\xff\x00 bytes", "ccc": b"utf-8 bytes"}
    as_text = region_for(server, FLAT)
    as_bytes = region_for(server, FLAT, calc_decode_strings=False)
    key = ("calculated-a|3", "1")
    as_text.set(key, value)
    # msgpack keeps str and bin apart, so the client gives back what was written.
    assert as_text.get(key) == value
    assert as_bytes.get(key) == {"a": "text ü".encode(), "bb": b"\xff\x00 bytes", "ccc": b"utf-8 bytes"}
    assert as_bytes.get_multi([key]) == [as_bytes.get(key)]
    assert as_text.backend.get_stashed("calculated-a|3", "1") == value


MARK = marker(FLAT)
GOOD = msgpack.packb([1, 2, 3])
MISMATCHES = {
    "another definition's fingerprint": marker(["a", "bb", "cc"]) + GOOD,
    "no fingerprint (the design note's raw values)": GOOD,
    "truncated": MARK + GOOD[:-1],
    "cut inside the marker": MARK[:4],
    "wrong count": MARK + msgpack.packb([1, 2]),
    "too many values": MARK + msgpack.packb([1, 2, 3, 4]),
    "trailing bytes": MARK + GOOD + b"\xc0",
    "not an array": MARK + msgpack.packb({"a": 1}),
    "reserved byte 0xc1": MARK + b"\x93\x01\x02\xc1",
    "an extension type": MARK + msgpack.packb([1, 2, msgpack.ExtType(5, b"x")]),
    "empty": b"",
    "a header that is not dogpile's": b"{not json|" + MARK + GOOD,
    "dogpile's header before an unmarked value": b'{"ct": 1.5, "v": 2}|' + GOOD,
}


@pytest.mark.parametrize("stored", list(MISMATCHES.values()), ids=list(MISMATCHES))
def test_a_value_the_module_reads_as_nil_is_a_miss_that_get_or_create_regenerates(server, stored):
    region = region_for(server, FLAT)
    name, field = "calculated-a|4", "9"
    server.client().hset(name, field, stored)
    assert server_decode(server, FLAT, name, field) is None  # the module agrees
    assert region.get((name, field)) is NO_VALUE
    assert region.get_multi([(name, "other"), (name, field)]) == [NO_VALUE, NO_VALUE]
    calls = []
    fresh = {"a": 1, "bb": 2, "ccc": 3}
    assert region.get_or_create((name, field), lambda: calls.append(1) or fresh) == fresh
    assert calls == [1]
    assert region.get((name, field)) == fresh
    assert server.client().hget(name, field) == MARK + GOOD


def test_a_nested_entry_of_the_wrong_shape_is_a_miss(server):
    region = region_for(server, NESTED)
    name = "calculated-a|5"
    mark = marker(NESTED)
    good = [1, 2, ["x", "y", ["z"]], "n"]
    shapes = {
        "ok": good,
        "sub-array short": [1, 2, ["x", "y"], "n"],
        "sub-sub-array long": [1, 2, ["x", "y", ["z", "z"]], "n"],
        "sub entry not an array": [1, 2, None, "n"],
        "sub entry a map": [1, 2, {"x": 1}, "n"],
    }
    server.client().hset(name, mapping={k: mark + msgpack.packb(v) for k, v in shapes.items()})
    expected = {"a": 1, "bb": 2, "meta": {"x": "x", "y": "y", "deep": {"z": "z"}}, "name": "n"}
    got = region.get_multi([(name, k) for k in shapes])
    assert got == [expected] + [NO_VALUE] * 4
    for k in shapes:
        assert server_decode(server, NESTED, name, k) == (expected if k == "ok" else None)


def test_text_that_is_not_utf8_reads_as_bytes_as_in_the_modules_reply(server):
    region = region_for(server, FLAT)
    name = "calculated-a|14"
    server.client().hset(name, mapping={
        "1": MARK + b"\x93\xa2\xff\xfe\xa2ok\x92\xa1x\xc4\x01y",
        "2": MARK + b"\x93\xa2\xff\xfe\x01",  # and a wrong count: still a miss
    })
    expected = {"a": b"\xff\xfe", "bb": "ok", "ccc": ["x", "y"]}
    assert region.get((name, "1")) == expected
    assert server_decode(server, FLAT, name, "1") == expected
    assert region.get((name, "2")) is NO_VALUE
    assert server_decode(server, FLAT, name, "2") is None


def test_dogpiles_metadata_header_is_skipped_as_the_module_skips_it(server):
    # What a region on dogpile's serializer path stores when its serializer
    # writes marked values (the backend itself writes none).
    region = region_for(server, FLAT)
    name, field = "calculated-a|6", "1"
    server.client().hset(name, field, b'{"ct": 1712345678.25, "v": 2}|' + MARK + GOOD)
    assert region.get((name, field)) == {"a": 1, "bb": 2, "ccc": 3}
    assert server_decode(server, FLAT, name, field) == {"a": 1, "bb": 2, "ccc": 3}


def test_get_multi_across_hashes_in_order_with_repeats_is_one_round_trip(server, round_trips):
    region = region_for(server, FLAT)
    value = lambda h, f: {"a": h, "bb": f, "ccc": "%d-%d" % (h, f)}  # noqa: E731
    region.set_multi({("calculated-a|%d" % h, str(f)): value(h, f) for h in range(4) for f in range(3)})
    keys = [("calculated-a|%d" % (i % 4), str(i % 3)) for i in range(11)]
    keys += [("calculated-a|9", "0"), keys[0], ("calculated-a|1", "nope")]
    client = server.client()
    client.config_resetstat()
    round_trips.clear()
    got = region.get_multi(keys)
    assert len(round_trips) == 1
    expected = [value(i % 4, i % 3) for i in range(11)] + [NO_VALUE, value(0, 0), NO_VALUE]
    assert got == expected
    stats = client.info("commandstats")
    assert stats["cmdstat_hmget"]["calls"] == 5  # one per hash, calculated-a|9 included


def test_a_hit_is_one_round_trip_and_a_miss_three(server, round_trips):
    region = region_for(server, FLAT)
    key = ("calculated-a|7", "1")
    region.get_or_create(("calculated-a|7", "warm"), lambda: {"a": 0, "bb": 0, "ccc": 0})  # loads the release script
    round_trips.clear()
    # The read; SET NX with dogpile's re-check; the write with the release.
    assert region.get_or_create(key, lambda: {"a": 1, "bb": 2, "ccc": 3}) == {"a": 1, "bb": 2, "ccc": 3}
    assert len(round_trips) == 3
    round_trips.clear()
    assert region.get(key) == {"a": 1, "bb": 2, "ccc": 3}
    assert region.get_or_create(key, lambda: pytest.fail("a hit never creates")) == {"a": 1, "bb": 2, "ccc": 3}
    assert len(round_trips) == 2
    client = server.client()
    assert client.keys("_lok.*") == []
    assert 3500 < client.ttl("calculated-a|7") <= 3600


def test_the_value_is_written_before_the_lock_is_released_and_its_ttl_rule_holds(server):
    region = region_for(server, FLAT, redis_expiration_time=100)
    client = server.client()
    client.execute_command("SCRIPT", "FLUSH")  # the release script must load itself again
    monitor_seen = []

    def creator():
        # Under the lock: it is held, and nothing is written yet.
        monitor_seen.append((client.keys("_lok.*"), client.hget("calculated-a|8", "1")))
        return {"a": 1, "bb": 2, "ccc": 3}

    region.set(("calculated-a|8", "0"), {"a": 0, "bb": 0, "ccc": 0})
    expire_at = client.pexpiretime("calculated-a|8")
    assert region.get_or_create(("calculated-a|8", "1"), creator) == {"a": 1, "bb": 2, "ccc": 3}
    assert monitor_seen == [([b"_lok.calculated-a|8,1"], None)]
    assert client.keys("_lok.*") == []
    assert region.get(("calculated-a|8", "1")) == {"a": 1, "bb": 2, "ccc": 3}
    assert client.pexpiretime("calculated-a|8") == expire_at  # a new field never prolongs the TTL


def test_a_write_that_fails_under_the_lock_raises_and_still_releases_it(server):
    region = region_for(server, FLAT)
    client = server.client()

    def creator():
        client.set("calculated-a|10", "now a string")  # the write will be WRONGTYPE
        return {"a": 1, "bb": 2, "ccc": 3}

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        region.get_or_create(("calculated-a|10", "1"), creator)
    assert client.keys("_lok.*") == []


def test_regions_in_two_processes_create_a_cold_value_once(server):
    # Two regions with their own pools and locks: what two processes see.
    regions = [region_for(server, FLAT, lock_sleep=0.01) for _ in range(2)]
    calls = []
    barrier = threading.Barrier(6)

    def creator():
        calls.append(1)
        threading.Event().wait(0.2)
        return {"a": 1, "bb": 2, "ccc": 3}

    results = []

    def worker(i):
        barrier.wait()
        results.append(regions[i % 2].get_or_create(("calculated-a|11", "1"), creator))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert results == [{"a": 1, "bb": 2, "ccc": 3}] * 6


def test_get_or_create_multi_and_sets_under_a_held_lock_are_written_at_once(server):
    region = region_for(server, FLAT)
    client = server.client()
    keys = [("calculated-a|12", str(i)) for i in range(3)]
    made = region.get_or_create_multi(keys, lambda *ks: [{"a": k[1], "bb": 0, "ccc": 0} for k in ks])
    assert made == [{"a": str(i), "bb": 0, "ccc": 0} for i in range(3)]
    assert region.get_multi(keys) == made
    assert client.keys("_lok.*") == []

    # A user holding the mutex by hand: a set without dogpile's re-check is
    # written at once, and a read after it sees it.
    mutex = region.backend.get_mutex(keys[0])
    assert mutex.acquire()
    region.set(keys[0], {"a": "by hand", "bb": 1, "ccc": 1})
    assert client.hget(*keys[0]) == region.backend.calc_codec.pack({"a": "by hand", "bb": 1, "ccc": 1})
    assert region.get(keys[0]) == {"a": "by hand", "bb": 1, "ccc": 1}
    mutex.release()

    # dogpile's order (acquire, re-check, set, release): the write waits for the
    # release, but a read of the key in between still sees it.
    fresh = ("calculated-a|12", "fresh")
    mutex = region.backend.get_mutex(fresh)
    assert mutex.acquire()
    assert region.get(fresh) is NO_VALUE
    region.set(fresh, {"a": 1, "bb": 1, "ccc": 1})
    assert client.hget(*fresh) is None
    assert region.get(fresh) == {"a": 1, "bb": 1, "ccc": 1}
    region.set(fresh, {"a": 2, "bb": 2, "ccc": 2})
    region.delete(fresh)  # sends the waiting write first, then deletes
    assert client.hget(*fresh) is None
    region.set(fresh, {"a": 3, "bb": 3, "ccc": 3})
    mutex.release()
    assert region.get(fresh) == {"a": 3, "bb": 3, "ccc": 3}
    assert client.keys("_lok.*") == []


def test_the_codec_packs_what_pack_values_packs(server):
    region = region_for(server, NESTED)
    value = {"a": 1, "bb": None, "meta": {"x": 1.5, "y": "ü", "deep": {"z": [1]}}, "name": b"\x00"}
    region.set(("calculated-a|13", "1"), value)
    assert server.client().hget("calculated-a|13", "1") == pack_values(value, NESTED)
    with pytest.raises(redis_calc.TemplateMismatch, match="missing 'bb', 'meta', 'name'"):
        region.set(("calculated-a|13", "2"), {"a": 1})
    assert json.loads(server.client().execute_command(
        "CALC.TEMPLATE.GET", "perms:%s" % fingerprint(NESTED).hex())) == NESTED
