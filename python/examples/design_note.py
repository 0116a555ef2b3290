"""The design note's flow on redis_calc.hstore: no Lua, no custom serializer,
no should_cache_fn trick. Run against a server with the module loaded:

    python examples/design_note.py [port]
"""

import sys

from dogpile.cache import make_region

import redis_calc  # noqa: F401  (registers "redis_calc.hstore")

PAYLOAD_TEMPLATE = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg", "hhhhhhhh"]


def make_permissions_region(port=6379, host="127.0.0.1"):
    return make_region().configure(
        "redis_calc.hstore",
        arguments={
            "host": host,
            "port": port,
            # The TTL of each calculated-a|<id_a> hash, set when the hash is
            # created and never prolonged by later fields.
            "redis_expiration_time": 60 * 60,
            "distributed_lock": True,
            "thread_local_lock": False,
            # Values are stored as their template-ordered msgpack values and
            # decoded by the server.
            "calc_template": "permissions",
            "calc_template_definition": PAYLOAD_TEMPLATE,
        },
    )


def calculate_dict(id_a, id_b):
    """Stands for the expensive permission computation."""
    return {name: (i + id_a + id_b) % 2 == 0 for i, name in enumerate(PAYLOAD_TEMPLATE)}


class CalculatedDictCache:
    def __init__(self, region):
        self.region = region

    @staticmethod
    def key(id_a, id_b):
        return ("calculated-a|%s" % id_a, str(id_b))

    def get(self, id_a, id_b):
        return self.region.get_or_create(self.key(id_a, id_b), lambda: calculate_dict(id_a, id_b))

    def get_many(self, id_a, id_bs):
        keys = [self.key(id_a, b) for b in id_bs]
        return self.region.get_or_create_multi(keys, lambda *ks: [calculate_dict(id_a, int(k[1])) for k in ks])

    def stash(self, id_a, id_b):
        """The symmetric a2b stash, both sides in one atomic command."""
        value = calculate_dict(id_a, id_b)
        return self.region.backend.a2bset("a2b-a|%s" % id_a, "a2b-b|%s" % id_b, id_a, id_b, value)

    def logout(self, id_a):
        """Purges everything of id_a from both sides of the stash."""
        return self.region.backend.purgea("a2b-a|%s" % id_a, "a2b-b|", id_a)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    cache = CalculatedDictCache(make_permissions_region(port))
    print("get(1, 42) ->", cache.get(1, 42))
    print("get_many(1, [42, 43]) ->", cache.get_many(1, [42, 43]))
    print("stash(1, 7) ->", cache.stash(1, 7), "new fields")
    print("logout(1) ->", cache.logout(1), "b-side fields removed")
