"""redis_calc.hstore_sentinel against a real primary, its replica and three
sentinels (redis-server --sentinel), the module on both servers."""

import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import redis_calc  # noqa: F401  (registers the backends)
from redis_server import wait_until

TEMPLATE = ["a", "bb", "ccc", ["meta", ["x", "y"]], "name"]


def region_for(setup, **extra):
    arguments = {
        "sentinels": setup.sentinel_addresses(),
        "service_name": setup.service,
        "redis_expiration_time": 3600,
        "calc_template": "perms",
        "calc_template_definition": TEMPLATE,
        "socket_timeout": 5,
    }
    arguments.update(extra)
    return make_region().configure("redis_calc.hstore_sentinel", arguments=arguments)


def value(key, salt=0):
    n = sum(map(ord, "%s/%s" % key)) + salt
    return {"a": n % 2 == 0, "bb": n % 3 == 0, "ccc": None, "meta": {"x": n / 7, "y": n}, "name": "ü-%d" % n}


def replicated(setup):
    assert setup.primary.client().execute_command("WAIT", 1, 5000) == 1


def test_reads_go_to_the_primary_unless_replica_reads_are_asked_for(sentinel_setup):
    setup = sentinel_setup
    region = region_for(setup)
    from_replicas = region_for(setup, read_from_replicas=True)
    key = ("calculated-a|1", "42")
    region.set(key, value(key))
    stored = setup.primary.client().hget(*key)
    replicated(setup)
    assert from_replicas.get(key) == value(key)

    # A logout purges the value on the primary; a lagging replica still holds
    # it (written back there by hand, as if the purge had not arrived yet).
    region.delete(key)
    replicated(setup)
    replica = setup.replica.client()
    replica.config_set("replica-read-only", "no")
    try:
        replica.hset(key[0], key[1], stored)
        assert from_replicas.get(key) == value(key)  # the stale value
        assert region.get(key) is NO_VALUE
        assert region.get_multi([key]) == [NO_VALUE]
        assert region.get_or_create(key, lambda: value(key, 1)) == value(key, 1)
    finally:
        replica.delete(key[0])
        replica.config_set("replica-read-only", "yes")


def test_after_a_failover_the_region_reads_and_writes_the_promoted_replica(sentinel_setup):
    # Last in this module: the primary stays down.
    setup = sentinel_setup
    region = region_for(setup)
    keys = [("calculated-s|%d" % a, str(b)) for a in range(10) for b in range(3)]
    for key in keys:
        region.get_or_create(key, lambda key=key: value(key))
    region.backend.a2bset("a2b-a|5", "a2b-b|6", 5, 6, value(("stash", 6)))
    replicated(setup)

    setup.primary.kill()
    wait_until("the sentinels to promote the replica", lambda: setup.current_primary() is setup.replica)
    wait_until("the region to read from the new primary",
               lambda: region.get(keys[0]) == value(keys[0]), seconds=20, interval=0.1)
    assert setup.replica.role() == "master"

    # The cached values, none created again.
    assert region.get_multi(keys) == [value(key) for key in keys]
    assert region.get_or_create_multi(keys, lambda *ks: pytest.fail("cached")) == [value(k) for k in keys]
    assert region.backend.get_stashed("a2b-b|6", "5") == value(("stash", 6))

    # New values are written there, under the lock, and purges run there.
    cold = ("calculated-s|new", "1")
    assert region.get_or_create(cold, lambda: value(cold)) == value(cold)
    promoted = setup.replica.client()
    assert promoted.hexists(*cold)
    assert 0 < promoted.ttl(cold[0]) <= 3600
    assert region.backend.purgea("a2b-a|5", "a2b-b|", 5) == 1
    assert promoted.exists("a2b-a|5", "a2b-b|6") == 0
