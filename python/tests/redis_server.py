"""Real redis-servers with the module on free loopback ports: one server
(what most tests start for each test and what ``make bench-python`` runs
against), a Redis Cluster of three primaries and three replicas, and a primary
with a replica watched by three sentinels. Only 127.0.0.1, only the processes
it started, every wait bounded."""

import os
import pathlib
import socket
import subprocess
import tempfile
import time

import redis

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _server_binary():
    return os.environ.get("CALC_REDIS_SERVER", "redis-server")


def _cli_binary():
    """The cli beside CALC_REDIS_SERVER when there is one (``redis-cli``, or
    ``valkey-cli`` in a Valkey build tree), else PATH's redis-cli."""
    server = os.environ.get("CALC_REDIS_SERVER")
    if server:
        for name in ("redis-cli", "valkey-cli"):
            cli = pathlib.Path(server).with_name(name)
            if cli.exists():
                return str(cli)
    return "redis-cli"


def wait_until(what, predicate, seconds=30, interval=0.05):
    """Polls ``predicate`` until it is true; fails after ``seconds``."""
    deadline = time.time() + seconds
    while True:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        if time.time() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (seconds, what))
        time.sleep(interval)


def _module():
    path = pathlib.Path(os.environ.get("CALC_MODULE", ROOT / "target/release/libredis_calc.so"))
    if not path.exists():
        raise RuntimeError("module not built at %s (run `make build`)" % path)
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_cluster_port():
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = _free_port()
        if port < 55000:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port pair for a cluster node")


def _terminate(proc):
    """SIGTERM, a bounded wait for a clean exit, then SIGKILL; nothing for a
    process that is gone or was never started."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def calc_region(port, definition, **extra):
    """A ``redis_calc.hstore`` template region on the server at ``port``, as
    the tests use it: the hash TTL, the distributed lock, template ``perms``."""
    from dogpile.cache import make_region

    arguments = {
        "host": "127.0.0.1",
        "port": port,
        "redis_expiration_time": 3600,
        "distributed_lock": True,
        "thread_local_lock": False,
        "calc_template": "perms",
        "calc_template_definition": definition,
    }
    arguments.update(extra)
    return make_region().configure("redis_calc.hstore", arguments=arguments)


class Server:
    """A cache-only server (no RDB, no AOF): a restart loses data and templates."""

    def __init__(self, extra_args=(), free_port=_free_port):
        self.extra_args = list(extra_args)
        self.dir = tempfile.TemporaryDirectory(prefix="redis-calc-py")
        for _ in range(5):
            self.port = free_port()
            if self._start():
                return
            self.stop()
        raise RuntimeError("redis-server did not start")

    def _command(self):
        return [_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir.name, "--logfile", "redis.log",
                "--loadmodule", str(_module()), *self.extra_args]

    def _start(self):
        self.proc = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        _terminate(self.proc)

    def kill(self):
        """A crash: SIGKILL, nothing saved, no goodbye to replicas or peers."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def alive(self):
        return self.proc.poll() is None

    def role(self):
        return self.client().info("replication")["role"]

    def wait_for_replica_link(self):
        wait_until("the replica link of port %d" % self.port,
                   lambda: self.client().info("replication").get("master_link_status") == "up")

    def cleanup(self):
        self.stop()
        self.dir.cleanup()


