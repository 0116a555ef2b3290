"""Round trips on a redis-py client's own pooled connections.

``Redis.execute_command`` wraps every call in layers a cache hit pays for
each time (a retry closure, observability records, per-command checks): about
6 us of client CPU on a 22-34 us HGET, measured by ``make bench-python``'s
transport table. The backend's hot commands go through :class:`Transport`
instead: a connection from the same pool, one packed write, the replies read
by the same parser (hiredis when installed), the connection given back. Values
always arrive as bytes (``decode_responses`` does not apply: they are msgpack).

Nothing is lost on failure: a connection or timeout error on the short path
falls back to the client's own path, which reconnects and retries under the
client's retry policy (so a server restart stays invisible, as with plain
redis-py). A client bound to one connection (``single_connection_client``)
always takes its own path. :class:`ClusterTransport` is the same on a
``RedisCluster``, one connection per node.
"""

from redis.client import NEVER_DECODE
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

_RETRIED = (ConnectionError, TimeoutError)
# Replies a cluster client answers by following them (MovedError is an
# AskError).
_REROUTED = (AskError, TryAgainError, ClusterDownError)
# No node known for a slot, or none reachable to ask.
_UNROUTED = (KeyError, IndexError, RedisClusterException, ConnectionError, TimeoutError)


def exchange(conn, commands):
    """Sends ``commands`` on one connection in one write and reads every
    reply; an error reply is its exception object."""
    conn.send_packed_command(conn.pack_commands(commands))
    replies = []
    for _ in commands:
        try:
            replies.append(conn.read_response(disable_decoding=True))
        except ResponseError as e:
            replies.append(e)
    return replies


class Transport:
    __slots__ = ("client", "pool", "short")

    def __init__(self, client):
        self.client = client
        # The pool a Redis client was made with (read on first use: dogpile
        # backends are created before anyone talks to the server). None until
        # then; a client without a pool (RedisCluster) takes its own path.
        self.pool = None
        self.short = None

    def _ready(self):
        client = self.client
        self.pool = getattr(client, "connection_pool", None)
        self.short = self.pool is not None and getattr(client, "connection", None) is None

    def call(self, *args):
        """One command; its reply, or its error reply raised."""
        if self.short is None:
            self._ready()
        if self.short:
            pool = self.pool
            conn = pool.get_connection()
            try:
                conn.send_packed_command(conn.pack_command(*args))
                return conn.read_response(disable_decoding=True)
            except _RETRIED:
                pass  # the connection is closed; the client's path retries
            finally:
                pool.release(conn)
        return self.client.execute_command(*args, **{NEVER_DECODE: True})

    def batch(self, commands):
        """Several commands in one round trip (a pipeline without MULTI); a
        list of their replies, an error reply as its exception object."""
        if self.short is None:
            self._ready()
        if self.short:
            pool = self.pool
            conn = pool.get_connection()
            try:
                return exchange(conn, commands)
            except _RETRIED:
                pass
            finally:
                pool.release(conn)
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command, **{NEVER_DECODE: True})
        return pipe.execute(raise_on_error=False)


class ClusterTransport:
    """The same short path on a ``RedisCluster``: each command goes to the
    primary of its key's slot (the key is the command's first argument, as
    in every command the backend sends this way, or a script's first key),
    on a connection from that node's pool, through the client's own slot
    table. A batch groups its commands by node: one write per node, then the
    replies of each, so the commands for one node keep their order, as in
    redis-py's cluster pipeline (whose per-command routing costs about 20 us
    of client CPU each).

    Whatever the short path cannot finish goes through the client's own
    path, command by command, which follows ``MOVED``/``ASK``, waits out
    ``TRYAGAIN``, refreshes the slot table after a failover and retries as
    its policy says: a redirection or cluster error reply, a node that cannot
    be reached or a connection lost (as redis-py's cluster pipeline does for
    the same errors). A client that reads from replicas
    (``read_from_replicas``, ``load_balancing_strategy``) always takes its
    own path.
    """

    __slots__ = ("client", "short")

    def __init__(self, client):
        self.client = client
        self.short = None

    def _ready(self):
        client = self.client
        self.short = not (getattr(client, "read_from_replicas", False) or
                          getattr(client, "load_balancing_strategy", None))

    @staticmethod
    def _key(command):
        """The key a command is routed by: its first argument, or for a
        script the first of its keys (KeyError: none)."""
        name = command[0]
        if name == "EVALSHA" or name == "EVAL":
            if int(command[2]) < 1:
                raise KeyError(name)
            return command[3]
        return command[1]

    def _route(self, key):
        """The name and pool of the primary serving ``key``'s slot, from the
        client's slot table (KeyError or IndexError: none known)."""
        client = self.client
        if not isinstance(key, bytes):
            key = client.encoder.encode(key)
        # Read without the client's lock: an entry stale or being changed
        # costs a MOVED, which the client's path then follows.
        node = client.nodes_manager.slots_cache[key_slot(key)][0]
        return node.name, (node.redis_connection or client.get_redis_connection(node)).connection_pool

    def _own_path(self, command):
        return self.client.execute_command(*command, **{NEVER_DECODE: True})

    def call(self, *args):
        """One command; its reply, or its error reply raised."""
        if self.short is None:
            self._ready()
        if self.short:
            try:
                _, pool = self._route(self._key(args))
                conn = pool.get_connection()
            except _UNROUTED:
                pool = None
            if pool is not None:
                try:
                    conn.send_packed_command(conn.pack_command(*args))
                    return conn.read_response(disable_decoding=True)
                except _REROUTED + _RETRIED:
                    pass  # the client's path follows it
                finally:
                    pool.release(conn)
        return self._own_path(args)

    def batch(self, commands):
        """Several commands, one round trip per node; a list of their
        replies, an error reply as its exception object."""
        if self.short is None:
            self._ready()
        replies = [None] * len(commands)
        again = []  # indexes the client's own path runs
        if not self.short:
            again = list(range(len(commands)))
        else:
            nodes = {}
            for i, command in enumerate(commands):
                try:
                    name, pool = self._route(self._key(command))
                except _UNROUTED:
                    again.append(i)
                    continue
                nodes.setdefault(name, (pool, []))[1].append(i)
            sent = []  # (pool, connection, indexes), written to
            try:
                for pool, indexes in nodes.values():
                    try:
                        conn = pool.get_connection()
                    except _RETRIED:
                        again.extend(indexes)
                        continue
                    try:
                        conn.send_packed_command(conn.pack_commands([commands[i] for i in indexes]))
                    except _RETRIED:
                        pool.release(conn)
                        again.extend(indexes)
                        continue
                    sent.append([pool, conn, indexes, False])
                for entry in sent:
                    _, conn, indexes, _ = entry
                    for n, i in enumerate(indexes):
                        try:
                            replies[i] = conn.read_response(disable_decoding=True)
                        except _REROUTED:
                            again.append(i)
                        except ResponseError as e:
                            replies[i] = e
                        except _RETRIED:
                            again.extend(indexes[n:])
                            break
                    else:
                        entry[3] = True
            finally:
                for pool, conn, _, read in sent:
                    if not read:
                        conn.disconnect()  # replies not read: never reuse it
                    pool.release(conn)
        for i in sorted(again):
            try:
                replies[i] = self._own_path(commands[i])
            except (RedisError, RedisClusterException) as e:
                replies[i] = e
        return replies
