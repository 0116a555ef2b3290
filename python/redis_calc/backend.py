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
packed with msgpack (~34 bytes for 25 flags instead of a pickled dict). Reads
are the cheapest a Python client can make: ``HGET`` / ``HMGET`` of the packed
bytes (one ``HMGET`` per hash, every hash in one round trip), the fingerprint
checked and the values decoded in the client by msgpack's C extension, the
dict built by a function compiled from the template
(:class:`redis_calc.packing.TemplateCodec`). As in the design note, expiry then
lives in Redis alone: the values carry no dogpile timestamp, so leave the
region's ``expiration_time`` unset.

Templates in production:

* the template is registered under ``<calc_template>:<fingerprint>`` (the
  fingerprint is a digest of the definition), with ``ONMISMATCH NIL`` and
  ``FINGERPRINT REQUIRED``, so two versions of an application with different
  definitions never overwrite each other's template, and the module's own
  readers (``CALC.GETDICT``, other clients) decode what this backend writes;
* every value carries the fingerprint of the definition it was written under;
  a value written under any other definition (or without one), cut short or
  malformed reads as a miss, exactly where the server would answer ``nil``,
  and dogpile regenerates it. No definition change can make an old value come
  back under names it was not written with;
* reads do not need the template on the server. It is registered when the
  backend starts and, on a pool the backend made, again before the command
  that follows a new connection, so a server that lost it (a restart without
  persistence, a failover to a node without it) has it back as soon as the
  backend talks to it again. A ``connection_pool`` the user passed is left
  alone: registered at start only;
* a value must be the template's dict (:class:`redis_calc.TemplateMismatch`
  otherwise), and ``region.invalidate()`` is refused
  (:class:`InvalidationNotSupported` on the next read).

