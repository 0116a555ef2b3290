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
always takes its own path.
"""

from redis.client import NEVER_DECODE
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

_RETRIED = (ConnectionError, TimeoutError)


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
                conn.send_packed_command(conn.pack_commands(commands))
                replies = []
                for _ in commands:
                    try:
                        replies.append(conn.read_response(disable_decoding=True))
                    except ResponseError as e:
                        replies.append(e)
                return replies
            except _RETRIED:
                pass
            finally:
                pool.release(conn)
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command, **{NEVER_DECODE: True})
        return pipe.execute(raise_on_error=False)
