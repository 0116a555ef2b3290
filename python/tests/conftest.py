"""A real redis-server with the module, on a free loopback port, per test."""

import pytest

from redis_server import Server

__all__ = ["Server", "server"]


@pytest.fixture
def server():
    s = Server()
    try:
        yield s
    finally:
        s.stop()
        s.dir.cleanup()