A miss under the distributed lock (``distributed_lock=True``) takes three round
trips instead of five: dogpile's re-check read travels with the ``SET NX`` that
takes the lock, and the value's write with the script that releases it (see
:class:`_PipelinedLock`). The order the server sees is dogpile's: the re-check
runs once the lock is held, the value is written before the lock is released.
"""

import json
import threading
import time
from collections import OrderedDict

from dogpile.cache.api import NO_VALUE, CachedValue
from dogpile.cache.region import value_version
from dogpile_backend_redis_advanced.cache.backends.redis_advanced import RedisAdvancedHstoreBackend
from redis.exceptions import LockNotOwnedError, NoScriptError, ResponseError
from redis.lock import Lock

from .packing import TemplateCodec, fingerprint
from .transport import Transport, raise_first_error

_NOTHING = object()


class RedisCalcHstoreBackend(RedisAdvancedHstoreBackend):
    """Arguments: those of ``dogpile_backend_redis_advanced.hstore``, plus

    * ``calc_template``: the template's base name; the region then stores dicts
      packed against it (see the module docstring).
    * ``calc_template_definition``: the template itself (a list of names and
      ``[name, sub_template]``). Without it the definition is read from the
      server (``CALC.TEMPLATE GET <calc_template>``).
    * ``calc_decode_strings``: msgpack strings come back as ``str`` (default
      True); with False as ``bytes``. Bytes values are ``bytes`` either way.
    """

    def __init__(self, arguments):
        arguments = dict(arguments)
        self.calc_template = arguments.pop("calc_template", None)
        definition = arguments.pop("calc_template_definition", None)
        self.calc_decode_strings = arguments.pop("calc_decode_strings", True)
        # A pool the user passed is theirs: no hook on it (other clients
        # share it); the templates are then registered when the backend
        # starts only (README, Templates).
        self._own_pool = arguments.get("connection_pool") is None
        super().__init__(arguments)
        self._registrations = _Registrations(self)
        self._reader = Transport(self.reader_client, self._registrations)
        self._writer = (self._reader if self.writer_client is self.reader_client
                        else Transport(self.writer_client, self._registrations))
        # Per thread: cache key -> _Hold, for the locks this thread holds.
        self._local = threading.local()
        self.calc_definition = None
        self.calc_registered_name = None
        self.calc_codec = None
        if self.calc_template is not None:
            # The region then hands CachedValues to get/set: no serializer.
            self.serializer = None
            self.deserializer = None
            self.calc_definition = self._template_definition(definition)
            self.calc_codec = TemplateCodec(self.calc_definition, self.calc_decode_strings, self.calc_template)
            self.calc_registered_name = "%s:%s" % (self.calc_template, fingerprint(self.calc_definition).hex())
            # The container form (one dot): the form cluster clients accept.
            registration = (
                "CALC.TEMPLATE", "SET", self.calc_registered_name, json.dumps(self.calc_definition),
                "ONMISMATCH", "NIL", "FINGERPRINT", "REQUIRED",
            )
            # Now, so that a definition the server refuses fails here; then
            # after every new connection of a client the backend made, before
            # its next command, so that a server that lost it gets it back.
            self._registrations.commands.append(registration)
            if self._own_pool:
                self._install_connect_hook(self._registrations.connected)
            self._registrations.flush(refused_ok=False)

    # -- templates -------------------------------------------------------

    def _install_connect_hook(self, connected):
        """Calls ``connected(connection)`` after the handshake of every new
        connection of the writer's pool (one the backend made)."""
        kwargs = self.writer_client.connection_pool.connection_kwargs
        inner = kwargs.get("redis_connect_func")

        def hook(conn):
            if inner is None:
                conn.on_connect()
            else:
                inner(conn)
            connected(conn)

        kwargs["redis_connect_func"] = hook

    def _register(self, registration):
        """Registers a template now, where the backend writes."""
        self.writer_client.execute_command(*registration)

    def _stored_definition(self, name):
        """The definition the server holds under ``name`` (JSON), or None."""
        return self.reader_client.execute_command("CALC.TEMPLATE", "GET", name)

    def _template_definition(self, definition):
        if definition is not None:
            return definition
        stored = self._stored_definition(self.calc_template)
        if stored is None:
            raise ValueError(
                "template %r is not registered on the server; pass calc_template_definition" % self.calc_template
            )
        return json.loads(stored)

    def _ttl(self):
        return int(self.redis_expiration_time) if self.redis_expiration_time else None

    # -- writes: the TTL as redis_expiration_time_hash says ---------------

    def _hash_write(self, name, pairs):
        """The commands that write ``pairs`` to the hash ``name``, as the
        mode says: ``None`` one ``CALC.HSETEX`` (the TTL when it creates the
        hash), ``False`` one ``HSET``, ``True`` ``CALC.HSETEX`` then
        ``EXPIRE`` (the TTL set again; sent together, and the hash has a TTL
        from its creation whatever happens to the ``EXPIRE``). Each is safe
        to send again."""
        ttl = self._ttl()
        mode = self.redis_expiration_time_hash
        args = [a for pair in pairs for a in pair]
        if ttl is None or mode is False:
            return [("HSET", name, *args)]
        if mode is True:
            return [("CALC.HSETEX", name, *args, ttl), ("EXPIRE", name, ttl)]
        return [("CALC.HSETEX", name, *args, ttl)]

    def _write(self, key, name, pairs):
        """Writes one cache key's value. Under this thread's lock on ``key``,
        after dogpile's re-check, the write waits to travel with the lock's
        release (still before it)."""
        holds = getattr(self._local, "holds", None)
        hold = holds.get(key) if holds else None
        if hold is not None:
            hold.prefetched = _NOTHING  # no longer what the key holds
        commands = self._hash_write(name, pairs)
        if hold is not None and hold.rechecked:
            hold.pending.extend(commands)
        elif len(commands) == 1:
            self._writer.call(*commands[0])
        else:
            raise_first_error(self._writer.batch(commands))

    def set_serialized(self, key, value):
        if not isinstance(key, tuple):
            return super().set_serialized(key, value)
        self._write(key, key[0], [(key[1], value)])

    def set_serialized_multi(self, mapping):
        self._set_multi_packed(mapping, lambda v: v, super().set_serialized_multi)

    def _set_multi_packed(self, mapping, encode, set_plain):
        self._flush_held()
        by_hash = OrderedDict()
        plain = {}
        for key, value in mapping.items():
            if isinstance(key, tuple):
                by_hash.setdefault(key[0], []).append((key[1], encode(value)))
            else:
                plain[key] = value
        if by_hash:
            self._write_hashes(by_hash)
        if plain:
            set_plain(plain)

    def _write_hashes(self, by_hash):
        """Writes ``{hash: [(field, value), ...]}``: one round trip for every
        hash touched (one per node on a cluster)."""
        commands = [c for name, pairs in by_hash.items() for c in self._hash_write(name, pairs)]
        raise_first_error(self._writer.batch(commands))

    def delete(self, key):
        self._flush_held()
        super().delete(key)

    def delete_multi(self, keys):
        self._flush_held()
        super().delete_multi(keys)

    # -- the distributed lock, with the miss path's reads and writes -------

    def get_mutex(self, key):
        if not self.distributed_lock:
            return None
        if isinstance(key, tuple):
            name, recheck = self._hash_lock(key)
        else:
            name, recheck = self.lock_template.format(key), None
        mutex = self.writer_client.lock(
            name,
            timeout=self.lock_timeout,
            sleep=self.lock_sleep,
            thread_local=self.thread_local_lock,
            blocking=self.lock_blocking,
            blocking_timeout=self.lock_blocking_timeout,
            lock_class=_PipelinedLock,
        )
        mutex.calc_backend, mutex.calc_key, mutex.calc_recheck = self, key, recheck
        mutex.calc_holds, mutex.calc_sent = {}, {}
        return self.lock_class(mutex)

    def _hash_lock(self, key):
        """The lock's name for a hash key (the parent's), and dogpile's
        re-check read to send with the ``SET NX`` (None: none)."""
        name = self.lock_template.format(",".join([str(i) for i in key]))
        return name, (("HGET", key[0], key[1]) if len(key) == 2 else None)

    def _hold(self, lock, token, prefetched):
        holds = getattr(self._local, "holds", None)
        if holds is None:
            holds = self._local.holds = {}
        hold = _Hold(lock.calc_key, holds, prefetched)
        lock.calc_holds[token] = hold
        holds[lock.calc_key] = hold

    def _unhold(self, lock, token):
        """Forgets the hold of ``token`` (from whichever thread releases it) and
        answers the writes that wait for the release."""
        hold = lock.calc_holds.pop(token, None)
        if hold is None:
            return []
        if hold.holds.get(hold.key) is hold:
            del hold.holds[hold.key]
        return hold.pending

    def _held_read(self, key):
        """The re-check read sent with this thread's lock on ``key``, once;
        ``_NOTHING`` when there is none to use."""
        holds = getattr(self._local, "holds", None)
        if not holds:
            return _NOTHING
        hold = holds.get(key)
        if hold is None:
            return _NOTHING
        if hold.pending:
            self._flush(hold)
        prefetched, hold.prefetched = hold.prefetched, _NOTHING
        if prefetched is _NOTHING:
            return _NOTHING
        hold.rechecked = True
        if isinstance(prefetched, Exception):
            raise prefetched
        return prefetched

    def _flush(self, hold):
        """Sends the writes waiting for a lock's release now (a read of the key
        or another write came first)."""
        pending, hold.pending = hold.pending, []
        raise_first_error(self._writer.batch(pending))

    def _flush_held(self):
        """Before any other read or write of several keys (or a delete): the
        writes waiting for a release are sent, the re-check reads dropped."""
        holds = getattr(self._local, "holds", None)
        if holds:
            for hold in list(holds.values()):
                hold.prefetched = _NOTHING
                if hold.pending:
                    self._flush(hold)

    # -- reads -------------------------------------------------------------

    def get_serialized(self, key):
        if not isinstance(key, tuple):
            return super().get_serialized(key)
        raw = self._held_read(key)
        if raw is _NOTHING:
            raw = self._reader.call("HGET", key[0], key[1])
        return NO_VALUE if raw is None else raw

    def get_serialized_multi(self, keys):
        self._flush_held()
        return super().get_serialized_multi(keys)

    # -- template regions: CachedValues in, CachedValues out -------------

    @staticmethod
    def _hash_key(key):
        if not isinstance(key, tuple) or len(key) != 2:
            raise TypeError("a calc_template region takes (hash, field) keys, got %r" % (key,))
        return key

    def get(self, key):
        name, field = self._hash_key(key)
        raw = self._held_read(key)
        if raw is _NOTHING:
            raw = self._reader.call("HGET", name, field)
        if raw is None:
            return NO_VALUE
        payload = self.calc_codec.unpack(raw)
        if payload is None:
            return NO_VALUE
        # Fresh metadata, as the design note's Serializer_loads fakes it: the
        # value's age is Redis's business (the hash TTL), not dogpile's.
        return CachedValue(payload, {"ct": _ReadNow(time.time()), "v": value_version})

    def get_multi(self, keys):
        if not keys:
            return []
        self._flush_held()
        fields = []
        for key in keys:
            if not isinstance(key, tuple) or len(key) != 2:
                self._hash_key(key)
            fields.append(key[1])
        if len({key[0] for key in keys}) == 1:
            # The common case: fields of one hash (the b of one a).
            raws = self._reader.call("HMGET", keys[0][0], *fields)
        else:
            # One HMGET per hash, all in one round trip.
            hashes = OrderedDict()
            for i, key in enumerate(keys):
                hashes.setdefault(key[0], []).append(i)
            replies = raise_first_error(self._reader.batch([("HMGET", name, *[fields[i] for i in indexes])
                                                            for name, indexes in hashes.items()]))
            raws = [None] * len(keys)
            for indexes, reply in zip(hashes.values(), replies):
                for i, raw in zip(indexes, reply):
                    raws[i] = raw
        # One metadata dict for the values of one call (dogpile only reads it).
        metadata = {"ct": _ReadNow(time.time()), "v": value_version}
        unpack = self.calc_codec.unpack
        values = []
        for raw in raws:
            payload = None if raw is None else unpack(raw)
            values.append(NO_VALUE if payload is None else CachedValue(payload, metadata))
        return values

    def set(self, key, value):
        name, field = self._hash_key(key)
        self._write(key, name, [(field, self.calc_codec.pack(value.payload))])

    def set_multi(self, mapping):
        for key in mapping:
            self._hash_key(key)
        self._set_multi_packed(mapping, lambda value: self.calc_codec.pack(value.payload), None)

    # -- the symmetric stash ----------------------------------------------

    def a2bset(self, akey, bkey, id_a, id_b, value):
        """``CALC.A2BSET``: stash ``value`` under ``akey[id_b]`` and
        ``bkey[id_a]`` atomically; each hash gets the TTL only when created.
        A dict is packed (and marked) against the region's template."""
        value, ttl = self._stash_value(value)
        return self._writer.call("CALC.A2BSET", akey, bkey, id_a, id_b, value, ttl)

    def _stash_value(self, value):
        """A stash's value (a dict packed against the template) and TTL."""
        if isinstance(value, dict):
            if self.calc_codec is None:
                raise TypeError("a2bset packs a dict only in a calc_template region; pass bytes")
            value = self.calc_codec.pack(value)
        ttl = self._ttl()
        if ttl is None:
            raise ValueError("a2bset needs redis_expiration_time")
        return value, ttl

    def get_stashed(self, hash_name, field):
        """Reads one stashed dict (either side of the stash), ``None`` when
        missing or written under another definition."""
        raw = self._reader.call("HGET", hash_name, field)
        return None if raw is None else self.calc_codec.unpack(raw)

    def purgea(self, akey, bprefix, member):
        """``CALC.PURGEA``: remove ``member`` from every ``bprefix + b`` for
        the fields ``b`` of ``akey``, then delete ``akey``. Returns the number
        of b-hash fields removed."""
        return self._writer.call("CALC.PURGEA", akey, bprefix, member)


