"""A real redis-server with the module on a free loopback port: what the
tests start for each test and what ``make bench-python`` runs against. Only
127.0.0.1, only the process it started."""

import os
import pathlib
import socket
import subprocess
import tempfile
import time

import redis

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _module():
    path = pathlib.Path(os.environ.get("CALC_MODULE", ROOT / "target/release/libredis_calc.so"))
    if not path.exists():
        raise RuntimeError("module not built at %s (run `make build`)" % path)
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A cache-only server (no RDB, no AOF): a restart loses data and templates."""

    def __init__(self, extra_args=()):
        self.extra_args = list(extra_args)
        self.dir = tempfile.TemporaryDirectory(prefix="redis-calc-py")
        for _ in range(5):
            self.port = _free_port()
            if self._start():
                return
            self.stop()
        raise RuntimeError("redis-server did not start")

    def _start(self):
        self.proc = subprocess.Popen(
            [os.environ.get("CALC_REDIS_SERVER", "redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir.name, "--logfile", "redis.log",
             "--loadmodule", str(_module()), *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self._wait()

    def restart(self):
        """Stops the server and starts a new one on the same port."""
        self.stop()
        if not self._start():
            raise RuntimeError("redis-server did not restart")

    def _wait(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if redis.Redis(port=self.port).ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.02)
        return False

    def client(self, **kwargs):
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
