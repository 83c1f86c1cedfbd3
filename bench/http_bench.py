"""HTTP benchmark: 1,000 open operator consoles, and Twilio webhooks for 500 calls.

    python bench/http_bench.py consoles [--operators 1000] [--rate 20] [--seconds 30]
    python bench/http_bench.py webhooks [--calls 500] [--seconds 60] [--pace 3]

Everything real and on loopback: a redis-server; one engine process (a child) serving the
Flask app with the engine's HTTP server (ivr.web.server, as ``ivr serve``) and running the
background work each second; loopback clients (this process), not browsers.

``consoles``: ``--operators`` operators with the payments skill, each a console user, all
logged in over HTTP and ready, each with its event stream open.  Calls walk the hotline
menu to the payments queue (CallRunner in this process, a second engine on the same Redis)
at ``--rate`` a second; routing assigns each to a free operator at once.  Delivery: the
``assigned`` event's Redis stream id (ms) to the moment the pop frame is read here.
Baseline in the same run and server: 20 bare streams (the same EventStream machinery and
front, no Redis) pushed ``time.time()`` twice a second.  Meanwhile ``/healthz`` and a
signed Twilio ``/twilio/voice`` webhook every 100 ms.  Memory and threads of the engine
process (/proc) before and after the streams are opened.

``webhooks``: ``--calls`` concurrent Twilio calls, each posting its next webhook (the
menu's path: language, name, ИНН, topic, consent, then the queue's wait polls) ``--pace``
seconds after the last answer, as Twilio does after each prompt; a call that ends is
replaced.  Baseline in the same run and server: a bare Flask handler posted at a tenth of
the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests
from twilio.request_validator import RequestValidator
from werkzeug.security import generate_password_hash

from ivr.config import Config, Secrets, load_config
from ivr.config.schema import OperatorConfig, UserConfig
from ivr.engine import build_engine
from routing.redis_conn import connect
from tests.console.live import live_config, noon_clock
from tests.redis_servers import RedisServer

PASSWORD = "correct horse battery"
TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "b" * 32
BARE_STREAMS = 20


def bench_config(operators: int, prefix: str, workdir: Path) -> Config:
    config = live_config(load_config(ROOT / "config.yaml"), workdir, prefix=prefix, wrap_up_seconds=0)
    digest = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    ops = {f"op{5000 + i}": OperatorConfig(name=f"Оператор {i}", skills={"payments": 4}, endpoint=f"PJSIP/op{i}")
           for i in range(operators)}
    users = {f"u{i:04d}": UserConfig(role="operator", password_hash=digest, operator=f"op{5000 + i}")
             for i in range(operators)}
    return dataclasses.replace(config, operators=ops, users=users,
                               http=dataclasses.replace(config.http, max_connections_per_client=5000))


# -- the engine process ------------------------------------------------------------------------

def serve(redis_url: str, prefix: str, workdir: str, operators: int) -> None:
    import logging

    from flask import Response

    from ivr.console.hub import EventHub, Subscription, any_event
    from ivr.console.sse import EventStream, frame, sse_response
    from ivr.serve import settle_interpreter
    from ivr.web.app import create_app
    from ivr.web.server import HttpServer

    logging.disable(logging.WARNING)
    config = bench_config(operators, prefix, Path(workdir))
    engine = build_engine(config, Secrets(secret_key="bench-key", twilio_auth_token=TOKEN),
                          redis=connect(redis_url, embedded_dir=workdir), clock=noon_clock())
    app = create_app(engine)
    bare_hub = EventHub(router=engine.router)  # never started: the bench feeds its subscriptions
    bare: list[Subscription] = []
    lock = threading.Lock()

    @app.post("/bench/bare")
    def bare_handler() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.get("/bench/bare-events")
    def bare_events() -> Response:
        def start() -> tuple[Subscription, list[bytes]]:
            sub = Subscription(bare_hub, any_event)
            with lock:
                bare.append(sub)
            return sub, [frame("hello", {})]

        def render(event: Any) -> list[bytes]:
            return [frame("tick", event[1])]

        return sse_response(EventStream(start, render=render, alive=lambda: True))

    web = HttpServer(app, address=("127.0.0.1", 0), settings=config.http).start()
    settle_interpreter()  # as ivr serve does once its servers are up
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            try:
                engine.tick()
            except Exception:
                logging.getLogger("bench").exception("tick")

    threading.Thread(target=tick, daemon=True).start()
    print(web.address[1], os.getpid(), flush=True)
    for n, _ in enumerate(sys.stdin, 1):
        now = time.time() * 1000
        with lock:
            subs = list(bare)
        for sub in subs:
            sub.put((f"{int(now)}-{n}", {"ms": now}))
    stop.set()
    web.shutdown()


def proc_status(pid: int) -> tuple[float, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def summary(name: str, values: list[float]) -> str:
    return (f"{name}: n={len(values)} p50={pct(values, 0.5):.1f} ms p99={pct(values, 0.99):.1f} ms "
            f"max={max(values, default=float('nan')):.1f} ms")


class Engine:
    def __init__(self, operators: int) -> None:
        self.redis = RedisServer().start()
        self.prefix = "hb" + uuid.uuid4().hex[:8]
        self.workdir = Path(tempfile.mkdtemp(prefix="ivr-http-bench-"))
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--serve", self.redis.url, self.prefix, str(self.workdir), str(operators)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.child.stdout is not None
        port, pid = self.child.stdout.readline().split()
        self.port, self.pid = int(port), int(pid)
        self.base = f"http://127.0.0.1:{self.port}"
        self.validator = RequestValidator(TOKEN)

    def push(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.write("x\n")

    def webhook(self, session: requests.Session, path: str, params: dict[str, str]) -> tuple[float, str]:
        url = self.base + path
        signature = self.validator.compute_signature(url, params)
        body = urlencode(params).encode()  # bytes: http.client sends head and body in one write
        t0 = time.perf_counter()
        reply = session.post(url, data=body, timeout=10, headers={
            "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
        took = (time.perf_counter() - t0) * 1000
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
        return took, reply.text

    def close(self) -> None:
        if self.child.stdin is not None:
            self.child.stdin.close()
        try:
            self.child.wait(10)
        except subprocess.TimeoutExpired:
            self.child.kill()
        self.redis.close()


def call_params(sid: str, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT, "From": "+7916" + sid[-7:], "To": "+78005553535",
            "CallStatus": "in-progress", "ApiVersion": "2010-04-01", **extra}


# -- consoles ------------------------------------------------------------------------------------

def log_in_ready(base: str, user: str) -> str:
    session = requests.Session()
    page = session.get(base + "/login", timeout=30).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token, page[:200]
    done = session.post(base + "/login", data={"username": user, "password": PASSWORD,
                                               "csrf_token": token.group(1)}, timeout=30)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', done.text)
    assert csrf and "/operator" in done.url, (user, done.url)
    ready = session.post(base + "/operator/api/state", json={"state": "ready"},
                         headers={"X-CSRF-Token": csrf.group(1)}, timeout=30)
    assert ready.status_code == 200, ready.text
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


async def read_stream(port: int, path: str, cookie: str, opened: asyncio.Event | None,
                      counter: list[int], samples: dict[str, list[float]], total: int) -> None:
    try:
        await _read_stream(port, path, cookie, opened, counter, samples, total)
    except Exception as exc:  # noqa: BLE001 - a bench client that fails says so
        print("stream client failed:", repr(exc)[:300], flush=True)


async def _read_stream(port: int, path: str, cookie: str, opened: asyncio.Event | None,
                       counter: list[int], samples: dict[str, list[float]], total: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\n\r\n".encode())
    event = ""
    while True:
        line = await reader.readline()
        if not line:
            return
        text = line.decode().rstrip("\r\n")
        if text.startswith("event: "):
            event = text[7:]
        elif text.startswith("data: "):
            now = time.time() * 1000
            if event == "hello":
                counter[0] += 1
                if counter[0] == total and opened is not None:
                    opened.set()
            elif event == "pop":
                samples["pop"].append(now - float(json.loads(text[6:])["event_ms"]))
            elif event == "tick":
                samples["bare"].append(now - float(json.loads(text[6:])["ms"]))


def consoles(args: argparse.Namespace) -> None:
    from tests.console.conftest import place_call

    engine = Engine(args.operators)
    try:
        # The calling side: a second engine on the same Redis.
        caller = build_engine(bench_config(args.operators, engine.prefix, engine.workdir), Secrets(),
                              redis=connect(engine.redis.url, embedded_dir=str(engine.workdir)), clock=noon_clock())
        t0 = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            cookies = list(pool.map(lambda i: log_in_ready(engine.base, f"u{i:04d}"), range(args.operators)))
        print(f"{args.operators} operators logged in and ready in {time.monotonic() - t0:.1f} s", flush=True)
        rss0, threads0 = proc_status(engine.pid)
        samples: dict[str, list[float]] = {"pop": [], "bare": []}
        loop = asyncio.new_event_loop()
        opened = asyncio.Event()
        counter = [0]
        total = args.operators + BARE_STREAMS

        # Referenced here: asyncio keeps tasks weakly, and a StreamReaderProtocol its reader too,
        # so a collection (building the caller engine made one) would drop clients silently.
        tasks: list[asyncio.Task[None]] = []

        async def open_all() -> None:
            for i, cookie in enumerate(cookies):
                tasks.append(asyncio.ensure_future(read_stream(engine.port, "/operator/events", cookie, opened, counter,
                                                  samples, total)))
                if i % 50 == 0:
                    await asyncio.sleep(0.01)
            for _ in range(BARE_STREAMS):
                tasks.append(asyncio.ensure_future(read_stream(engine.port, "/bench/bare-events", cookies[0],
                                                               opened, counter, samples, total)))
            for _ in range(60):
                try:
                    await asyncio.wait_for(opened.wait(), 10)
                    return
                except TimeoutError:
                    print(f"... {counter[0]} of {total} streams open", flush=True)
            raise SystemExit(f"only {counter[0]} of {total} streams said hello in 600 s")

        threading.Thread(target=loop.run_forever, daemon=True).start()
        t0 = time.monotonic()
        asyncio.run_coroutine_threadsafe(open_all(), loop).result(650)
        print(f"{total} streams open (hello read) in {time.monotonic() - t0:.1f} s", flush=True)
        time.sleep(2.0)
        rss1, threads1 = proc_status(engine.pid)

        probes: dict[str, list[float]] = {"healthz": [], "webhook": []}
        done = threading.Event()

        def probe() -> None:
            session = requests.Session()
            while not done.wait(0.1):
                t = time.perf_counter()
                assert session.get(engine.base + "/healthz", timeout=10).status_code == 200
                probes["healthz"].append((time.perf_counter() - t) * 1000)
                took, _ = engine.webhook(session, "/twilio/voice", call_params("CA" + uuid.uuid4().hex))
                probes["webhook"].append(took)

        def bare_pushes() -> None:
            while not done.wait(0.5):
                engine.push()

        threading.Thread(target=probe, daemon=True).start()
        threading.Thread(target=bare_pushes, daemon=True).start()
        calls = int(args.rate * args.seconds)
        start = time.monotonic()
        for n in range(calls):
            delay = start + n / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            place_call(caller, f"bench-{engine.prefix}-{n}", topic_key="4")
        lag = time.monotonic() - start - calls / args.rate
        time.sleep(3.0)
        done.set()
        rss2, threads2 = proc_status(engine.pid)
        print(f"calls placed: {calls} at {args.rate}/s (placing lag at the end {lag:.2f} s)")
        print(summary("screen-pop delivery", samples["pop"]), f"(pops received: {len(samples['pop'])} of {calls})")
        print(summary("bare SSE round trip", samples["bare"]))
        print(f"ratio pop/bare: p50 {pct(samples['pop'], .5) / pct(samples['bare'], .5):.1f}x, "
              f"p99 {pct(samples['pop'], .99) / pct(samples['bare'], .99):.1f}x")
        print(summary("/healthz meanwhile", probes["healthz"]))
        print(summary("/twilio/voice meanwhile", probes["webhook"]))
        streams = total
        print(f"engine before streams: RSS {rss0:.0f} MiB, {threads0} threads; with {streams} streams: "
              f"RSS {rss1:.0f} MiB, {threads1} threads ({(rss1 - rss0) * 1024 / streams:.1f} KiB a stream; "
              f"the HTTP pool makes up to http.threads={bench_config(0, 'x', engine.workdir).http.threads} "
              f"threads as needed, none a stream); after the calls: RSS {rss2:.0f} MiB, {threads2} threads")
        async def close_all() -> None:  # so that none is left pending (and said so) at exit
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close_all(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
    finally:
        engine.close()


# -- webhooks ----------------------------------------------------------------------------------

MOVES = [{"Digits": "1"}, {"SpeechResult": "Иванов Иван Иванович", "Confidence": "0.92"},
         {"Digits": "500100732259"}, {"Digits": "1"}, {"Digits": "4"}, {"Digits": "1"},
         {"SpeechResult": "да", "Confidence": "0.9"}]
NEXT_URL = re.compile(r'(?:action="([^"]+)"|<Redirect[^>]*>([^<]+)</Redirect>)')


class KeepAlive:
    """Loopback HTTP/1.1 client on asyncio sockets: keep-alive connections, one per request
    in flight.  Light on purpose: 64 threads of ``requests`` in this process (the first
    version) spent a third of a core and waited on each other's GIL, which showed up in
    every figure as the bench's own queueing, bare handler included."""

    KEEP_IDLE = 5.0  # seconds; the server closes an idle connection after http.header_timeout (10)

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer, since = self.idle.pop()
            if time.monotonic() - since < self.KEEP_IDLE:
                return reader, writer
            writer.close()
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, int, str]:
        """(milliseconds from the first byte sent to the whole reply read, status, body)."""
        reader, writer = await self._connection()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        t0 = time.perf_counter()
        writer.write(request)
        status_and_headers = await reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in fields:
            reply = await reader.readexactly(int(fields["content-length"]))
        else:  # chunked
            reply = b""
            while size := int((await reader.readline()).strip() or b"0", 16):
                reply += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
        took = (time.perf_counter() - t0) * 1000
        if fields.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic()))
        return took, int(lines[0].split()[1]), reply.decode()


