"""The embedded Redis of one folder: shared, and stopped by the last user to leave.

``flock`` locks belong to open files, not processes, so two :class:`EmbeddedRedis` of one
folder in this process behave as two processes would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.embedded import MAX_SOCKET_PATH, EmbeddedRedis, EmbeddedRedisError


def test_the_first_user_starts_it_and_the_last_one_out_stops_it(tmp_path: Path) -> None:
    engine, command = EmbeddedRedis(tmp_path / "redis"), EmbeddedRedis(tmp_path / "redis")
    engine.join()
    assert engine.started_here and engine.answers()
    command.join()
    assert not command.started_here
    command.client().set("{ivr}:kept", "1")

    assert command.leave() is False  # the engine still uses it
    assert engine.answers()
    assert engine.leave() is True
    assert not engine.answers()

    again = EmbeddedRedis(tmp_path / "redis")
    again.join()  # the data outlives the server
    try:
        assert again.client().get("{ivr}:kept") == b"1"
    finally:
        assert again.leave() is True


def test_the_engine_leaving_first_leaves_it_to_the_command(tmp_path: Path) -> None:
    engine, command = EmbeddedRedis(tmp_path / "redis"), EmbeddedRedis(tmp_path / "redis")
    engine.join()
    command.join()
    assert engine.leave() is False
    assert command.client().ping()
    assert command.leave() is True
    assert not command.answers()


def test_a_socket_path_too_long_is_refused_with_what_to_do(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * (MAX_SOCKET_PATH - len(str(tmp_path))))
    with pytest.raises(EmbeddedRedisError, match="REDIS_URL"):
        EmbeddedRedis(deep).join()


def test_a_forked_child_does_not_keep_it_from_stopping(tmp_path: Path) -> None:
    import os
    import time

    from routing.redis_conn import connect, leave_embedded

    connect(None, embedded_dir=str(tmp_path / "redis")).ping()
    running, started = os.pipe()
    child = os.fork()
    if child == 0:  # a worker forked while the parent uses the server, outliving it
        os.write(started, b"1")  # the fork handlers have run
        time.sleep(3)
        os._exit(0)
    try:
        assert os.read(running, 1) == b"1"
        leave_embedded()
        assert not EmbeddedRedis(tmp_path / "redis").answers()
    finally:
        os.waitpid(child, 0)
        os.close(running)
        os.close(started)
