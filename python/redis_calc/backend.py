"""``redis_calc.hstore``: dogpile_backend_redis_advanced's hstore backend with
its writes done by the redis-calc module.

Every argument of the parent means what the parent documents. For tuple keys
``(hash, field)``, ``redis_expiration_time_hash`` says when the hash gets the
TTL ``redis_expiration_time``:

* ``None`` (default): only when the write creates the hash, atomically, with
  one ``CALC.HSETEX`` (the parent needs EXISTS, HSET, EXPIRE);
* ``False``: never (plain ``HSET``);
* ``True``: on every write, in one ``MULTI``/``EXEC`` with the ``HSET``.

With ``calc_template`` a region stores dicts as their values in template order,
packed with msgpack (~70 bytes instead of a pickled dict), and reads them back
decoded by the server with ``CALC.GETDICT`` / ``CALC.MGETDICT``. As in the design
note, expiry then lives in Redis alone: the values carry no dogpile timestamp,
so leave the region's ``expiration_time`` unset.

Templates in production:

* the template is registered under ``<calc_template>:<fingerprint>`` (the
  fingerprint is a digest of the definition), with ``ONMISMATCH NIL`` and
  ``FINGERPRINT REQUIRED``, so two versions of an application with different
  definitions never overwrite each other's template;
* every value carries the fingerprint of the definition it was written under;
  the server reads a value written under any other definition (or without
  one) as a miss, which dogpile regenerates. No definition change can make an
  old value come back under names it was not written with;
* a server that lost its templates (a restart without persistence, a new
  cluster node) answers ``NOTEMPLATE``: the backend registers the template
  again and retries once, in pipelines too.
"""

import json
import time
from collections import OrderedDict

from dogpile.cache.api import NO_VALUE, CachedValue
from dogpile.cache.region import value_version
from dogpile_backend_redis_advanced.cache.backends.redis_advanced import RedisAdvancedHstoreBackend
from redis.exceptions import ResponseError

from .packing import fingerprint, pack_values, unpack_values


def _is_notemplate(error):
    return isinstance(error, ResponseError) and str(error).startswith("NOTEMPLATE")


