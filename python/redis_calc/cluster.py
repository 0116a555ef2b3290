"""``redis_calc.hstore_cluster``: ``redis_calc.hstore`` on Redis Cluster,
without hash tags.

The arguments are those of dogpile.cache's ``redis_cluster`` backend
(``startup_nodes`` or ``url``, ``connection_kwargs``, the lock's and the TTL's)
plus every argument of ``redis_calc.hstore``; the client is dogpile's own
(redis-py's ``RedisCluster``), so routing, ``MOVED``/``ASK`` and failover
handling are redis-py's. On top of the single-node backend:

* reads and writes of many hashes are one pipelined round trip per node
  (redis-py's cluster pipeline groups the commands by node);
* ``redis_expiration_time_hash=True`` writes one ``MULTI``/``EXEC`` per slot
  (a transaction cannot span slots);
* the template is registered on every primary when the backend starts, and
  on every new connection to any node (a node that lost its templates, a
  promoted replica, a node added later). Reads decode in the client and
  never need it; the module's own readers (``CALC.GETDICT`` from other
  clients) do;
* the distributed lock's key is named so that it lives in the slot of the
  hash it guards (``_lok.{calculated-a|1},42``), so a miss keeps its three
  round trips: the ``SET NX`` and dogpile's re-check read, then the value's
  write and the release, each pair on one connection to one node, in order;
* ``a2bset`` across slots writes the a-side first, then the b-side
  (``CALC.A2BSET`` when both keys share a slot);
* ``purgea`` across slots runs the README's steps (Running on Redis Cluster)
  and raises :class:`PurgeIncomplete` when one fails, leaving the a-hash as
  the record of the work left: calling it again finishes the purge.
"""

import time
from collections import OrderedDict

from dogpile.cache.api import NO_VALUE
from dogpile.cache.backends.redis import RedisClusterBackend
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    MovedError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
    WatchError,
)

from .backend import RedisCalcHstoreBackend
from .transport import raise_first_error

# Errors after which the purge's a-key step is run again, once the client
# has refreshed its view of the cluster (a failover, a slot moved).
_TOPOLOGY = (MovedError, ConnectionError, TimeoutError, ClusterDownError, SlotNotCoveredError)
# Errors that clear by themselves while a slot migrates.
_TRANSIENT = (AskError, TryAgainError)


class PurgeIncomplete(RedisError):
    """A cross-slot ``purgea`` that could not finish. Nothing is orphaned:
    the a-hash still lists every b-id whose b-hash may hold the member, so
    calling ``purgea`` again with the same arguments finishes the purge.

    * ``akey``: the a-hash;
    * ``removed``: the b-hash fields this call removed (at least; a step cut
      off by a lost connection may have removed more);
    * ``remaining``: the b-ids the a-hash still lists (as last answered);
    * ``errors``: the errors that stopped it (the cause is the first).
    """

    def __init__(self, message, akey, removed, remaining, errors):
        super().__init__(message)
        self.akey = akey
        self.removed = removed
        self.remaining = list(remaining)
        self.errors = list(errors)


def _hash_tag_slot(prefix):
    """The slot of every key that starts with ``prefix``, when the prefix
    holds a complete hash tag (``{tenant}a2b-b|``); else None (the slot then
    depends on the rest of the key)."""
    start = prefix.find(b"{")
    if start < 0:
        return None
    end = prefix.find(b"}", start + 1)
    if end <= start + 1:
        return None
    return key_slot(prefix)


