"""The backend under failure: a connection cut right after the lock's reply,
a server stalled past ``socket_timeout`` with retries off, and wrappers on
``execute_command`` / ``Pipeline.execute`` that must see every command the
backend sends (one server, a cluster, Sentinel)."""

import select
import signal
import socket
import threading

import pytest
import redis
from dogpile.cache import make_region
from redis.backoff import NoBackoff
from redis.retry import Retry

import redis_calc  # noqa: F401  (registers the backends)
from redis_server import calc_region, wait_until

TEMPLATE = ["a", "bb", ["meta", ["x", "y"]]]


def sample(i=0):
    return {"a": True, "bb": i, "meta": {"x": None, "y": "ü-%d" % i}}


def commandstats(client):
    return {k[len("cmdstat_"):]: v["calls"] for k, v in client.info("commandstats").items()}


def region_on_pool(pool, **extra):
    """The tests' template region (lock on), on a pool of the test's own."""
    return calc_region(None, TEMPLATE, connection_pool=pool, **extra)


def retrying_pool(port, retries):
    """A pool whose commands and pipelines redis-py retries ``retries`` times
    on a lost connection (redis-py 5.x retries a pipeline only for the errors
    in ``retry_on_error``)."""
    extra = {"retry_on_error": [redis.ConnectionError, redis.TimeoutError]} if retries else {}
    return redis.ConnectionPool(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), retries), **extra)


