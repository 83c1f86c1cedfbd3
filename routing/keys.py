"""Redis key names of the routing engine: one set of templates.

Slot decision
-------------
Every key of one hotline carries the same hash tag, the prefix in braces:
``{ivr}:call:<id>``, ``{ivr}:wait:<class>`` ...  So all routing keys live in ONE
cluster slot, on one master.

Why: assignment is a global matching.  One operator serves several queues and
languages, one call may be served by operators of several skill groups, and "never
one call to two operators, never two calls to one operator" must hold across all of
them.  With all keys in one slot, each change is one Lua script (atomic, one round
trip), and the same scripts run unchanged on Redis Cluster (``EVALSHA`` is routed by
``KEYS[1]``, and every other key the script touches hashes to the same slot).
Sharding queues across slots would need cross-slot reservations (two-phase with
compensation), i.e. several round trips per assignment and recovery code for the
half-done cases: slower per assignment and much harder to prove correct.

Consequence for throughput: routing for one hotline is bounded by one Redis core.  On
this 2-core machine one assignment cycle (answer, end, next assignment: three scripts,
about 50 Redis commands) costs the server about 0.4 ms of CPU, so one core carries about
2,500 cycles a second (``bench/routing_bench.py`` reports CPU per operation).  A cluster
buys failover (replicas) and room for other data (recordings index, sessions, other
hotlines), not more routing throughput.  To scale out, run several hotlines (prefixes):
each prefix is its own tag, so they spread over the masters.  Splitting one hotline's
queues over slots would not help either: an operator serves classes of several queues,
so his assignment would read (and reserve across) several slots.

Derived indexes
---------------
Besides the calls, lines and operators themselves, the scripts keep indexes so that no
call scans (``scripts/lib.lua`` header): eligibility sets per class and widening threshold,
active classes by language and skill, idle operators by language, skill and level, and
the bookkeeping of those (``pnext``, ``ecls``, ``cblater``, ``meta``).  They are derived:
``scripts/reindex.lua`` rebuilds them from the calls and operators, and runs once when an
engine of a new version meets data without its ``schema`` mark.  Engines of the version
before the indexes must not run against the same data as engines of this one.

The Lua side builds the same names in ``scripts/lib.lua`` (``k(...)``); keep both in
step (``tests/routing/test_keys.py`` checks the templates below against it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "ivr"

    @property
    def tag(self) -> str:
        """``{ivr}``: what the scripts get as ARGV[1]."""
        return "{" + self.prefix + "}"

    def _k(self, *parts: str) -> str:
        return ":".join((self.tag, *parts))

    # calls ------------------------------------------------------------------------
    def call(self, call_id: str) -> str:
        """HASH: one call or callback (state, queue, class, score, context, operator...)."""
        return self._k("call", call_id)

    def wait(self, klass: str) -> str:
        """ZSET: waiting calls and callbacks of one class, by place in line (lower first)."""
        return self._k("wait", klass)

    @property
    def classes(self) -> str:
        """HASH: class -> definition, tab-separated: queue, language, skills CSV, callback ring
        seconds, service-level seconds, and per operator level 1..5 the wait (s) after which
        that level may take the class's entries (``-`` never, ``a`` always): the widening rules
        resolved once (see ``engine.class_definition``), read without JSON."""
        return self._k("classes")

    @property
    def active(self) -> str:
        """SET: classes that have someone waiting."""
        return self._k("active")

    def active_by(self, language: str, skill: str | None = None) -> str:
        """SET: active classes of a language (``skill=None``), or of a language that need the
        skill (``"*"``: classes needing no skill).  Who may serve what, without a scan."""
        return self._k("act", language if skill is None else f"{language}|{skill}")

    def eligible(self, klass: str, threshold: str, *, callbacks: bool = False) -> str:
        """ZSET: calls (``callbacks=True``: callbacks due now) of a class that have waited at
        least ``threshold`` seconds (``a``: the class has no widening), by place in line.  An
        operator whose level allows the class after T seconds takes the head of ``<T>``."""
        return self._k("ec" if callbacks else "el", klass, threshold)

    def pending(self, klass: str, threshold: str) -> str:
        """ZSET: entries of a class not yet moved to ``eligible(klass, threshold)``, by enqueue
        time; moved when a script needs that set and they have waited long enough."""
        return self._k("pend", klass, threshold)

    @property
    def callbacks_later(self) -> str:
        """ZSET: callbacks in line whose next attempt is later (not matchable yet), by its time."""
        return self._k("cblater")

    @property
    def pending_due(self) -> str:
        """HASH: class -> a time before which nothing in its ``pending`` sets has waited long
        enough to move (no field: nothing pending)."""
        return self._k("pnext")

    @property
    def callback_classes(self) -> str:
        """SET: classes with callbacks in their ``eligible(..., callbacks=True)`` sets."""
        return self._k("ecls")

    @property
    def meta(self) -> str:
        """HASH: ``hk``, no reservation, wrap-up or callback retry is due before this time
        (housekeeping is one read while so); ``av`` / ``pv``, versions bumped on every change
        of the active classes and definitions / of ``pending_due`` and ``callback_classes``
        (the Function library keeps what it read under them); ``ep``, set once per data set."""
        return self._k("meta")

    def queue_waiting(self, queue: str) -> str:
        """ZSET: waiting calls and callbacks of a queue by enqueue time (longest wait, overflow)."""
        return self._k("qwait", queue)

    def queue_callbacks(self, queue: str) -> str:
        """ZSET: pending callbacks of a queue (waiting or being dialled) by request time."""
        return self._k("qcb", queue)

    @property
    def reserved(self) -> str:
        """ZSET: reserved calls by reservation deadline."""
        return self._k("reserved")

    @property
    def callback_numbers(self) -> str:
        """HASH: number -> call id of its pending callback (one per number)."""
        return self._k("cbnum")

    @property
    def callbacks_due(self) -> str:
        """LIST: reserved callbacks the dialer has not yet taken."""
        return self._k("cbdue")

    # operators --------------------------------------------------------------------
    def operator(self, operator_id: str) -> str:
        """HASH: state, since, skills (``sk``: "skill=level,..."), languages, endpoint, current call."""
        return self._k("op", operator_id)

    @property
    def operators(self) -> str:
        """SET: every operator that has ever set a state."""
        return self._k("ops")

    @property
    def idle(self) -> str:
        """ZSET: available operators by the moment they became idle (longest idle first)."""
        return self._k("idle")

    def idle_by(self, language: str, skill: str, level: int | None = None) -> str:
        """ZSET: available operators speaking ``language`` with ``skill`` at ``level`` (1-5), by
        idle time; ``skill="*"`` (no level): every available operator of the language."""
        return self._k("ix", f"{language}|*" if skill == "*" else f"{language}|{skill}|{level}")

    @property
    def wrap_up(self) -> str:
        """ZSET: operators in wrap-up by the moment it ends."""
        return self._k("wrapup")

    @property
    def staff(self) -> str:
        """HASH: ``skill|lang`` -> number of staffed operators with that skill and language."""
        return self._k("staff")

    # figures ----------------------------------------------------------------------
    @property
    def handle_time(self) -> str:
        """HASH: skill -> moving average of handle time (talk + wrap-up), seconds."""
        return self._k("aht")

    def stats(self, day: str, queue: str) -> str:
        """HASH: one day's counters of a queue (enqueued, answered, answered_within, abandoned...)."""
        return self._k("stats", day, queue)

    @property
    def events(self) -> str:
        """STREAM: every routing event, for the operator console and the dashboard."""
        return self._k("events")

    @property
    def schema(self) -> str:
        """STRING: version of the derived indexes (``routing.scripts.SCHEMA``)."""
        return self._k("schema")

    # appeals ----------------------------------------------------------------------
    def appeal(self, number: str) -> str:
        """HASH: one appeal (number, topic, status, opened_at, updated_at, identity: a JSON
        list of identity keys, "" while minted and not yet opened)."""
        return self._k("appeal", number)

    @property
    def identity_key(self) -> str:
        """STRING: the identity key made when IVR_IDENTITY_KEY is not set (hex)."""
        return self._k("identity", "key")

    def appeal_log(self, number: str) -> str:
        """LIST: JSON status changes of one appeal."""
        return self._k("appeal", number, "log")

    def appeals_of(self, identity: str) -> str:
        """ZSET: appeal numbers of one identity key, by opening time."""
        return self._k("appeals", identity)
