"""``redis_calc.hstore_sentinel``: ``redis_calc.hstore`` behind Redis Sentinel.

The arguments are those of dogpile.cache's ``redis_sentinel`` backend
(``sentinels``, ``service_name``, ``sentinel_kwargs``, ``connection_kwargs``,
``username``, ``password``, ``db``, the socket options, the lock's; it turns
``distributed_lock`` on and ``thread_local_lock`` off by default) plus those of
``redis_calc.hstore``, and ``read_from_replicas``.

The clients are redis-py's ``Sentinel.master_for``/``slave_for``: each new
connection asks the sentinels where the primary is, and a connection to a
primary that was demoted is dropped, so after a failover the cache is read
from and written to the new primary (its template comes by replication, and
is registered again on every new connection).

Reads go to the primary unless ``read_from_replicas`` is True. dogpile's own
sentinel backend reads from replicas, but a replica lags its primary: a
permission purged at logout could be read back from it and cached again.
"""

from dogpile.cache.backends.redis import RedisSentinelBackend

from .backend import RedisCalcHstoreBackend


class RedisCalcSentinelBackend(RedisCalcHstoreBackend, RedisSentinelBackend):
    """Arguments: those of ``dogpile.cache.redis_sentinel`` and of
    ``redis_calc.hstore``, plus

    * ``read_from_replicas``: read (``get``, ``get_multi``, ``get_stashed``)
      from the replicas, falling back to the primary when none is up
      (default False: every read goes to the primary). Writes, the lock and
      its re-check read always go to the primary.
    """

    def __init__(self, arguments):
        arguments = dict(arguments)
        self.read_from_replicas = bool(arguments.pop("read_from_replicas", False))
        super().__init__(arguments)

    def _create_client(self):
        # dogpile's: writer_client = master_for, reader_client = slave_for.
        super()._create_client()
        if not self.read_from_replicas:
            self.reader_client = self.writer_client