class CuttingProxy:
    """A loopback TCP proxy to ``port``. Once armed, the first connection
    whose client sends a command holding ``trigger`` gets the first line of
    the server's next reply, then both sides are closed: a connection lost
    right after the first reply of a batch was read."""

    def __init__(self, port, trigger):
        self.upstream, self.trigger = port, trigger
        self.armed, self.cuts, self.stopped = False, 0, False
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, client):
        server = socket.create_connection(("127.0.0.1", self.upstream))
        cut_next = False
        try:
            while not self.stopped:
                ready, _, _ = select.select([client, server], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        if self.armed and self.trigger in data:
                            self.armed, cut_next = False, True
                        server.sendall(data)
                    elif cut_next:
                        client.sendall(data[:data.index(b"\r\n") + 2])
                        self.cuts += 1
                        return
                    else:
                        client.sendall(data)
        finally:
            client.close()
            server.close()

    def stop(self):
        self.stopped = True
        self.listener.close()
        for thread in self.threads:
            thread.join(5)


@pytest.mark.parametrize("retries", [1, 0])
def test_a_connection_lost_after_the_locks_reply_never_waits_on_its_own_lock(server, retries):
    proxy = CuttingProxy(server.port, b"NX")
    try:
        pool = retrying_pool(proxy.port, retries)
        # lock_timeout bounds what a lock waiting on itself would wait.
        region = region_on_pool(pool, lock_timeout=3)
        key = ("calculated-a|1", "42")
        client = server.client()
        client.config_resetstat()
        calls = []
        proxy.armed = True
        if retries:
            # redis-py sends the batch again: the SET answers this lock's own
            # token, the lock is held, the value written, the lock released.
            assert region.get_or_create(key, lambda: calls.append(1) or sample(1)) == sample(1)
            assert calls == [1]
        else:
            with pytest.raises(redis.ConnectionError):
                region.get_or_create(key, lambda: calls.append(1) or sample(1))
            assert calls == []
        assert proxy.cuts == 1
        # The SET ran once per attempt redis-py made, and never more.
        assert commandstats(client)["set"] == 1 + retries
        if retries:
            assert client.keys("_lok*") == []
            assert region.get(key) == sample(1)
    finally:
        proxy.stop()


def test_a_release_sent_again_after_it_ran_is_a_release(server):
    proxy = CuttingProxy(server.port, b"EVALSHA")
    try:
        pool = retrying_pool(proxy.port, 1)
        region = region_on_pool(pool, lock_timeout=30)
        key = ("calculated-a|1", "43")
        region.get_or_create(key, lambda: sample(0))  # the release script loaded
        client = server.client()
        client.config_resetstat()
        proxy.armed = True
        # The value's write and the release go in one batch; the connection is
        # cut after the write's reply, redis-py sends both again: the write
        # sets the same value, the release finds the lock gone.
        assert region.get_or_create((key[0], "44"), lambda: sample(2)) == sample(2)
        assert proxy.cuts == 1
        stats = commandstats(client)
        assert stats["evalsha"] == 2 and stats["calc.hsetex"] == 2
        assert client.keys("_lok*") == []
        assert region.get((key[0], "44")) == sample(2)
    finally:
        proxy.stop()


def test_a_stalled_server_runs_each_command_once_when_retries_are_off(server):
    pool = redis.ConnectionPool(host="127.0.0.1", port=server.port, socket_timeout=0.3,
                                retry=Retry(NoBackoff(), 0))
    region = region_on_pool(pool)
    backend = region.backend
    backend.a2bset("a2b-a|1", "a2b-b|7", 1, 7, sample())
    client = server.client()
    client.config_resetstat()
    for action in (lambda: region.set(("calculated-a|1", "1"), sample()),
                   lambda: backend.purgea("a2b-a|1", "a2b-b|", 1),
                   lambda: region.get(("calculated-a|1", "1"))):
        backend.writer_client.ping()  # a connection ready: the command is sent
        server.proc.send_signal(signal.SIGSTOP)
        resume = threading.Timer(0.45, server.proc.send_signal, (signal.SIGCONT,))
        resume.start()
        try:
            with pytest.raises(redis.TimeoutError):
                action()
        finally:
            resume.join()
            server.proc.send_signal(signal.SIGCONT)
        wait_until("the server to answer again", lambda: server.client().ping())
    stats = commandstats(client)
    # Each sent once, by the attempt that timed out (the server ran it when
    # it woke up); none sent again.
    assert stats["calc.hsetex"] == 1
    assert stats["calc.purgea"] == 1
    assert stats["hget"] == 1


# -- every command through redis-py's hooks ---------------------------------------

# Sent by redis-py's connection handshake, or to the server by its replicas and
# sentinels, or by the test itself: never by the backend.
_NOT_THE_BACKENDS = {"hello", "client|setinfo", "client|setname", "select", "auth", "info", "ping",
                     "config|resetstat", "replconf", "psync", "publish", "subscribe", "readonly",
                     "cluster|slots", "cluster|shards", "cluster|nodes", "command", "command|docs"}


def _name(args):
    parts = args[0].split() if isinstance(args[0], str) else [args[0].decode()]
    parts += list(args[1:])
    name = str(parts[0]).lower()
    if name in ("calc.template", "client", "config", "cluster", "command", "script") and len(parts) > 1:
        sub = parts[1].decode() if isinstance(parts[1], bytes) else str(parts[1])
        name += "|" + sub.lower()
    return name


class Seen:
    """Wraps what OpenTelemetry's redis instrumentation wraps
    (``execute_command``, ``Pipeline.execute``,
    ``Pipeline.immediate_execute_command``), counting the commands each
    wrapper sees."""

    def __init__(self, monkeypatch):
        from redis.client import Pipeline
        from redis.cluster import ClusterPipeline, RedisCluster

        self.counts = {}
        for cls, method in ((redis.Redis, "execute_command"), (RedisCluster, "execute_command"),
                            (Pipeline, "immediate_execute_command")):
            self._wrap(monkeypatch, cls, method, lambda client, args: [args])
        self._wrap(monkeypatch, Pipeline, "execute", self._pipeline)
        self._wrap(monkeypatch, ClusterPipeline, "execute", self._cluster_pipeline)

    @staticmethod
    def _pipeline(pipe, args):
        commands = [entry[0] for entry in pipe.command_stack]
        if pipe.transaction or pipe.explicit_transaction:
            commands = [("MULTI",)] + commands + [("EXEC",)]
        return commands

    @staticmethod
    def _cluster_pipeline(pipe, args):
        strategy = getattr(pipe, "_execution_strategy", None)  # redis-py 6+
        stack = strategy.command_queue if strategy is not None else pipe.command_stack
        return [entry.args for entry in stack]

    def _wrap(self, monkeypatch, cls, method, commands):
        original = getattr(cls, method)

        def wrapper(client, *args, **options):
            for command in commands(client, args):
                name = _name(command)
                self.counts[name] = self.counts.get(name, 0) + 1
            return original(client, *args, **options)

        monkeypatch.setattr(cls, method, wrapper)


def _workload(region, a):
    backend = region.backend
    key = ("calculated-a|%d" % a, "1")
    region.get_or_create(key, lambda: sample(1))
    region.get(key)
    region.set_multi({("calculated-a|%d" % a, str(b)): sample(b) for b in range(2, 6)})
    region.get_multi([("calculated-a|%d" % a, str(b)) for b in range(1, 6)] + [("calculated-a|%d9" % a, "1")])
    region.delete(key)
    backend.a2bset("a2b-a|%d" % a, "a2b-b|7", a, 7, sample())
    backend.a2bset("a2b-a|%d" % a, "a2b-b|8", a, 8, sample())
    backend.get_stashed("a2b-b|7", str(a))
    backend.purgea("a2b-a|%d" % a, "a2b-b|", a)


def _backend_calls(clients):
    total = {}
    for client in clients:
        for name, calls in commandstats(client).items():
            if name not in _NOT_THE_BACKENDS:
                total[name] = total.get(name, 0) + calls
    return total


def _assert_seen_everything(seen, clients, everywhere=()):
    """What the servers ran is what the wrappers saw; a command in
    ``everywhere`` runs on each of ``clients`` once per call."""
    ran = _backend_calls(clients)
    shown = {k: v * (len(clients) if k in everywhere else 1)
             for k, v in seen.counts.items() if k not in _NOT_THE_BACKENDS}
    # The server counts the commands a script runs too: each lock taken here
    # (one SET each) is released once by its script, which GETs and DELs it.
    for inner in ("get", "del"):
        shown[inner] = shown.get(inner, 0) + shown.get("set", 0)
    assert ran == {k: v for k, v in shown.items() if v}
    assert ran["calc.hsetex"] >= 1 and ran["calc.purgea"] >= 1


def test_every_command_is_seen_by_execute_command_and_pipeline_wrappers(server, monkeypatch):
    client = server.client()
    client.config_resetstat()
    seen = Seen(monkeypatch)
    region = make_region().configure("redis_calc.hstore", arguments={
        "host": "127.0.0.1", "port": server.port, "redis_expiration_time": 3600, "distributed_lock": True,
        "thread_local_lock": False, "calc_template": "perms", "calc_template_definition": TEMPLATE})
    _workload(region, 1)
    # A new connection: the templates are registered again, seen too.
    region.backend.writer_client.connection_pool.disconnect()
    _workload(region, 2)
    _assert_seen_everything(seen, [client])
    assert seen.counts["calc.template|set"] == 2


def test_every_command_on_a_cluster_is_seen(cluster, monkeypatch):
    for node in cluster.primaries():
        node.client().config_resetstat()
    seen = Seen(monkeypatch)
    region = make_region().configure("redis_calc.hstore_cluster", arguments={
        "startup_nodes": cluster.startup_nodes(), "redis_expiration_time": 3600, "distributed_lock": True,
        "thread_local_lock": False, "calc_template": "seen", "calc_template_definition": TEMPLATE})
    for a in range(3):
        _workload(region, 100 + a)
    # The templates and the release script go to every primary.
    _assert_seen_everything(seen, [n.client() for n in cluster.primaries()],
                            everywhere=("calc.template|set", "script|load"))


def test_every_command_under_sentinel_is_seen(sentinel_setup, monkeypatch):
    primary = sentinel_setup.current_primary().client()
    primary.config_resetstat()
    seen = Seen(monkeypatch)
    region = make_region().configure("redis_calc.hstore_sentinel", arguments={
        "sentinels": sentinel_setup.sentinel_addresses(), "service_name": sentinel_setup.service,
        "redis_expiration_time": 3600, "distributed_lock": True, "thread_local_lock": False,
        "calc_template": "seen", "calc_template_definition": TEMPLATE, "socket_timeout": 5})
    _workload(region, 1)
    # Only what the backend sent to the primary: the sentinels' own commands
    # go to the sentinels.
    seen.counts = {k: v for k, v in seen.counts.items() if not k.startswith("sentinel")}
    _assert_seen_everything(seen, [primary])
