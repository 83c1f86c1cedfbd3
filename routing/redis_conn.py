"""Connect the engine to Redis: a URL, a cluster, or an embedded server of its own.

URLs (``REDIS_URL`` style):

* ``redis://host:6379/0``, ``unix:///path/redis.sock``: one server;
* ``rediss://host:6380/0?ssl_ca_certs=/etc/ivr/redis-ca.pem``: one server over TLS, its
  certificate checked against that CA (and its host name, ``ssl_check_hostname=false`` to
  skip); with ``&ssl_certfile=...&ssl_keyfile=...`` this client's certificate, for a server
  with ``tls-auth-clients yes``.  The query is redis-py's own (any ``ssl_*`` argument of
  its SSL connection).  At connect the files are checked and one PING is sent without
  retries: a refused certificate is :class:`RedisTlsError` at once, not a retry loop;
* ``redis+cluster://host:7000`` (or ``redis://host:7000?cluster=1``), ``rediss+cluster://``
  with the same query over TLS: Redis Cluster, any node as the seed;
* ``None``: the embedded real Redis server of ``embedded_dir`` (:mod:`routing.embedded`):
  one server per checkout on a fixed unix socket, shared by every process that uses it,
  started by the first and stopped by the last one to leave (at its exit).

Clients retry with exponential backoff (about 10 s in all) on a lost connection, a
timeout and a server still loading its data after a restart; every routing script is
idempotent, so a retry after a lost reply is safe.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import ssl
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

from redis import Redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    ConnectionError,
    RedisClusterException,
    TimeoutError,
)
from redis.retry import Retry

from routing.embedded import EmbeddedRedis

RETRIES = 12
TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_embedded: dict[str, EmbeddedRedis] = {}


class RedisTlsError(Exception):
    """A TLS URL that cannot work: a file it names cannot be read, or the TLS handshake
    is refused (the server's certificate not signed by ``ssl_ca_certs``, not for this host,
    ours refused, or no TLS at that port).  ``message`` says which, without the password."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=2.0, base=0.05), RETRIES)


def _options() -> dict[str, Any]:
    return {
        "retry": _retry(),
        "retry_on_error": [ConnectionError, TimeoutError, BusyLoadingError],
        "socket_timeout": 10.0,
        "socket_connect_timeout": 2.0,
        "health_check_interval": 30,
    }


class RetryingCluster(RedisCluster):
    """``RedisCluster`` whose commands are retried with backoff.

    redis-py's cluster client retries a failed command at once, without waiting, so a
    master restarting for half a second exhausts its attempts; here every command
    (scripts included) is retried with the same backoff as the single-server client.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._backoff_retry: Retry | None = None  # the parent's __init__ sends commands
        super().__init__(*args, **kwargs)
        self._backoff_retry = _retry()
        self._backoff_retry.update_supported_errors([ClusterDownError, BusyLoadingError])

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._backoff_retry is None:
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]
        return self._backoff_retry.call_with_retry(
            lambda: super(RetryingCluster, self).execute_command(*args, **kwargs),  # type: ignore[no-untyped-call]
            lambda _error: None,
        )


def is_cluster_url(url: str) -> bool:
    parsed = urlparse(url)
    flag = parse_qs(parsed.query).get("cluster", [""])[0].lower()
    return parsed.scheme in ("redis+cluster", "rediss+cluster") or flag in ("1", "true", "yes")


def check_tls(url: str) -> None:
    """For a ``rediss://`` URL (one server, or a cluster's seed node): the files it names
    can be read, and one PING over TLS (no retries) is not refused by the handshake.  A
    server that cannot be reached at all is left to the client's retries, as for redis://."""
    parsed = urlparse(url)
    if parsed.scheme != "rediss":
        return
    where = f"rediss://{parsed.hostname}:{parsed.port or 6379}"
    for name in TLS_FILES:
        for path in parse_qs(parsed.query).get(name, []):
            if not os.access(path, os.R_OK):
                raise RedisTlsError(f"REDIS_URL {where}: {name}={path} cannot be read")
    probe = Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 0))
    try:
        probe.ping()
    except ConnectionError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ssl.SSLError) or "SSL" in str(exc):
            raise RedisTlsError(
                f"REDIS_URL {where}: TLS refused: {cause or exc}; ssl_ca_certs must name the CA that signed "
                "the server's certificate (and ssl_certfile/ssl_keyfile a client certificate when the server "
                "asks for one)") from None
    finally:
        probe.close()


def connect(url: str | None, *, embedded_dir: str) -> Redis | RedisCluster:
    """A client for ``url`` (see the module docstring); ``None``: an embedded server."""
    if url is None:
        return _start_embedded(embedded_dir)
    if is_cluster_url(url):
        parsed = urlparse(url)
        query = {k: v for k, v in parse_qs(parsed.query).items() if k != "cluster"}
        scheme = parsed.scheme.removesuffix("+cluster")
        plain = urlunparse(parsed._replace(scheme=scheme, query=urlencode(query, doseq=True)))
        check_tls(plain)
        opts = _options()
        opts.pop("retry_on_error")
        opts["retry"] = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)
        # The seed node may be restarting right now: retry the discovery with the same
        # backoff as commands (a new engine process started during a failover).
        backoff = ExponentialBackoff(cap=2.0, base=0.05)
        for attempt in range(RETRIES):
            try:
                return RetryingCluster.from_url(plain, **opts)
            except (RedisClusterException, ConnectionError, TimeoutError):
                if attempt == RETRIES - 1:
                    raise
                time.sleep(backoff.compute(attempt + 1))
    check_tls(url)
    return Redis.from_url(url, **_options())


def _start_embedded(directory: str) -> Redis:
    """A client of the embedded server of ``directory``; this process joins it once and
    leaves it at exit (see :mod:`routing.embedded`)."""
    key = os.path.abspath(directory)
    server = _embedded.get(key)
    if server is None:
        server = EmbeddedRedis(key)
        server.join()
        _embedded[key] = server
        if len(_embedded) == 1:
            atexit.register(leave_embedded)
    return server.client(**_options())


def _forget_in_child() -> None:
    while _embedded:
        _, server = _embedded.popitem()
        server.forget()


os.register_at_fork(after_in_child=_forget_in_child)


def leave_embedded() -> None:
    """Leave every embedded server this process joined (the last process out stops it)."""
    while _embedded:
        _, server = _embedded.popitem()
        with contextlib.suppress(Exception):  # at exit: nothing left to tell
            server.leave()
