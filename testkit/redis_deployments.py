"""Redis deployments of a test's own, on free ports, never the shared server: one server, a Redis
Cluster of three masters, and a master with a replica watched by three Sentinels."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import redis
from django.conf import settings
from redis.cluster import ClusterNode, RedisCluster

from infra.redis_topology import Topology
from testkit.live import free_port
from testkit.worker import wait_for


class OwnRedis:
    """A Redis server of a test's own, so that stopping it disturbs nothing else.

    ``cluster``: a Redis Cluster of one master holding all 16,384 slots. It answers as any
    cluster does (a script or transaction over keys of two slots is refused, ``CROSSSLOT``; no
    ``SELECT``) and, being alone, never redirects: what runs on it runs on a cluster of many."""

    def __init__(self, *, cluster: bool = False, slots: bool = True, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.cluster = cluster
        self.slots = slots  # a cluster node: take every slot (alone) or none (``OwnRedisCluster``)
        self.args = args
        self.bus = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _ in range(3):  # a free port may be taken before the server binds it: try others
            if self._started():
                break
            self.port = free_port()
        else:
            raise RuntimeError(f"redis-server did not start (last port {self.port})")
        client = redis.Redis(port=self.port)
        if self.cluster and self.slots:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            if not wait_for(
                lambda: b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"), timeout=30
            ):
                raise RuntimeError("the cluster did not become ready")

    def _started(self) -> bool:
        command = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no"]
        if self.cluster:
            self._dir = self._dir or tempfile.TemporaryDirectory(prefix="redis-cluster-")
            # The cluster bus's port: by default the port + 10,000, past 65,535 for many ports.
            self.bus = free_port()
            while self.bus == self.port:
                self.bus = free_port()
            command += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
            command += ["--cluster-port", str(self.bus), "--dir", self._dir.name]
        command += self.args
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        process = self.process
        wait_for(lambda: _answers(client) or process.poll() is not None, timeout=30)
        if _answers(client):
            return True
        process.terminate()
        process.wait()
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
        if self._dir is not None:
            self._dir.cleanup()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:  # not listening yet, or still loading
        return False


def topology_for(request: pytest.FixtureRequest) -> Topology:
    """The deployment a contract suite's parameter names: ``cluster`` (the session's
    three-master ``redis_cluster``) or the suite's own server."""
    if request.param == "cluster":
        cluster: OwnRedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.topology
    return Topology.parse(settings.REDIS_URL)


class OwnRedisCluster:
    """Three masters, each holding a third of the 16,384 slots, met over their buses: a
    command on another master's slot is answered ``MOVED``, a script over two slots
    ``CROSSSLOT``."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [OwnRedis(cluster=True, slots=False) for _ in range(masters)]

    @property
    def url(self) -> str:
        """What the platform's ``REDIS_URL`` is under a Cluster: the credentials (none here)."""
        return self.nodes[0].url

    @property
    def setting(self) -> str:
        """``REDIS_CLUSTER_NODES``."""
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def topology(self) -> Topology:
        return Topology.parse(self.url, cluster=self.setting)

    def client(self) -> RedisCluster:
        return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", node.port) for node in self.nodes])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        share = 16384 // len(self.nodes)
        for index, node in enumerate(self.nodes):
            last = 16383 if index == len(self.nodes) - 1 else (index + 1) * share - 1
            redis.Redis(port=node.port).execute_command("CLUSTER", "ADDSLOTSRANGE", index * share, last)
        first = redis.Redis(port=self.nodes[0].port)
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus)

        def ready() -> bool:
            for node in self.nodes:
                client = redis.Redis(port=node.port)
                if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
                if len(client.execute_command("CLUSTER", "SLOTS")) != len(self.nodes):
                    return False
            return True

        if not wait_for(ready, timeout=60):
            raise RuntimeError("the cluster did not become ready")

    def flush(self) -> None:
        for node in self.nodes:
            redis.Redis(port=node.port).flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class OwnSentinels:
    """A master, a replica of it and three Sentinels watching it (quorum 2, a master is down
    after 1 s without an answer): killing the master makes the replica the master within
    seconds, as in production."""

    MASTER = "mymaster"

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="redis-sentinel-"))
        self.master = OwnRedis(args=("--dir", str(self._dir)))
        self.replica: OwnRedis | None = None
        self.sentinels: list[subprocess.Popen[bytes]] = []
        self.sentinel_ports: list[int] = []

    @property
    def setting(self) -> str:
        """``REDIS_SENTINELS``."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> None:
        self.master.start()
        self.replica = OwnRedis(
            args=("--dir", str(self._dir), "--replicaof", "127.0.0.1", str(self.master.port))
        )
        self.replica.start()
        replica = redis.Redis(port=self.replica.port)
        if not wait_for(lambda: replica.info("replication").get("master_link_status") == "up", timeout=60):
            raise RuntimeError("the replica did not catch up with the master")
        for _ in range(3):
            self._start_sentinel()

        def watching() -> bool:  # each Sentinel knows the replica and the two others
            for port in self.sentinel_ports:
                sentinel = redis.Redis(port=port)
                if not sentinel.execute_command("SENTINEL", "REPLICAS", self.MASTER):
                    return False
                if len(sentinel.execute_command("SENTINEL", "SENTINELS", self.MASTER)) < 2:
                    return False
            return True

        if not wait_for(watching, timeout=60):
            raise RuntimeError("the Sentinels did not find the replica and each other")

    def _start_sentinel(self) -> None:
        for _ in range(3):  # a free port may be taken before the Sentinel binds it
            port = free_port()
            config = self._dir / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self._dir}\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.MASTER} 1000\n"
                f"sentinel failover-timeout {self.MASTER} 10000\n"
                f"sentinel parallel-syncs {self.MASTER} 1\n"
            )
            binary = shutil.which("redis-server") or "redis-server"
            process = subprocess.Popen([binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL)
            client = redis.Redis(port=port)
            wait_for(lambda: _answers(client) or process.poll() is not None, timeout=30)  # noqa: B023
            if _answers(client):
                self.sentinels.append(process)
                self.sentinel_ports.append(port)
                return
            process.terminate()
            process.wait()
        raise RuntimeError("a Sentinel did not start")

    def master_port(self) -> int:
        """The master's port, as the first Sentinel says now."""
        sentinel = redis.Redis(port=self.sentinel_ports[0])
        _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.MASTER)
        return int(port)

    def kill_master(self) -> None:
        """The master dies at once (SIGKILL: no goodbye to its clients or replica)."""
        assert self.master.process is not None
        self.master.process.kill()
        self.master.process.wait()

    def promoted(self, timeout: float = 60) -> bool:
        """Whether the Sentinels made the replica the master within ``timeout`` seconds."""
        assert self.replica is not None
        replica = redis.Redis(port=self.replica.port)
        return wait_for(
            lambda: (
                self.master_port() == self.replica.port  # type: ignore[union-attr]
                and replica.info("replication").get("role") == "master"
            ),
            timeout=timeout,
        )

    def stop(self) -> None:
        for process in self.sentinels:
            process.terminate()
            process.wait()
        if self.replica is not None:
            self.replica.stop()
        if self.master.process is not None and self.master.process.poll() is None:
            self.master.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
