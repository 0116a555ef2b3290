"""What a template region refuses, loudly: region.invalidate(), values that
are not the template's dict; and what it leaves alone: a pool the user
passed."""

import pytest
import redis
from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE

import redis_calc
from redis_server import calc_region

TEMPLATE = ["a", "bb", ["meta", ["x", "y"]]]
KEY = ("calculated-a|1", "42")


def sample(i=0):
    return {"a": True, "bb": i, "meta": {"x": None, "y": "ü"}}


@pytest.mark.parametrize("hard", [True, False], ids=["hard", "soft"])
def test_region_invalidate_is_refused_on_the_next_read(server, hard):
    region = calc_region(server.port, TEMPLATE)
    region.set(KEY, sample())
    assert region.get(KEY) == sample()
    region.invalidate(hard=hard)
    with pytest.raises(redis_calc.InvalidationNotSupported, match="invalidate"):
        region.get(KEY)
    with pytest.raises(redis_calc.InvalidationNotSupported):
        region.get_or_create(KEY, lambda: sample(1))
    with pytest.raises(redis_calc.InvalidationNotSupported):
        region.get_multi([KEY])


def test_a_plain_region_keeps_dogpiles_invalidation(server):
    region = make_region().configure("redis_calc.hstore", arguments={
        "host": "127.0.0.1", "port": server.port, "redis_expiration_time": 100})
    region.set(("h", "f"), "v")
    region.invalidate()
    assert region.get(("h", "f")) is NO_VALUE


@pytest.mark.parametrize("value, message", [
    (None, r"template 'perms': the value must be a dict of its names, got NoneType"),
    ([True, 1, {"x": 1, "y": 2}], r"the value must be a dict of its names, got list"),
    ({"a": True, "meta": {"x": 1, "y": 2}}, r"the value has missing 'bb'"),
    ({"a": True, "bb": 1, "meta": {"x": 1, "y": 2}, "cc": 3}, r"names not in the template 'cc'"),
    ({"a": True, "bb": 1, "meta": {"x": 1}}, r"\['meta'\] has missing 'y'"),
    ({"a": True, "bb": 1, "meta": {"x": 1, "y": 2, "z": 3}}, r"\['meta'\] has names not in the template 'z'"),
    ({"a": True, "bb": 1, "meta": 5}, r"\['meta'\] must be a dict of its names, got int"),
])
def test_values_that_are_not_the_templates_dict_are_refused_by_name(server, value, message):
    region = calc_region(server.port, TEMPLATE)
    with pytest.raises(redis_calc.TemplateMismatch, match=message) as raised:
        region.get_or_create(KEY, lambda: value)
    assert isinstance(raised.value, ValueError) and raised.value.template == "perms"
    with pytest.raises(redis_calc.TemplateMismatch):
        region.set(KEY, value)
    if isinstance(value, dict):  # a2bset takes bytes as they are
        with pytest.raises(redis_calc.TemplateMismatch):
            region.backend.a2bset("a2b-a|1", "a2b-b|2", 1, 2, value)
    # Nothing written, the lock released.
    client = server.client()
    assert client.exists(KEY[0], "a2b-a|1", "a2b-b|2") == 0
    assert client.keys("_lok*") == []
    assert region.get_or_create(KEY, lambda: sample(2)) == sample(2)


def test_tuples_come_back_as_lists(server):
    region = calc_region(server.port, TEMPLATE)
    region.set(KEY, {"a": (1, 2), "bb": 1, "meta": {"x": None, "y": ()}})
    assert region.get(KEY) == {"a": [1, 2], "bb": 1, "meta": {"x": None, "y": []}}


def test_a_pool_passed_in_gets_no_hook_and_its_other_clients_send_nothing(server):
    pool = redis.ConnectionPool(host="127.0.0.1", port=server.port)
    before = dict(pool.connection_kwargs)
    region = make_region().configure("redis_calc.hstore", arguments={
        "connection_pool": pool, "redis_expiration_time": 3600,
        "calc_template": "perms", "calc_template_definition": TEMPLATE})
    assert pool.connection_kwargs == before
    region.set(KEY, sample())
    admin = server.client()
    admin.config_resetstat()
    # Another client sharing the pool, on new connections.
    other = redis.Redis(connection_pool=pool)
    pool.disconnect()
    other.set("x", "y")
    assert region.get(KEY) == sample()
    stats = admin.info("commandstats")
    assert "cmdstat_calc.template|set" not in stats
    # Registered once, when the backend started.
    assert any(n.startswith(b"perms:") for n in admin.execute_command("CALC.TEMPLATE", "LIST"))
