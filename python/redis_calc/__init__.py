"""dogpile.cache on the redis-calc Redis module.

Importing the package registers the backends ``"redis_calc.hstore"`` (one
server), ``"redis_calc.hstore_cluster"`` (Redis Cluster) and
``"redis_calc.hstore_sentinel"`` (Sentinel).
"""

from dogpile.cache.region import register_backend

from .packing import TemplateMismatch, pack_values, unpack_values

__all__ = [
    "pack_values",
    "unpack_values",
    "RedisCalcHstoreBackend",
    "RedisCalcClusterBackend",
    "RedisCalcSentinelBackend",
    "PurgeIncomplete",
    "InvalidationNotSupported",
    "TemplateMismatch",
]

register_backend("redis_calc.hstore", "redis_calc.backend", "RedisCalcHstoreBackend")
register_backend("redis_calc.hstore_cluster", "redis_calc.cluster", "RedisCalcClusterBackend")
register_backend("redis_calc.hstore_sentinel", "redis_calc.sentinel", "RedisCalcSentinelBackend")

_LAZY = {
    "RedisCalcHstoreBackend": "backend",
    "RedisCalcClusterBackend": "cluster",
    "PurgeIncomplete": "cluster",
    "InvalidationNotSupported": "backend",
    "RedisCalcSentinelBackend": "sentinel",
}


def __getattr__(name):
    # The backend modules import dogpile's redis backend; load them on first use.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module("." + _LAZY[name], __name__), name)
    raise AttributeError(name)
