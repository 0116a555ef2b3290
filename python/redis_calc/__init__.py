"""dogpile.cache on the redis-calc Redis module.

Importing the package registers the backend ``"redis_calc.hstore"``.
"""

from dogpile.cache.region import register_backend

from .packing import pack_values, unpack_values

__all__ = ["pack_values", "unpack_values", "RedisCalcHstoreBackend"]

register_backend("redis_calc.hstore", "redis_calc.backend", "RedisCalcHstoreBackend")


def __getattr__(name):
    # The backend module imports dogpile's redis backend; load it on first use.
    if name == "RedisCalcHstoreBackend":
        from .backend import RedisCalcHstoreBackend

        return RedisCalcHstoreBackend
    raise AttributeError(name)
