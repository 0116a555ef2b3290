"""pytest plugin: run dogpile_backend_redis_advanced's own test suite with its
hstore backend name resolving to ``redis_calc.hstore``.

Loaded with ``-p calc_as_parent`` by ``test_parent_suite.py``. The parent's
package registers its backends when its test modules import it, so ours is
registered after collection. The few parent test classes that hard-code port
6379 get the port of the server this run started (the project's tests never
touch 6379). ``CALC_PARENT_REPORT`` receives how many backends of ours the run
created, so a run that silently tested the parent cannot pass.
"""

import os

from dogpile.cache.region import register_backend

import redis_calc.backend

created = 0
_init = redis_calc.backend.RedisCalcHstoreBackend.__init__


def _counting_init(self, arguments):
    global created
    created += 1
    _init(self, arguments)


def pytest_collection_finish(session):
    register_backend("dogpile_backend_redis_advanced.hstore", "redis_calc.backend", "RedisCalcHstoreBackend")
    redis_calc.backend.RedisCalcHstoreBackend.__init__ = _counting_init
    port = int(os.environ["DOGPILE_REDIS_PORT"])
    for item in session.items:
        arguments = getattr(item.cls, "config_args", {}).get("arguments", {})
        if arguments.get("port") == 6379:
            arguments["port"] = port


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["CALC_PARENT_REPORT"], "w") as report:
        report.write(str(created))
