"""The design note's flow through redis_calc.hstore, against a real server."""

import json
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import redis_calc
from redis_calc import pack_values, unpack_values
from redis_server import calc_region

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import design_note  # noqa: E402

TEMPLATE = ["a", "bb", "ccc", ["meta", ["x", "y"]], "name"]


def region_for(server, **extra):
    return calc_region(server.port, TEMPLATE, **extra)


def sample(i=0):
    return {"a": True, "bb": False, "ccc": None, "meta": {"x": 3.9, "y": i}, "name": "ü-%d" % i}


def commandstats(client):
    return {k[len("cmdstat_"):]: v for k, v in client.info("commandstats").items()}


def test_cold_key_runs_the_creator_once_under_racing_threads(server):
    region = region_for(server)
    calls = []

    def creator():
        calls.append(1)
        time.sleep(0.3)
        return sample(1)

    results = [None] * 8

    def worker(i):
        results[i] = region.get_or_create(("calculated-a|1", "42"), creator)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(r == sample(1) for r in results)


def test_value_read_back_equals_the_creators_dict(server):
    region = region_for(server)
    assert region.get_or_create(("calculated-a|1", "42"), lambda: sample(7)) == sample(7)
    # A fresh region (another process) reads it from Redis, decoded by the server.
    assert region_for(server).get(("calculated-a|1", "42")) == sample(7)
    stored = server.client().hget("calculated-a|1", "42")
    # The template's fingerprint (6 bytes), then the values alone.
    marker, values = list(msgpack.Unpacker(__import__("io").BytesIO(stored)))
    assert marker == msgpack.ExtType(0x63, redis_calc.packing.fingerprint(TEMPLATE))
    assert values == [True, False, None, [3.9, 7], "ü-7"]
    assert len(stored) < 40


def test_a_later_field_never_prolongs_the_hash_ttl(server):
    region = region_for(server, redis_expiration_time=100)
    client = server.client()
    region.set(("calculated-a|1", "1"), sample())
    expire_at = client.pexpiretime("calculated-a|1")
    assert expire_at > 0
    time.sleep(0.05)
    region.set(("calculated-a|1", "2"), sample())
    region.set_multi({("calculated-a|1", "3"): sample(), ("calculated-a|1", "4"): sample()})
    assert client.pexpiretime("calculated-a|1") == expire_at
    assert client.hlen("calculated-a|1") == 4


def test_get_multi_over_many_fields_is_one_round_trip(server, monkeypatch):
    region = region_for(server)
    keys = [("calculated-a|%d" % (i % 3), str(i)) for i in range(30)]
    region.set_multi({k: sample(i) for i, k in enumerate(keys)})
    client = server.client()
    client.config_resetstat()

    import redis.connection

    # A round trip is one write to the socket, whatever layer sends it.
    round_trips = []
    original = redis.connection.AbstractConnection.send_packed_command
    monkeypatch.setattr(
        redis.connection.AbstractConnection, "send_packed_command",
        lambda self, *a, **k: round_trips.append(1) or original(self, *a, **k),
    )
    values = region.get_multi(keys + [("calculated-a|9", "missing")])
    assert len(round_trips) == 1
    assert values[:-1] == [sample(i) for i in range(30)]
    assert values[-1] is NO_VALUE
    stats = commandstats(client)
    # The packed bytes, one HMGET per hash, decoded in the client.
    assert stats["hmget"]["calls"] == 4
    assert "calc.mgetdict" not in stats and "hget" not in stats


def test_writes_are_one_atomic_command(server):
    region = region_for(server)
    client = server.client()
    client.config_resetstat()
    region.set(("calculated-a|5", "1"), sample())
    stats = commandstats(client)
    assert stats["calc.hsetex"]["calls"] == 1
    assert set(stats) <= {"calc.hsetex", "config|resetstat", "info"}


def test_logout_purge_clears_both_sides(server):
    cache = design_note.CalculatedDictCache(design_note.make_permissions_region(server.port))
    client = server.client()
    # Each stash adds one field on each side.
    assert [cache.stash(a, b) for a, b in [(1, 7), (1, 8), (2, 7)]] == [2, 2, 2]
    assert cache.logout(1) == 2
    assert not client.exists("a2b-a|1", "a2b-b|8")
    assert client.hkeys("a2b-b|7") == [b"2"]
    assert client.hkeys("a2b-a|2") == [b"7"]
    # The stashed values decode against the region's template.
    assert cache.region.backend.get_stashed("a2b-a|2", "7") == design_note.calculate_dict(2, 7)


def test_the_design_notes_example_runs(server):
    cache = design_note.CalculatedDictCache(design_note.make_permissions_region(server.port))
    assert cache.get(1, 42) == design_note.calculate_dict(1, 42)
    assert cache.get_many(1, [42, 43]) == [design_note.calculate_dict(1, 42), design_note.calculate_dict(1, 43)]


def test_plain_regions_write_through_hsetex_too(server):
    region = make_region().configure(
        "redis_calc.hstore",
        arguments={"host": "127.0.0.1", "port": server.port, "redis_expiration_time": 100},
    )
    client = server.client()
    client.config_resetstat()
    region.set(("h", "f"), {"any": ["pickled", 1]})
    region.set(("h", "g"), "second")
    assert region.get(("h", "f")) == {"any": ["pickled", 1]}
    assert commandstats(client)["calc.hsetex"]["calls"] == 2
    assert 0 < client.ttl("h") <= 100
    # String keys keep the hstore backend's behaviour.
    region.set("plain", 5)
    assert region.get("plain") == 5


def test_values_from_dogpiles_own_serializer_decode_in_the_server(server):
    # A region using dogpile's serializer path stores `{"ct":..,"v":..}|` + payload.
    region = make_region(
        serializer=lambda payload: pack_values(payload, TEMPLATE),
        deserializer=lambda raw: msgpack.unpackb(raw),
    ).configure("redis_calc.hstore", arguments={"host": "127.0.0.1", "port": server.port, "redis_expiration_time": 100})
    region.set(("h", "f"), sample(3))
    client = server.client(protocol=3)
    client.execute_command("CALC.TEMPLATE.SET", "perms", json.dumps(TEMPLATE))
    assert client.hget("h", "f").startswith(b'{"ct"')
    assert unpack_values(client.execute_command("CALC.GETDICT", "h", "f", "perms")) == sample(3)


def test_template_regions_refuse_string_keys(server):
    region = region_for(server)
    with pytest.raises(TypeError):
        region.set("not-a-tuple", sample())


def test_the_backend_is_registered_by_name():
    assert redis_calc.RedisCalcHstoreBackend.__name__ == "RedisCalcHstoreBackend"