def webhooks(args: argparse.Namespace) -> None:
    engine = Engine(0)
    latencies: dict[str, list[float]] = {"webhook": [], "bare": []}
    by_path: dict[str, list[float]] = {}
    errors: list[str] = []

    async def one_call(client: KeepAlive, first_delay: float, measure_from: float) -> None:
        await asyncio.sleep(first_delay)
        sid, path, move = "CA" + uuid.uuid4().hex, "/twilio/voice", 0
        while True:
            params = call_params(sid, **(MOVES[move] if path.startswith("/twilio/gather") and move < len(MOVES)
                                         else {}))
            url = engine.base + path
            headers = {"X-Twilio-Signature": engine.validator.compute_signature(url, params),
                       "Content-Type": "application/x-www-form-urlencoded"}
            try:
                took, status, twiml = await client.post(path, urlencode(params).encode(), headers)
                if status != 200:
                    raise RuntimeError(f"{path}: {status} {twiml[:200]}")
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(repr(exc)[:200])
                return
            if time.monotonic() >= measure_from:
                latencies["webhook"].append(took)
                by_path.setdefault(path.split("?")[0], []).append(took)
            found = NEXT_URL.search(twiml)
            await asyncio.sleep(args.pace * random.uniform(0.7, 1.3))
            if found is None or "<Hangup" in twiml:
                sid, path, move = "CA" + uuid.uuid4().hex, "/twilio/voice", 0  # the next caller
                continue
            url = (found.group(1) or found.group(2)).replace("&amp;", "&")
            nxt = url.split("://", 1)[-1]
            move = move + (1 if path.startswith("/twilio/gather") else 0) if path != "/twilio/voice" else 0
            path = nxt[nxt.index("/"):] if "://" in url else url

    async def bare(client: KeepAlive, measure_from: float) -> None:
        took, status, _ = await client.post("/bench/bare", b"x=1",
                                            {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 200 and time.monotonic() >= measure_from:
            latencies["bare"].append(took)

    async def run() -> float:
        client = KeepAlive(engine.port)
        start = time.monotonic()
        warm = start + 2 * args.pace
        calls = [asyncio.create_task(one_call(client, args.pace * i / args.calls, warm))
                 for i in range(args.calls)]  # the starts spread over one pace
        bare_every = 10.0 / (args.calls / args.pace)
        bares = []
        while time.monotonic() < start + args.seconds:
            bares.append(asyncio.create_task(bare(client, warm)))
            await asyncio.sleep(bare_every)
        for task in calls + bares:
            task.cancel()
        await asyncio.gather(*calls, *bares, return_exceptions=True)
        return start + args.seconds - warm

    measured = asyncio.run(run())
    sent = len(latencies["webhook"])
    print(f"{args.calls} concurrent calls, one webhook per prompt every ~{args.pace} s, {args.seconds} s "
          f"({sent / max(1e-9, measured):.0f} webhooks/s measured after {args.seconds - measured:.0f} s warm-up)")
    print(summary("Twilio webhook", latencies["webhook"]))
    print(summary("bare Flask handler", latencies["bare"]))
    print(f"ratio webhook/bare: p50 {pct(latencies['webhook'], .5) / pct(latencies['bare'], .5):.1f}x, "
          f"p99 {pct(latencies['webhook'], .99) / pct(latencies['bare'], .99):.1f}x; errors: {len(errors)}"
          + (f" e.g. {errors[0]}" if errors else ""))
    print(f"mean {statistics.fmean(latencies['webhook']):.1f} ms")
    for path, values in sorted(by_path.items()):
        print("  " + summary(path, values))
    engine.close()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    c = modes.add_parser("consoles")
    c.add_argument("--operators", type=int, default=1000)
    c.add_argument("--rate", type=float, default=20.0)
    c.add_argument("--seconds", type=float, default=30.0)
    w = modes.add_parser("webhooks")
    w.add_argument("--calls", type=int, default=500)
    w.add_argument("--seconds", type=float, default=60.0)
    w.add_argument("--pace", type=float, default=3.0)
    args = parser.parse_args()
    consoles(args) if args.mode == "consoles" else webhooks(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