class InvalidationNotSupported(RuntimeError):
    """``region.invalidate()`` (hard or soft) on a ``calc_template`` region:
    its values carry no creation time (their age is the hash TTL's), so the
    backend cannot tell which were written before the call."""


class _ReadNow(float):
    """The creation time a template region's value is read with: now. Compared
    with a region invalidation's time (dogpile's invalidators ask ``ct <
    invalidated``) it refuses loudly instead of answering "not invalidated"
    for every value."""

    __slots__ = ()

    def __lt__(self, other):
        raise InvalidationNotSupported(
            "region.invalidate() cannot work on a redis_calc calc_template region: values carry "
            "no creation time (expiry is the hash TTL). Delete the keys (region.delete, "
            "delete_multi) or deploy a changed calc_template_definition, under which every "
            "older value reads as a miss")


class _Hold:
    """One acquisition of a lock by this backend: where it is registered, the
    re-check read that came with it, the writes waiting for its release."""

    __slots__ = ("key", "holds", "prefetched", "rechecked", "pending")

    def __init__(self, key, holds, prefetched):
        self.key, self.holds, self.prefetched = key, holds, prefetched
        self.rechecked = False
        self.pending = []


class _PipelinedLock(Lock):
    """redis-py's lock (same key, token, timeout and release script), with two
    round trips of dogpile's miss path folded into its own:

    * acquiring sends ``SET name token NX GET [PX ms]`` and dogpile's re-check read
      (``HGET hash field``) in one round trip. The server runs the read after
      the ``SET``; when the ``SET`` took the lock, the read is the re-check
      dogpile makes next, and the backend answers that ``get`` from it;
    * a value set under the lock by the thread that re-checked (dogpile's
      creator) is sent with the release script, in one round trip, the write
      first: the value is in Redis before the lock is free, as dogpile needs.

    Any other use (no re-check, another thread's write, ``set_multi``, a read
    or delete of the key before the release) is not delayed: pending writes
    are sent first.

    Both batches are safe for redis-py to send again after a lost reply: the
    ``SET NX GET`` answers this lock's own token when an earlier attempt took
    the lock, and a release that finds the lock gone before its timeout could
    have run out counts as done.
    """

    calc_backend = None
    calc_key = None
    calc_recheck = None
    calc_holds = None
    calc_sent = None

    def do_acquire(self, token):
        # SET NX GET (Redis 7.0+): nil when this SET took the lock, the token
        # of whoever holds it otherwise. A SET sent again by redis-py's retry
        # after the first one took the lock answers this lock's own token:
        # taken, not a lock to wait for.
        timeout = int(self.timeout * 1000) if self.timeout else None
        acquire = ("SET", self.name, token, "NX", "GET")
        if timeout is not None:
            acquire += ("PX", timeout)
        backend = self.calc_backend
        # Before the SET is sent: its PX cannot have run out sooner than
        # lock_timeout from now (do_release tells a resent release by it).
        self.calc_sent[token] = time.monotonic()
        if self.calc_recheck is None:
            return _taken(backend._writer.call(*acquire, get=True), token)
        holder, prefetched = backend._writer.batch([acquire, self.calc_recheck], get=True)
        if isinstance(holder, Exception):
            raise holder
        if not _taken(holder, token):
            return False
        backend._hold(self, token, prefetched)
        return True

    def do_release(self, expected_token):
        backend = self.calc_backend
        pending = backend._unhold(self, expected_token)
        release = ("EVALSHA", self.lua_release.sha, 1, self.name, expected_token)
        *written, released = backend._writer.batch(pending + [release])
        if isinstance(released, NoScriptError):
            # A server that lost its script cache: load it, as Script does.
            released = self.lua_release(keys=[self.name], args=[expected_token], client=self.redis)
        raise_first_error(written)
        if isinstance(released, ResponseError):
            raise released
        sent = self.calc_sent.pop(expected_token, None)
        if released:
            return
        # Not released: gone, or someone else's. Gone before its PX could run
        # out (or with no PX) means this release already ran: redis-py's
        # retry sent it again after a lost reply. Else, as redis-py's lock:
        # the lock expired while held.
        if sent is not None and backend._writer.call("GET", self.name) is None and (
                not self.timeout or time.monotonic() - sent < self.timeout):
            return
        raise LockNotOwnedError("Cannot release a lock that's no longer owned")


def _taken(holder, token):
    """Whether ``SET NX GET``'s answer means this lock holds ``token`` now."""
    return holder is None or holder == token


class _Registrations:
    """The templates a backend keeps registered. A new connection of a client
    the backend made marks them stale (the server may be one that lost them:
    a restart without persistence, a failover); the backend's next command
    registers them first, through redis-py's API like every command. A
    refusal then (a read-only replica, a user without the right) is not an
    error: reads do not depend on it."""

    def __init__(self, backend):
        self.backend = backend
        self.commands = []
        self.stale = False
        self._local = threading.local()

    def connected(self, conn):
        # A connection made to send the registration itself needs no other.
        if not getattr(self._local, "flushing", False) and self.commands:
            self.stale = True

    def flush(self, refused_ok=True):
        self.stale = False
        self._local.flushing = True
        try:
            for registration in self.commands:
                try:
                    self.backend._register(registration)
                except ResponseError:
                    if not refused_ok:
                        raise
        finally:
            self._local.flushing = False