class RedisCalcHstoreBackend(RedisAdvancedHstoreBackend):
    """Arguments: those of ``dogpile_backend_redis_advanced.hstore``, plus

    * ``calc_template``: the template's base name; the region then stores dicts
      packed against it (see the module docstring).
    * ``calc_template_definition``: the template itself (a list of names and
      ``[name, sub_template]``). Without it the definition is read from the
      server (``CALC.TEMPLATE.GET <calc_template>``).
    * ``calc_decode_strings``: decode UTF-8 values to ``str`` (default True).
    """

    def __init__(self, arguments):
        arguments = dict(arguments)
        self.calc_template = arguments.pop("calc_template", None)
        definition = arguments.pop("calc_template_definition", None)
        self.calc_decode_strings = arguments.pop("calc_decode_strings", True)
        if self.calc_template is not None:
            # Maps, booleans and doubles arrive typed only over RESP3.
            kwargs = dict(arguments.get("connection_kwargs") or {})
            kwargs["protocol"] = 3
            arguments["connection_kwargs"] = kwargs
        super().__init__(arguments)
        self.calc_definition = None
        self.calc_registered_name = None
        if self.calc_template is not None:
            # The region then hands CachedValues to get/set: no serializer.
            self.serializer = None
            self.deserializer = None
            self.calc_definition = self._template_definition(definition)
            self.calc_registered_name = "%s:%s" % (self.calc_template, fingerprint(self.calc_definition).hex())
            self._register_template()

    # -- templates -------------------------------------------------------

    def _template_definition(self, definition):
        if definition is not None:
            return definition
        stored = self.reader_client.execute_command("CALC.TEMPLATE.GET", self.calc_template)
        if stored is None:
            raise ValueError(
                "template %r is not registered on the server; pass calc_template_definition" % self.calc_template
            )
        return json.loads(stored)

    def _register_template(self):
        self.writer_client.execute_command(
            "CALC.TEMPLATE.SET", self.calc_registered_name, json.dumps(self.calc_definition),
            "ONMISMATCH", "NIL", "FINGERPRINT", "REQUIRED",
        )

    def _ttl(self):
        return int(self.redis_expiration_time) if self.redis_expiration_time else None

    # -- writes: the TTL as redis_expiration_time_hash says ---------------

    def _write_hash(self, client, name, pairs):
        """Queues (on a pipeline) or runs the write of ``pairs`` to the hash
        ``name``. With ``True``, ``client`` must be a transaction (or a plain
        client: the write then gets one of its own)."""
        ttl = self._ttl()
        mode = self.redis_expiration_time_hash
        if ttl is None or mode is False:
            return client.hset(name, mapping=dict(pairs))
        if mode is True:
            if not hasattr(client, "execute"):
                client = self.writer_client.pipeline(transaction=True)
                client.hset(name, mapping=dict(pairs)).expire(name, ttl)
                return client.execute()
            return client.hset(name, mapping=dict(pairs)).expire(name, ttl)
        args = [a for pair in pairs for a in pair]
        return client.execute_command("CALC.HSETEX", name, *args, ttl)

    def set_serialized(self, key, value):
        if not isinstance(key, tuple):
            return super().set_serialized(key, value)
        self._write_hash(self.writer_client, key[0], [(key[1], value)])

    def set_serialized_multi(self, mapping):
        self._set_multi_packed(mapping, lambda v: v, super().set_serialized_multi)

    def _set_multi_packed(self, mapping, encode, set_plain):
        by_hash = OrderedDict()
        plain = {}
        for key, value in mapping.items():
            if isinstance(key, tuple):
                by_hash.setdefault(key[0], []).append((key[1], encode(value)))
            else:
                plain[key] = value
        if by_hash:
            # One round trip for every hash touched; one transaction when every
            # write also sets the TTL, so each HSET has its EXPIRE.
            pipe = self.writer_client.pipeline(transaction=self.redis_expiration_time_hash is True)
            for name, pairs in by_hash.items():
                self._write_hash(pipe, name, pairs)
            pipe.execute()
        if plain:
            set_plain(plain)

    # -- template regions: CachedValues in, CachedValues out -------------

    def _cached(self, reply):
        if reply is None:
            return NO_VALUE
        # Fresh metadata, as the design note's Serializer_loads fakes it: the
        # value's age is Redis's business (the hash TTL), not dogpile's.
        metadata = {"ct": time.time(), "v": value_version}
        return CachedValue(unpack_values(reply, self.calc_decode_strings), metadata)

    def _pack(self, value):
        return pack_values(value.payload, self.calc_definition)

    @staticmethod
    def _hash_key(key):
        if not isinstance(key, tuple) or len(key) != 2:
            raise TypeError("a calc_template region takes (hash, field) keys, got %r" % (key,))
        return key

    def _with_template(self, read):
        """Runs ``read``; if the server lost the template, registers it again
        and runs ``read`` once more (as redis-py's Script does on NOSCRIPT)."""
        try:
            return read()
        except ResponseError as e:
            if not _is_notemplate(e):
                raise
        self._register_template()
        return read()

    def _getdict(self, hash_name, field):
        """``CALC.GETDICT`` against the region's template, registering it
        again if the server lost it."""
        return self._with_template(
            lambda: self.reader_client.execute_command("CALC.GETDICT", hash_name, field, self.calc_registered_name)
        )

    def get(self, key):
        name, field = self._hash_key(key)
        return self._cached(self._getdict(name, field))

    def get_multi(self, keys):
        hashed = OrderedDict()
        for i, key in enumerate(keys):
            name, field = self._hash_key(key)
            hashed.setdefault(name, []).append((i, field))
        values = [NO_VALUE] * len(keys)
        if not hashed:
            return values

        def read():
            # One CALC.MGETDICT per hash, all in one round trip.
            pipe = self.reader_client.pipeline(transaction=False)
            for name, fields in hashed.items():
                pipe.execute_command("CALC.MGETDICT", name, self.calc_registered_name, *[f for _, f in fields])
            replies = pipe.execute(raise_on_error=False)
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies

        for (name, fields), replies in zip(hashed.items(), self._with_template(read)):
            for (i, _), reply in zip(fields, replies):
                values[i] = self._cached(reply)
        return values

    def set(self, key, value):
        key = self._hash_key(key)
        self._write_hash(self.writer_client, key[0], [(key[1], self._pack(value))])

    def set_multi(self, mapping):
        for key in mapping:
            self._hash_key(key)
        self._set_multi_packed(mapping, self._pack, None)

    # -- the symmetric stash ----------------------------------------------

    def a2bset(self, akey, bkey, id_a, id_b, value):
        """``CALC.A2BSET``: stash ``value`` under ``akey[id_b]`` and
        ``bkey[id_a]`` atomically; each hash gets the TTL only when created.
        A dict is packed (and marked) against the region's template."""
        if isinstance(value, dict):
            value = pack_values(value, self.calc_definition)
        ttl = self._ttl()
        if ttl is None:
            raise ValueError("a2bset needs redis_expiration_time")
        return self.writer_client.execute_command("CALC.A2BSET", akey, bkey, id_a, id_b, value, ttl)

    def get_stashed(self, hash_name, field):
        """Reads one stashed dict (``CALC.GETDICT`` on either side of the
        stash), ``None`` when missing or written under another definition."""
        reply = self._getdict(hash_name, field)
        return None if reply is None else unpack_values(reply, self.calc_decode_strings)

    def purgea(self, akey, bprefix, member):
        """``CALC.PURGEA``: remove ``member`` from every ``bprefix + b`` for
        the fields ``b`` of ``akey``, then delete ``akey``. Returns the number
        of b-hash fields removed."""
        return self.writer_client.execute_command("CALC.PURGEA", akey, bprefix, member)
