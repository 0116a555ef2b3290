"""Templates in production: restarts, deploys that change a definition, two
definitions side by side, and the parent's three hash-expiry modes."""

import time

import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

from redis_calc.packing import fingerprint

V1 = ["a", "bb", "ccc"]


def region_for(server, definition=V1, **extra):
    arguments = {
        "host": "127.0.0.1",
        "port": server.port,
        "redis_expiration_time": 3600,
        "calc_template": "perms",
        "calc_template_definition": definition,
    }
    arguments.update(extra)
    return make_region().configure("redis_calc.hstore", arguments=arguments)


def flags(definition, seed=0):
    """A dict whose values tell the names apart: a swap cannot go unseen."""
    out = {}
    for entry in definition:
        if isinstance(entry, str):
            out[entry] = "%s-%d" % (entry, seed)
        else:
            name, sub = entry
            out[name] = flags(sub, seed)
    return out


class Creator:
    def __init__(self, definition, seed=1):
        self.calls = 0
        self.definition, self.seed = definition, seed

    def __call__(self, *keys):
        self.calls += 1
        return flags(self.definition, self.seed)

    def many(self, *keys):
        self.calls += 1
        return [flags(self.definition, self.seed) for _ in keys]


def test_the_template_is_registered_under_its_fingerprint_with_the_safe_policy(server):
    region_for(server)
    client = server.client()
    # Through the container form, the one cluster clients accept.
    stats = client.info("commandstats")
    assert stats["cmdstat_calc.template|set"]["calls"] >= 1
    assert "cmdstat_calc.template.set" not in stats
    name = "perms:%s" % fingerprint(V1).hex()
    info = client.execute_command("CALC.TEMPLATE.INFO", name)
    if isinstance(info, list):  # RESP2
        info = dict(zip(info[0::2], info[1::2]))
    assert info[b"onmismatch"] == b"NIL"
    assert info[b"fingerprint"] == fingerprint(V1).hex().encode()
    assert info[b"fingerprint-required"] in (1, True)


def test_a_restart_without_persistence_registers_the_template_again(server):
    region = region_for(server)
    key = ("calculated-a|1", "42")
    region.set(key, flags(V1))
    server.restart()  # data and templates are gone
    creator = Creator(V1)
    assert region.get_or_create(key, creator) == flags(V1, 1)
    assert creator.calls == 1
    assert any(n.startswith(b"perms:") for n in server.client().execute_command("CALC.TEMPLATE.LIST"))
    assert region.get(key) == flags(V1, 1)

    server.restart()
    keys = [("calculated-a|1", "1"), ("calculated-a|2", "2")]
    assert region.get_or_create_multi(keys, creator.many) == [flags(V1, 1)] * 2
    assert creator.calls == 2
    server.restart()
    assert region.get_multi(keys) == [NO_VALUE, NO_VALUE]
    assert region.get(keys[0]) is NO_VALUE


@pytest.mark.parametrize(
    "v2",
    [
        ["a", "bb", "ccc", "dddd"],  # a name added
        ["bb", "a", "ccc"],  # reordered: same count, same names
        ["a", "bb", "cc"],  # renamed
        ["a", "bb", "admin"],  # one name replaced by another
        ["a", "bb", ["ccc", ["x"]]],  # a flag became a nested dict
    ],
)
def test_a_changed_definition_reads_old_values_as_misses_never_under_other_names(server, v2):
    old = region_for(server, V1)
    keys = [("calculated-a|1", str(b)) for b in range(3)]
    old.set_multi({k: flags(V1) for k in keys})

    new = region_for(server, v2)
    assert new.get(keys[0]) is NO_VALUE
    assert new.get_multi(keys) == [NO_VALUE] * 3
    creator = Creator(v2)
    assert new.get_or_create(keys[0], creator) == flags(v2, 1)
    assert new.get_or_create_multi(keys[1:], creator.many) == [flags(v2, 1)] * 2
    assert creator.calls == 2
    assert new.get_multi(keys) == [flags(v2, 1)] * 3


def test_two_definitions_side_by_side_never_break_each_other(server):
    v1, v2 = region_for(server, V1), region_for(server, ["bb", "a", "ccc"])
    client = server.client()
    before = client.execute_command("CALC.TEMPLATE.LIST")
    assert len(before) == 2  # one template per definition, neither overwritten
    key = ("calculated-a|1", "7")
    for round_ in range(3):
        v1.set(key, flags(V1, round_))
        assert v1.get(key) == flags(V1, round_)
        assert v2.get(key) is NO_VALUE  # written under the other definition
        v2.set(key, flags(["bb", "a", "ccc"], round_))
        assert v1.get(key) is NO_VALUE
        assert v2.get(key) == flags(["bb", "a", "ccc"], round_)
        # A new instance of either version registers the same name again.
        region_for(server, V1)
        assert client.execute_command("CALC.TEMPLATE.LIST") == before


def test_the_stash_purge_clears_values_of_every_definition(server):
    v1, v2 = region_for(server, V1), region_for(server, ["a", "bb", "dddd"])
    v1.backend.a2bset("a2b-a|1", "a2b-b|7", 1, 7, flags(V1))
    v2.backend.a2bset("a2b-a|1", "a2b-b|8", 1, 8, flags(["a", "bb", "dddd"]))
    v2.backend.a2bset("a2b-a|2", "a2b-b|8", 2, 8, flags(["a", "bb", "dddd"]))
    assert v1.backend.get_stashed("a2b-b|8", "1") is None  # the other definition's
    assert v1.backend.purgea("a2b-a|1", "a2b-b|", 1) == 2
    client = server.client()
    assert not client.exists("a2b-a|1", "a2b-b|7")
    assert client.hkeys("a2b-b|8") == [b"2"]


def ttl_cases(server, region, key):
    """(ttl after creation, after a later write once the TTL has run down)."""
    client = server.client()
    region.set(key, flags(V1))
    first = client.pttl(key[0])
    time.sleep(1.1)
    region.set((key[0], "later"), flags(V1))
    region.set_multi({(key[0], "m1"): flags(V1), (key[0], "m2"): flags(V1)})
    return first, client.pttl(key[0])


@pytest.mark.parametrize("template", [True, False], ids=["template-region", "plain-region"])
def test_redis_expiration_time_hash_behaves_as_the_parent_documents(server, template):
    def make(mode):
        extra = {"redis_expiration_time": 10, "redis_expiration_time_hash": mode}
        if not template:
            extra.update(calc_template=None, calc_template_definition=None)
            arguments = {"host": "127.0.0.1", "port": server.port, **extra}
            arguments.pop("calc_template"), arguments.pop("calc_template_definition")
            return make_region().configure("redis_calc.hstore", arguments=arguments)
        return region_for(server, **extra)

    # None (default): on creation only, never prolonged.
    first, later = ttl_cases(server, make(None), ("h-none", "1"))
    assert 9000 < first <= 10000 and later < first - 1000
    # False: never.
    assert ttl_cases(server, make(False), ("h-false", "1")) == (-1, -1)
    # True: on every write, so the later writes put it back to the full TTL.
    first, later = ttl_cases(server, make(True), ("h-true", "1"))
    assert 9000 < first <= 10000 and 9000 < later <= 10000
