"""redis_calc.hstore_cluster against a real Redis Cluster (three primaries,
three replicas, the module on each), with the design note's keys as they are:
no hash tags, so hashes, stashes and purges span every node."""

import threading
import time

import pytest
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE
from redis.exceptions import NoPermissionError, RedisClusterException, RedisError, ResponseError

import redis_calc
from redis_server import wait_until

TEMPLATE = ["a", "bb", "ccc", ["meta", ["x", "y"]], "name"]


def region_for(cluster, **extra):
    arguments = {
        "startup_nodes": cluster.startup_nodes(),
        "redis_expiration_time": 3600,
        "distributed_lock": True,
        "thread_local_lock": False,
        "calc_template": "perms",
        "calc_template_definition": TEMPLATE,
    }
    arguments.update(extra)
    return make_region().configure("redis_calc.hstore_cluster", arguments=arguments)


def value(key, salt=0):
    """A deterministic dict per key, so any value read back can be checked."""
    n = sum(map(ord, "%s/%s" % key)) + salt
    return {"a": n % 2 == 0, "bb": n % 3 == 0, "ccc": None, "meta": {"x": n / 7, "y": n}, "name": "ü-%d" % n}


def by_primary(cluster, names):
    """{port of the primary serving it: [names]}."""
    grouped = {}
    for name in names:
        grouped.setdefault(cluster.primary_for(name).port, []).append(name)
    return grouped


def stats(node):
    return node.client().info("commandstats")


def calls(node, command):
    return stats(node).get("cmdstat_" + command, {}).get("calls", 0)


def test_the_region_api_over_hashes_on_every_primary(cluster):
    region = region_for(cluster)
    keys = [("calculated-a|%d" % a, str(b)) for a in range(24) for b in (1, 2)]
    hashes = sorted({name for name, _ in keys})
    created = []
    for key in keys:
        assert region.get_or_create(key, lambda key=key: created.append(key) or value(key)) == value(key)
    assert created == keys
    # Spread over every primary, each hash on exactly one of them.
    spread = by_primary(cluster, hashes)
    assert len(spread) == 3 and sorted(sum(spread.values(), [])) == hashes
    client = cluster.client()
    for name in hashes:
        assert 0 < client.ttl(name) <= 3600

    # Another process (configured by url, as dogpile's redis_cluster allows)
    # reads them back, one by one and all at once.
    other = region_for(cluster, startup_nodes=None, url="redis://127.0.0.1:%d/0" % cluster.nodes[1].port)
    assert [other.get(key) for key in keys] == [value(key) for key in keys]
    assert other.get_multi(keys) == [value(key) for key in keys]
    assert other.get_or_create_multi(keys, lambda *ks: pytest.fail("cached")) == [value(k) for k in keys]

    other.set_multi({key: value(key, 1) for key in keys})
    assert region.get_multi(keys) == [value(key, 1) for key in keys]
    other.set(keys[0], value(keys[0], 2))
    assert region.get(keys[0]) == value(keys[0], 2)

    region.delete(keys[0])
    region.delete_multi(keys[1:6])
    assert region.get_multi(keys[:7]) == [NO_VALUE] * 6 + [value(keys[6], 1)]
    assert region.get(keys[0]) is NO_VALUE


def test_a_region_without_a_template_keeps_dogpiles_serializer_across_slots(cluster):
    region = region_for(cluster, calc_template=None, calc_template_definition=None)
    client = cluster.client()
    hashed = [("plain-h|%d" % i, "f") for i in range(8)]
    strings = ["plain-s|%d" % i for i in range(8)]
    keys = hashed + strings
    assert len(by_primary(cluster, [k[0] for k in hashed] + strings)) == 3
    region.set_multi({key: {"any": [str(key), 1]} for key in keys})
    assert region.get_multi(keys) == [{"any": [str(key), 1]} for key in keys]
    assert all(0 < client.ttl(name) <= 3600 for name in [k[0] for k in hashed] + strings)
    assert region.get_or_create(("plain-h|9", "f"), lambda: [9]) == [9]
    region.delete_multi(keys[::2])
    assert region.get_multi(keys[:4]) == [NO_VALUE, {"any": [str(keys[1]), 1]}, NO_VALUE, {"any": [str(keys[3]), 1]}]