class Cluster:
    """Three primaries and three replicas (``redis-cli --cluster create
    --cluster-replicas 1``), each with the module."""

    def __init__(self):
        self.nodes = []
        try:
            for _ in range(6):
                self.nodes.append(Server(
                    ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     # Long enough that a node starved of CPU on a loaded
                     # 2-core machine is not failed over by its peers.
                     "--cluster-node-timeout", "5000",
                     # A replica's first sync starts at once, not after 5 s.
                     "--repl-diskless-sync-delay", "0"],
                    free_port=_free_cluster_port,
                ))
            create = subprocess.run(
                [_cli_binary(), "--cluster", "create", *["127.0.0.1:%d" % n.port for n in self.nodes],
                 "--cluster-replicas", "1", "--cluster-yes"],
                capture_output=True, text=True, timeout=120,
            )
            if create.returncode != 0:
                raise RuntimeError("cluster create failed: %s%s" % (create.stdout, create.stderr))
            for node in self.nodes:
                wait_until("cluster_state:ok on port %d" % node.port,
                           lambda node=node: node.client().cluster("info")["cluster_state"] == "ok")
            for node in self.replicas():
                node.wait_for_replica_link()
        except BaseException:
            self.stop()
            raise

    def startup_nodes(self):
        from redis.cluster import ClusterNode

        return [ClusterNode("127.0.0.1", n.port) for n in self.nodes if n.alive]

    def client(self, **kwargs):
        from redis.cluster import RedisCluster

        return RedisCluster(startup_nodes=self.startup_nodes(), **kwargs)

    def primaries(self):
        return [n for n in self.nodes if n.alive and n.role() == "master"]

    def replicas(self):
        return [n for n in self.nodes if n.alive and n.role() == "slave"]

    def primary_for(self, key, required=True):
        """The primary serving ``key``'s slot, as that primary sees it (None
        while none does, if not ``required``)."""
        slot = self.primaries()[0].client().cluster("keyslot", key)
        for node in self.primaries():
            if self._owns(node, slot):
                return node
        if required:
            raise AssertionError("no primary serves slot %d" % slot)
        return None

    @staticmethod
    def _owns(node, slot):
        for line in node.client().execute_command("CLUSTER", "NODES").decode().splitlines():
            fields = line.split(" ")
            if "myself" not in fields[2]:
                continue
            for span in fields[8:]:
                if span.startswith("["):
                    continue  # a slot being migrated
                lo, _, hi = span.partition("-")
                if int(lo) <= slot <= int(hi or lo):
                    return True
        return False

    def stop(self):
        for node in self.nodes:
            node.cleanup()


class Sentinel:
    """A redis-server in sentinel mode watching ``service`` at ``primary_port``."""

    def __init__(self, primary_port, service="mymaster"):
        self.dir = tempfile.TemporaryDirectory(prefix="redis-calc-sentinel")
        self.proc = None
        for _ in range(5):
            self.port = _free_port()
            conf = pathlib.Path(self.dir.name) / "sentinel.conf"
            conf.write_text(
                "port %d\nbind 127.0.0.1\ndir %s\nlogfile sentinel.log\n"
                "sentinel monitor %s 127.0.0.1 %d 2\n"
                "sentinel down-after-milliseconds %s 1000\n"
                "sentinel failover-timeout %s 10000\n"
                % (self.port, self.dir.name, service, primary_port, service, service)
            )
            self.proc = subprocess.Popen([_server_binary(), str(conf), "--sentinel"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_until("sentinel on port %d" % self.port, self._ping, seconds=10)
                return
            except AssertionError:
                self.stop()
        raise RuntimeError("redis-server --sentinel did not start")

    def _ping(self):
        if self.proc.poll() is not None:
            raise AssertionError("sentinel exited")
        return self.client().ping()

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self):
        _terminate(self.proc)

    def cleanup(self):
        self.stop()
        self.dir.cleanup()


class SentinelSetup:
    """One primary, one replica, three sentinels that know both and each
    other (so that a failover can be agreed on at once)."""

    service = "mymaster"

    def __init__(self):
        self.servers, self.sentinels = [], []
        try:
            self.primary = Server(["--repl-diskless-sync-delay", "0"])
            self.servers.append(self.primary)
            self.replica = Server(["--replicaof", "127.0.0.1", str(self.primary.port),
                                   "--repl-diskless-sync-delay", "0"])
            self.servers.append(self.replica)
            self.replica.wait_for_replica_link()
            for _ in range(3):
                self.sentinels.append(Sentinel(self.primary.port, self.service))
            for sentinel in self.sentinels:
                wait_until("sentinel %d to see the replica and the other sentinels" % sentinel.port,
                           lambda sentinel=sentinel: self._informed(sentinel))
        except BaseException:
            self.stop()
            raise

    def _informed(self, sentinel):
        client = sentinel.client()
        replicas = client.execute_command("SENTINEL", "REPLICAS", self.service)
        others = client.execute_command("SENTINEL", "SENTINELS", self.service)
        return len(replicas) == 1 and len(others) == 2

    def sentinel_addresses(self):
        return [("127.0.0.1", s.port) for s in self.sentinels]

    def current_primary(self):
        """The server the sentinels name as the primary now."""
        host, port = self.sentinels[0].client().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return next(s for s in self.servers if s.port == int(port))

    def stop(self):
        for sentinel in self.sentinels:
            sentinel.cleanup()
        for server in self.servers:
            server.cleanup()