class RedisCalcClusterBackend(RedisCalcHstoreBackend, RedisClusterBackend):
    # Two parents that share dogpile's RedisBackend: the MRO is this class,
    # RedisCalcHstoreBackend, RedisAdvancedHstoreBackend, RedisAdvancedBackend,
    # RedisClusterBackend, RedisBackend. So every read, write and lock method
    # is the single-node backend's (through redis-py calls that RedisCluster
    # answers as well), while _create_client, which the hstore chain leaves
    # to RedisBackend, is RedisClusterBackend's: the client is a RedisCluster.
    # The overrides below are what a cluster needs on top. The same holds
    # for RedisCalcSentinelBackend with RedisSentinelBackend.
    """Arguments: those of ``dogpile.cache.redis_cluster`` (``startup_nodes``
    or ``url``, ``connection_kwargs``, ...), those of ``redis_calc.hstore``,
    and

    * ``calc_purge_attempts``: how many times ``purgea`` runs its steps when
      its final ``EXEC`` is aborted (a stash wrote the a-hash meanwhile) or
      the a-key's node fails over; default 5.
    """

    def __init__(self, arguments):
        arguments = dict(arguments)
        self.calc_purge_attempts = max(1, int(arguments.pop("calc_purge_attempts", 5)))
        super().__init__(arguments)

    # -- templates on every primary ----------------------------------------

    def _install_connect_hook(self, connected):
        # RedisCluster runs its own handshake, then user_on_connect_func, on
        # every connection to every node, present and future.
        client = self.writer_client
        inner = client.user_on_connect_func

        def hook(conn):
            if inner is not None:
                inner(conn)
            connected(conn)

        client.user_on_connect_func = hook

    def _register(self, registration):
        client = self.writer_client
        client.execute_command(*registration, target_nodes=client.get_primaries())

    def _stored_definition(self, name):
        client = self.reader_client
        for node in client.get_primaries():
            stored = client.execute_command("CALC.TEMPLATE", "GET", name, target_nodes=node)
            if stored is not None:
                return stored
        return None

    # -- the lock in the slot of its hash ----------------------------------

    def _hash_lock(self, key):
        name, recheck = super()._hash_lock(key)
        if recheck is None:
            return name, None
        keyslot = self.writer_client.keyslot
        slot = keyslot(key[0])
        if keyslot(name) == slot:
            return name, recheck  # the hash's own tag is in the name
        tagged = self.lock_template.format("{%s},%s" % (key[0], key[1]))
        if keyslot(tagged) == slot:
            return tagged, recheck
        # A hash name no tag can wrap (it holds braces): the lock lives
        # elsewhere, so the re-check read is dogpile's own, after the lock.
        return name, None

    # -- many hashes, one round trip per node --------------------------------

    def get_serialized_multi(self, keys):
        # The parent sends an HMGET per hash in turn and an MGET, which a
        # cluster refuses across slots: one pipelined read per key instead.
        if not keys:
            return []
        self._flush_held()
        replies = raise_first_error(self._reader.batch(
            [("HGET", k[0], k[1]) if isinstance(k, tuple) else ("GET", k) for k in keys]))
        return [NO_VALUE if reply is None else reply for reply in replies]

    def set_serialized_multi(self, mapping):
        self._set_multi_packed(mapping, lambda v: v, self._set_strings)

    def _set_strings(self, mapping):
        # The parent's MSET cannot span slots.
        pipe = self.writer_client.pipeline(transaction=False)
        ttl = self.redis_expiration_time
        for key, value in mapping.items():
            pipe.set(key, value, ex=ttl or None)
        pipe.execute()

    def delete_multi(self, keys):
        self._flush_held()
        pipe = self.writer_client.pipeline(transaction=False)
        for key in keys:
            if isinstance(key, tuple):
                pipe.hdel(key[0], key[1])
            else:
                pipe.delete(key)
        pipe.execute()

    # -- the stash across slots ---------------------------------------------

    def a2bset(self, akey, bkey, id_a, id_b, value):
        """Stashes ``value`` under ``akey[id_b]`` and ``bkey[id_a]``; each hash
        gets the TTL only when created. One atomic ``CALC.A2BSET`` when both
        keys share a slot; else two writes, the a-side first, so a logout
        purge (which starts from the a-hash) always finds what was written: a
        crash between them leaves an a-side id with no b-side entry, which a
        purge skips. Returns the number of new fields (0, 1 or 2)."""
        value, ttl = self._stash_value(value)
        keyslot = self.writer_client.keyslot
        if keyslot(akey) == keyslot(bkey):
            return self._writer.call("CALC.A2BSET", akey, bkey, id_a, id_b, value, ttl)
        added = self._writer.call("CALC.HSETEX", akey, id_b, value, ttl)
        return added + self._writer.call("CALC.HSETEX", bkey, id_a, value, ttl)

    # -- the logout purge across slots ------------------------------------------

    def purgea(self, akey, bprefix, member):
        """Removes ``member`` from every ``bprefix + b`` for the fields ``b``
        of ``akey``, then ``akey`` itself, wherever the b-hashes live. Returns
        the number of b-hash fields removed on every node.

        The steps (README, Running on Redis Cluster): on the a-key's node,
        ``CALC.PURGEA akey bprefix member LOCAL`` and ``WATCH akey`` in one
        round trip; ``HDEL bprefix+id member`` for each id it answers,
        pipelined per node; then on the a-key's node ``MULTI``/``HDEL akey
        ids``/``EXEC``. An aborted ``EXEC`` (a stash wrote the a-hash since
        the ``WATCH``) runs the steps again, up to ``calc_purge_attempts``.

        Raises :class:`PurgeIncomplete` when a step fails (an ``HDEL`` refused
        or a node down): the a-hash still lists the ids whose b-hashes may
        hold the member, so calling ``purgea`` again finishes the purge."""
        client = self.writer_client
        prefix = bprefix.encode() if isinstance(bprefix, str) else bytes(bprefix)
        if _hash_tag_slot(prefix) == client.keyslot(akey):
            # Every b-hash in the a-key's slot: one atomic command.
            return super().purgea(akey, bprefix, member)
        removed = 0
        remaining = []
        errors = []
        for attempt in range(self.calc_purge_attempts):
            if attempt and errors:
                time.sleep(min(0.05 * 2**attempt, 1.0))
            try:
                done, count, remaining = self._purge_round(akey, prefix, member, remaining)
            except _PurgeStepFailed as failed:
                removed += failed.removed
                remaining = failed.remaining
                raise PurgeIncomplete(
                    "purge of %r incomplete: %s; the a-hash still lists the %d b-ids left, "
                    "run purgea again to finish" % (akey, failed.what, len(remaining)),
                    akey, removed, remaining, failed.errors,
                ) from failed.errors[0]
            except _TOPOLOGY + _TRANSIENT as e:
                # The a-key's node moved or failed: refresh and run again.
                errors.append(e)
                if isinstance(e, _TOPOLOGY):
                    try:
                        client.nodes_manager.initialize()
                    except (RedisError, RedisClusterException) as refresh:
                        errors.append(refresh)
                continue
            removed += count
            if done:
                return removed
        raise PurgeIncomplete(
            "purge of %r incomplete after %d attempts (%s); the a-hash still lists the b-ids left, "
            "run purgea again to finish"
            % (akey, self.calc_purge_attempts, errors[-1] if errors else "the a-hash kept changing"),
            akey, removed, remaining, errors,
        )

    def _purge_round(self, akey, prefix, member, known):
        """One run of the steps. Returns ``(done, removed, remaining ids)``;
        ``done`` is False when the final ``EXEC`` was aborted."""
        client = self.writer_client
        try:
            removed, ids = self._writer.call("CALC.PURGEA", akey, prefix, member, "LOCAL")
        except ResponseError as e:
            if isinstance(e, _TOPOLOGY + _TRANSIENT):
                raise
            raise _PurgeStepFailed("the a-key's step failed (%s)" % e, 0, known, [e]) from e
        ids = list(ids)
        if not ids:
            return True, removed, []  # everything was local: the module deleted the a-hash
        # WATCH on the a-key's node, on the connection its MULTI/EXEC will
        # use: a stash that writes the a-hash from now on aborts the EXEC.
        node = client.get_node_from_key(akey)
        pipe = client.get_redis_connection(node).pipeline(transaction=True)
        try:
            try:
                pipe.watch(akey)
            except ResponseError as e:
                if isinstance(e, _TOPOLOGY + _TRANSIENT):
                    raise
                raise _PurgeStepFailed("the a-key's WATCH failed (%s)" % e, removed, ids, [e]) from e
            count, failures = self._remove_members(prefix, ids, member)
            removed += count
            if failures:
                raise _PurgeStepFailed(
                    "HDEL failed on %d of %d b-hashes (%s)" % (len(failures), len(ids), failures[0]),
                    removed, ids, failures,
                )
            pipe.multi()
            pipe.hdel(akey, *ids)
            try:
                pipe.execute()
            except WatchError:
                return False, removed, ids
            except ResponseError as e:
                raise _PurgeStepFailed("the a-hash's HDEL failed (%s)" % e, removed, ids, [e]) from e
            return True, removed, ids
        finally:
            pipe.reset()  # UNWATCH when it did not get to EXEC

    def _remove_members(self, prefix, ids, member):
        """``HDEL prefix+id member`` for every id, pipelined per node. Returns
        the fields removed and the errors, one per b-hash that failed."""
        replies = self._writer.batch([("HDEL", prefix + b, member) for b in ids])
        failures = [r for r in replies if isinstance(r, Exception)]
        return sum(r for r in replies if not isinstance(r, Exception)), failures


class _PurgeStepFailed(Exception):
    def __init__(self, what, removed, remaining, errors):
        super().__init__(what)
        self.what, self.removed, self.remaining, self.errors = what, removed, remaining, errors