def test_the_lock_lives_in_its_hashs_slot_and_a_miss_stays_on_one_node(cluster):
    region = region_for(cluster)
    # A hash on each primary.
    owners = {}
    for n in range(100):
        name = "calculated-a|lock%d" % n
        owners.setdefault(cluster.primary_for(name).port, name)
        if len(owners) == 3:
            break
    for name in owners.values():
        # A first miss on the node loads the lock's release script there.
        region.get_or_create((name, "warm"), lambda: value((name, "warm")))
    for node in cluster.primaries():
        node.client().config_resetstat()
    for name in owners.values():
        key = (name, "42")
        assert region.get_or_create(key, lambda: value(key)) == value(key)
    # Each miss: the read, the SET NX with its re-check, the write with the
    # release, all on its hash's node; no command sent to a node that
    # answered MOVED (a round trip more).
    for node in cluster.primaries():
        assert calls(node, "set") == 1 and calls(node, "evalsha") == 1
        assert calls(node, "calc.hsetex") == 1 and calls(node, "hget") == 2
        assert sum(s.get("rejected_calls", 0) for s in stats(node).values()) == 0

    # And it is a lock: racing processes run the creator once.
    cold = ("calculated-a|race", "7")
    created = []

    def creator():
        created.append(1)
        time.sleep(0.3)
        return value(cold)

    results = [None] * 6
    regions = [region_for(cluster) for _ in results]

    def worker(i):
        results[i] = regions[i].get_or_create(cold, creator)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(created) == 1
    assert results == [value(cold)] * len(results)


def test_the_stash_and_a_logout_purge_across_every_node(cluster):
    backend = region_for(cluster).backend
    client = cluster.client()
    ids = range(36)
    for i in ids:
        assert backend.a2bset("a2b-a|42", "a2b-b|%d" % i, 42, i, value(("b", i))) == 2
    # Another user shares a third of the b-hashes; the purge leaves them theirs.
    for i in ids[::3]:
        backend.a2bset("a2b-a|43", "a2b-b|%d" % i, 43, i, value(("b", i)))
    bkeys = ["a2b-b|%d" % i for i in ids]
    assert len(by_primary(cluster, bkeys)) == 3
    assert backend.get_stashed("a2b-a|42", "5") == value(("b", 5))
    assert backend.get_stashed("a2b-b|5", "42") == value(("b", 5))
    assert client.hlen("a2b-a|42") == 36
    assert all(0 < client.ttl(k) <= 3600 for k in bkeys)

    assert backend.purgea("a2b-a|42", "a2b-b|", 42) == 36
    assert client.exists("a2b-a|42") == 0
    assert [client.hexists(k, "42") for k in bkeys] == [False] * 36
    assert [client.hexists(k, "43") for k in bkeys[::3]] == [True] * 12
    assert client.exists(*bkeys[1::3]) == 0  # emptied b-hashes are gone
    assert backend.purgea("a2b-a|42", "a2b-b|", 42) == 0

    # A crash between the stash's two writes leaves an a-side id with no
    # b-side entry: the purge skips it and finishes.
    client.execute_command("CALC.HSETEX", "a2b-a|44", "9", b"v", 100)
    assert backend.purgea("a2b-a|44", "a2b-b|", 44) == 0
    assert client.exists("a2b-a|44") == 0


def test_a_stash_racing_a_purge_is_purged_too(cluster, monkeypatch):
    backend = region_for(cluster).backend
    other = region_for(cluster).backend
    client = cluster.client()
    akey, bkeys = "race-a|1", ["race-b|%d" % i for i in range(12)]
    for i, bkey in enumerate(bkeys):
        backend.a2bset(akey, bkey, 1, i, value(("race", i)))
    # Another process stashes (1, 5) again after the purge removed 1 from
    # race-b|5 and before it drops the ids from the a-hash.
    remove_members = type(backend)._remove_members
    raced = []

    def then_a_stash(self, *args):
        removed = remove_members(self, *args)
        if not raced:
            raced.append(other.a2bset(akey, bkeys[5], 1, 5, value(("race", 5))))
        return removed

    monkeypatch.setattr(type(backend), "_remove_members", then_a_stash)
    a_node = cluster.primary_for(akey)
    a_node.client().config_resetstat()
    assert backend.purgea(akey, "race-b|", 1) == 13
    assert raced == [1]  # the a-side existed, the b-side was written again
    # The stash's a-side write aborted the first EXEC; the steps ran again
    # and removed what it wrote, so no b-side entry outlives the a-hash.
    assert calls(a_node, "exec") == 2
    assert client.exists(akey, *bkeys) == 0


