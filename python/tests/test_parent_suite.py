"""dogpile_backend_redis_advanced's own tests for its hstore backend (built on
dogpile.cache's ``dogpile.testing.fixtures``), run unchanged against
``redis_calc.hstore``: a drop-in passes what the parent passes.

The parent's tests ship in its sdist on PyPI, not in the wheel; the sdist of
the installed version is downloaded once into ``.venv/parent-suite``.
"""

import importlib.metadata
import os
import pathlib
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGIN_DIR = pathlib.Path(__file__).resolve().parent / "parent"


def _parent_tests():
    version = importlib.metadata.version("dogpile_backend_redis_advanced")
    cache = pathlib.Path(sys.prefix) / "parent-suite"
    tree = cache / ("dogpile_backend_redis_advanced-%s" % version)
    if not (tree / "tests").is_dir():
        cache.mkdir(exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             "-d", str(cache), "dogpile_backend_redis_advanced==%s" % version],
            check=True,
        )
        sdist = next(cache.glob("dogpile_backend_redis_advanced-%s.tar.gz" % version))
        with tarfile.open(sdist) as archive:
            archive.extractall(cache, filter="data")
    return tree


def test_the_parents_hstore_suite_passes_against_redis_calc(server, tmp_path):
    tree = _parent_tests()
    report = tmp_path / "created"
    env = dict(os.environ,
               DOGPILE_REDIS_PORT=str(server.port),
               CALC_PARENT_REPORT=str(report),
               PYTHONPATH=os.pathsep.join([str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "calc_as_parent", "-W", "ignore",
         # The hstore backend's classes; the others test the parent's plain backend.
         "-k", "Hstore or hstore", "-p", "no:cacheprovider", "tests"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=900,
    )
    tail = run.stdout[-3000:]
    assert run.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail and "error" not in tail, tail
    assert int(report.read_text()) > 0, "the run never created a redis_calc backend"
