"""Every ``ivr`` command a user may type while the engine runs leaves the engine serving.

With the README's defaults the engine's Redis is the checkout's embedded server
(``var/redis/redis.sock``): a command beside a running engine uses it and never stops
it; a command with no engine starts it for its own work and stops it; two engines on
one checkout share it, and the last one to stop stops it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from tests.journeys.product import Product, Serving, free_port, http_log_in, until

PASSWORD = "a long enough password"


def redis_up(serving: Serving) -> bool:
    return serving.get("/readyz", timeout=15).json()["checks"]["redis"] is True


def embedded_redis_answers(product: Product) -> bool:
    """A PING on the checkout's embedded Redis socket gets a PONG."""
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(5)
        try:
            probe.connect(str(product.root / "var" / "redis" / "redis.sock"))
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def test_every_command_beside_a_running_engine_leaves_it_serving(product: Product) -> None:
    serving = product.serve()
    until(lambda: redis_up(serving), 15, what="redis up")
    dead_port = free_port()
    commands: list[tuple[tuple[str, ...], str | None, Callable[[str], bool]]] = [
        (("validate",), None, lambda out: "ok: " in out),
        (("validate", "dialplans/"), None, lambda out: "menu 'hotline'" in out),
        (("test",), None, lambda out: " passed, 0 failed" in out),
        (("queues",), None, lambda out: "general" in out),
        (("queues", "--json"), None, lambda out: out.lstrip().startswith(("{", "["))),
        (("users", "add", "beside", "--role", "supervisor"), PASSWORD + "\n", lambda out: "saved" in out),
        (("users", "list"), None, lambda out: "beside\tsupervisor" in out),
        (("recordings", "purge", "--dry-run"), None, lambda out: "dry run" in out),
        (("call", "--fastagi", f"127.0.0.1:{dead_port}"), "h\n", lambda out: "Call ended" in out),
        (("users", "remove", "beside"), None, lambda out: "removed" in out),
    ]
    for command, typed, shows in commands:
        done = product.ivr(*command, input=typed)
        assert done.returncode == 0, f"ivr {' '.join(command)}: {done.stderr[-2000:]}"
        assert shows(done.stdout), f"ivr {' '.join(command)} printed: {done.stdout[-2000:]}"
        assert redis_up(serving), f"after ivr {' '.join(command)}: /readyz {serving.get('/readyz').text}"

    ready = serving.get("/readyz")
    assert ready.status == 200, ready.text
    added = product.ivr("users", "add", "after", "--role", "auditor", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert http_log_in(serving, "after", PASSWORD).status_code == 302
    assert serving.stop() < 10
    # The engine was the last one using the embedded Redis: it stopped it.
    assert not embedded_redis_answers(product)


def test_a_command_with_no_engine_starts_redis_for_itself_and_stops_it(product: Product) -> None:
    added = product.ivr("users", "add", "alone", "--role", "auditor", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert not embedded_redis_answers(product)
    listed = product.ivr("users", "list")
    assert "alone\tauditor" in listed.stdout  # kept on disk by the server it started
    assert not embedded_redis_answers(product)

    serving = product.serve()
    assert redis_up(serving)
    assert http_log_in(serving, "alone", PASSWORD).status_code == 302
    assert serving.stop() < 10


def test_two_engines_on_one_checkout_share_the_embedded_redis(product: Product) -> None:
    first = product.serve()
    second = product.serve()
    until(lambda: redis_up(first) and redis_up(second), 15, what="redis up for both")
    first.wait_log("FIRST START")
    assert "FIRST START" not in second.log()  # the same users: one Redis
    added = product.ivr("users", "add", "shared", "--role", "auditor", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert http_log_in(first, "shared", PASSWORD).status_code == 302
    assert http_log_in(second, "shared", PASSWORD).status_code == 302

    assert first.stop() < 10
    for _ in range(3):
        assert redis_up(second)
    assert http_log_in(second, "shared", PASSWORD).status_code == 302
    assert second.stop() < 10
    assert not embedded_redis_answers(product)


def test_a_command_that_cannot_do_its_work_says_why_and_exits_non_zero(product: Product) -> None:
    """A second engine on the first one's ports, and user changes that cannot be made: each
    says what is wrong and what to do, in one line, and fails (no traceback, no exit 0)."""
    serving = product.serve()
    taken = {"--fastagi": f"127.0.0.1:{serving.fastagi}", "--http": f"127.0.0.1:{serving.http}"}
    free = f"127.0.0.1:{free_port()}"
    for clash, flags in (("--fastagi", ("--fastagi", taken["--fastagi"], "--http", free, "--ops-http", "off")),
                         ("--http", ("--fastagi", free, "--http", taken["--http"], "--ops-http", "off"))):
        second = product.ivr("serve", *flags, timeout=90)
        assert second.returncode == 2, second.stderr[-2000:]
        assert "Traceback" not in second.stderr and "cannot listen on" in second.stderr, second.stderr[-2000:]
        assert f"give this one {clash} HOST:PORT" in second.stderr, second.stderr[-2000:]

    removed = product.ivr("users", "remove", "nosuch")
    assert removed.returncode == 1 and "user 'nosuch' not found" in removed.stderr, removed
    # The first start made "supervisor": adding it again is refused before any password is read.
    again = product.ivr("users", "add", "supervisor", "--role", "supervisor", input="short\n")
    assert again.returncode == 1 and "user 'supervisor' exists (use --replace" in again.stderr, again
    # Seen: "an operator user needs --operator" said to one who gave --operator op999.
    unknown = product.ivr("users", "add", "tester", "--role", "operator", "--operator", "op999",
                          input="a long enough secret\n")
    assert unknown.returncode == 1 and "no operator 'op999' in config.yaml (operators:); one of: op101" in unknown.stderr
    assert serving.get("/readyz").status == 200  # the first engine serves on


def test_a_one_shot_command_says_only_what_concerns_its_work(product: Product) -> None:
    """``ivr queues`` and the recordings commands printed the engine's start-up notices
    (speech off, a development key, the trial's folders) on every run: ``ivr serve`` says those."""
    for command in (("queues",), ("recordings", "purge", "--dry-run"), ("recordings", "reconcile")):
        done = product.ivr(*command)
        assert done.returncode == 0, done.stderr[-2000:]
        for notice in ("speech recognition", "DEVELOPMENT KEY", "spool", "clip_dir"):
            assert notice not in done.stderr, f"ivr {' '.join(command)}: {done.stderr[-2000:]}"