def test_a_region_reads_its_template_from_the_primaries(cluster):
    client = cluster.client()
    client.execute_command("CALC.TEMPLATE", "SET", "shared", '["a","bb"]', target_nodes=client.get_primaries())
    region = region_for(cluster, calc_template="shared", calc_template_definition=None)
    key = ("calculated-shared|1", "2")
    assert region.get_or_create(key, lambda: {"a": 1, "bb": [2]}) == {"a": 1, "bb": [2]}
    assert region_for(cluster, calc_template="shared", calc_template_definition=None).get(key) == {"a": 1, "bb": [2]}


def test_hash_tagged_stashes_take_the_atomic_commands(cluster):
    backend = region_for(cluster).backend
    node = cluster.primary_for("{t}a2b-a|1")
    node.client().config_resetstat()
    for b in range(5):
        backend.a2bset("{t}a2b-a|1", "{t}a2b-b|%d" % b, 1, b, value(("t", b)))
    assert backend.purgea("{t}a2b-a|1", "{t}a2b-b|", 1) == 5
    assert calls(node, "calc.a2bset") == 5 and calls(node, "calc.hsetex") == 0
    assert calls(node, "calc.purgea") == 1 and calls(node, "watch") == 0
    assert node.client().exists("{t}a2b-a|1", *["{t}a2b-b|%d" % b for b in range(5)]) == 0


def test_a_node_that_lost_its_templates_is_still_served(cluster):
    region = region_for(cluster)
    name = region.backend.calc_registered_name
    key = ("calculated-a|lost", "1")
    region.set(key, value(key))
    node = cluster.primary_for(key[0])
    direct = node.client()
    assert direct.execute_command("CALC.TEMPLATE", "DEL", name) == 1
    with pytest.raises(ResponseError, match="^NOTEMPLATE"):
        direct.execute_command("CALC.GETDICT", key[0], key[1], name)

    # Reads decode in the client and writes need no template: still served.
    assert region.get(key) == value(key)
    cold = (key[0], "2")
    assert region.get_or_create(cold, lambda: value(cold)) == value(cold)
    assert region.get_multi([key, cold]) == [value(key), value(cold)]

    # The command after the next connection to the node registers it again,
    # for other readers.
    direct.client_kill_filter(_type="normal", skipme=True)
    wait_until("the region to reconnect and register",
               lambda: region.get(key) == value(key)
               and direct.execute_command("CALC.TEMPLATE", "GET", name) is not None, seconds=10)
    assert direct.execute_command("CALC.GETDICT", key[0], key[1], name) is not None


def test_an_interrupted_purge_raises_and_running_it_again_finishes(cluster):
    user, password = "calc-app", "calc-app-password"
    for node in cluster.nodes:
        if node.alive:
            node.client().execute_command("ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all")
    region = region_for(cluster, connection_kwargs={"username": user, "password": password})
    backend = region.backend
    client = cluster.client()
    akey, ids = "acl-a|77", list(range(36))
    for i in ids:
        backend.a2bset(akey, "acl-b|%d" % i, 77, i, value(("b", i)))
    a_node = cluster.primary_for(akey)
    spread = by_primary(cluster, ["acl-b|%d" % i for i in ids])
    refused = next(n for n in cluster.primaries() if n.port != a_node.port and spread.get(n.port))
    refused_keys = spread[refused.port]
    remote = [str(i).encode() for i in ids if client.keyslot("acl-b|%d" % i) != client.keyslot(akey)]

    # The backend's user may not HDEL on one primary: the purge stops there.
    refused.client().execute_command("ACL", "SETUSER", user, "-hdel")
    try:
        with pytest.raises(redis_calc.PurgeIncomplete) as raised:
            backend.purgea(akey, "acl-b|", 77)
    finally:
        refused.client().execute_command("ACL", "SETUSER", user, "+hdel")
    failed = raised.value
    assert all(isinstance(e, NoPermissionError) for e in failed.errors)
    assert len(failed.errors) == len(refused_keys)
    assert sorted(failed.remaining) == sorted(remote)
    assert failed.removed == len(ids) - len(refused_keys)
    # The a-hash is the record of the work left: every id whose b-hash may
    # still hold the member.
    assert sorted(client.hkeys(akey)) == sorted(remote)
    for i in ids:
        bkey = "acl-b|%d" % i
        assert client.hexists(bkey, "77") == (bkey in refused_keys)

    # Running it again finishes the purge.
    assert backend.purgea(akey, "acl-b|", 77) == len(refused_keys)
    assert client.exists(akey, *["acl-b|%d" % i for i in ids]) == 0


