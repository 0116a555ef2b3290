"""How the backend's commands reach the server: redis-py's own public API.

One command goes through ``client.execute_command``, several in one round trip
through ``client.pipeline(transaction=False)`` and ``execute(raise_on_error=
False)``; on a ``RedisCluster`` the same two calls are its own (routing,
``MOVED``/``ASK``, its slot table refreshes). Failure behaviour is therefore
redis-py's: its retry policy (``retry=``, ``retry_on_timeout``,
``cluster_error_retry_attempts``), its timeouts, its reconnects, and every
command is seen by whatever wraps ``execute_command`` / ``Pipeline.execute``
(OpenTelemetry's redis instrumentation, redis-py's own metrics). Nothing is
retried here.

A retry policy that sends a command again after its reply was lost must find
the backend's commands safe to repeat; they are (README, Transport): the
writes set the same fields to the same values and give the TTL only to a hash
they create, the lock's ``SET NX GET`` answers this lock's own token when the
first attempt took it, the release reports a lock already gone as released.

Values always arrive as bytes (``decode_responses`` does not apply: they are
msgpack).
"""

from redis.client import NEVER_DECODE

_RAW = {NEVER_DECODE: True}


class Transport:
    """``call`` and ``batch`` on one redis-py client (``Redis`` or
    ``RedisCluster``). ``registrations``: an object whose ``stale`` says that
    the client made a connection since the templates were last registered;
    its ``flush()`` registers them (through this same API) before the next
    command."""

    __slots__ = ("client", "registrations")

    def __init__(self, client, registrations=None):
        self.client = client
        self.registrations = registrations

    def call(self, *args, **options):
        """One command; its reply, or its error reply raised. ``options`` go
        to redis-py's reply callback (``get=True`` for ``SET ... GET``)."""
        registrations = self.registrations
        if registrations is not None and registrations.stale:
            registrations.flush()
        return self.client.execute_command(*args, **_RAW, **options)

    def batch(self, commands, **options):
        """Several commands in one round trip (a pipeline without MULTI; on a
        cluster one round trip per node); a list of their replies, an error
        reply as its exception object. ``options`` apply to every command."""
        registrations = self.registrations
        if registrations is not None and registrations.stale:
            registrations.flush()
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command, **_RAW, **options)
        return pipe.execute(raise_on_error=False)


def raise_first_error(replies):
    """The replies of a batch, the first error reply raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
