"""Real redis-servers with the module, on free loopback ports: one server per
test, and a cluster and a Sentinel setup per test module."""

import pytest

from redis_server import Cluster, SentinelSetup, Server

__all__ = ["Server", "server", "cluster", "sentinel_setup"]


@pytest.fixture
def server():
    s = Server()
    try:
        yield s
    finally:
        s.stop()
        s.dir.cleanup()


@pytest.fixture(scope="module")
def cluster():
    """Three primaries and three replicas, shared by a module's tests (each
    uses keys of its own); a test that kills a node runs last."""
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def sentinel_setup():
    """One primary, one replica, three sentinels, shared by a module's tests;
    a test that fails the primary over runs last."""
    s = SentinelSetup()
    try:
        yield s
    finally:
        s.stop()