def test_expiration_time_hash_true_sets_the_ttl_again_in_one_round_trip_per_node(cluster):
    region = region_for(cluster, redis_expiration_time_hash=True)
    client = cluster.client()
    keys = [("calculated-t|%d" % i, "1") for i in range(20)]
    client.hset(keys[0][0], "old", "x")
    client.expire(keys[0][0], 50)
    for node in cluster.primaries():
        node.client().config_resetstat()
    region.set_multi({key: value(key) for key in keys})
    assert region.get_multi(keys) == [value(key) for key in keys]
    # Every hash got the TTL again, the one that had 50 s left too.
    assert all(3500 < client.ttl(name) <= 3600 for name, _ in keys)
    assert len(by_primary(cluster, [name for name, _ in keys])) == 3
    # CALC.HSETEX (the TTL when it creates the hash) then EXPIRE, no
    # transaction: what redis-py 5.3's cluster pipeline can send.
    primaries = cluster.primaries()
    assert sum(calls(n, "calc.hsetex") for n in primaries) == len(keys)
    assert sum(calls(n, "expire") for n in primaries) == len(keys)
    assert sum(calls(n, "exec") for n in primaries) == 0


def test_a_slot_moved_under_the_backend_is_followed(cluster):
    # Four processes, each knowing the slot table from before the move.
    reader, writer, batcher, purger = (region_for(cluster) for _ in range(4))
    client = cluster.client()
    akey, cached = "{mv}a2b-a|1", ("{mv}calculated|1", "2")
    writer.set(cached, value(cached))
    for b in range(9):
        purger.backend.a2bset(akey, "mv-b|%d" % b, 1, b, value(("mv", b)))
    for region in (reader, writer, batcher):
        region.get(("calculated-a|1", "1"))  # connected, the table loaded
    # The slot of both keys moves to another primary (the resharding steps,
    # keys and all); the backend's slot table still names the old one.
    slot = client.keyslot(akey)
    source = cluster.primary_for(akey)
    target = next(n for n in cluster.primaries() if n is not source)
    source_id, target_id = (n.client().execute_command("CLUSTER", "MYID").decode() for n in (source, target))
    target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", akey, cached[0])
    for node in (target, source):
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    assert cluster.primary_for(akey) is target

    # Reads, writes and the purge follow MOVED to the keys' new node.
    assert reader.get(cached) == value(cached)
    other = ("{mv}calculated|1", "3")
    writer.set(other, value(other))
    assert target.client().hexists(*other)
    assert batcher.get_multi([cached, other, ("calculated-a|1", "1")])[:2] == [value(cached), value(other)]
    assert purger.backend.purgea(akey, "mv-b|", 1) == 9
    assert client.exists(akey, *["mv-b|%d" % b for b in range(9)]) == 0


def test_a_primary_killed_mid_workload_and_its_promoted_replica_serves_the_same_values(cluster):
    # Last in this module: the cluster keeps one primary without a replica.
    region = region_for(cluster)
    keys = [("calculated-f|%d" % a, str(b)) for a in range(18) for b in range(3)]
    for key in keys:
        region.get_or_create(key, lambda key=key: value(key))
    for node in cluster.primaries():
        assert node.client().execute_command("WAIT", 1, 5000) >= 1
    victim = cluster.primary_for(keys[0][0])
    victim_keys = [k for k in keys if cluster.primary_for(k[0]) is victim]
    created, failures, stop = [], [], threading.Event()

    def workload():
        # Another process, reading and filling the cache while it happens.
        worker = region_for(cluster)
        while not stop.is_set():
            for key in keys:
                try:
                    worker.get_or_create(key, lambda key=key: created.append(key) or value(key))
                except (RedisError, RedisClusterException) as e:
                    failures.append(e)

    thread = threading.Thread(target=workload)
    thread.start()
    try:
        time.sleep(0.2)
        victim.kill()
        wait_until("a replica to take over the killed primary's slots",
                   lambda: cluster.primary_for(victim_keys[0][0], required=False) not in (None, victim),
                   seconds=30, interval=0.2)
        wait_until("the region to read from the promoted replica",
                   lambda: region.get(victim_keys[0]) == value(victim_keys[0]), seconds=30, interval=0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(60)
    assert failures, "the workload ran through the failover"
    assert created == [], "a value cached before the crash was created again"
    assert region.get_multi(keys) == [value(key) for key in keys]

    promoted = cluster.primary_for(victim_keys[0][0])
    name = region.backend.calc_registered_name
    assert promoted.client().execute_command("CALC.TEMPLATE", "GET", name) is not None
    fresh = (victim_keys[0][0], "new")
    region.set(fresh, value(fresh))
    assert promoted.client().hexists(fresh[0], fresh[1])
    assert region_for(cluster).get(fresh) == value(fresh)
