"""Published menu versions in Redis: every version kept, one of them live, each with its author.

A supervisor publishes a menu from the console; every engine process sharing the Redis
picks the live version up at its next reload (about a second), without a restart.  When
a menu has a live published version it is the source of truth; otherwise the file is.
A supervisor can hand the menu back to its file (``return_to_file``: no version is live
any more, every version stays for a later roll-back or publish): a site that deploys its
menus as files is not left with a file nobody reads after one publish from the console.

Keys (all under the hotline's hash tag, so the scripts run on Redis Cluster)::

    {ivr}:menu:<name>:seq       INCR   the last version number given out
    {ivr}:menu:<name>:v:<n>     HASH   text, author, at, sha256, comment, base, failed (JSON:
                                       the scenarios its publisher saw fail and confirmed)
    {ivr}:menu:<name>:live      STRING the live version number (absent: the file serves)
    {ivr}:menu:<name>:log       LIST   JSON: publish / rollback / file, who, when, from which version
    {ivr}:menus:names           SET    menus with published versions
    {ivr}:menus:rev             INCR   bumped by every change: the cheap "anything new?" poll

Publishing is one Lua script: it refuses when the live version is no longer the one the
editor started from (two supervisors editing at once), gives out the next number, stores
the text and moves ``live`` in one step.  The first publish of a menu also stores the text
it replaces (the file, author ``file``) under the file's own ``version:``, so a roll-back can
reach it; a publish over the file after a return to it stores the file's text under its
number when that is free (or is this very text), else as the next number.
Rolling back moves ``live`` to an earlier version; numbers are never reused.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PUBLISH = """
local seq, live, log, names, rev = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local tag, name, base, text, author, at, sha, comment = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local seed_version, seed_text, seed_sha, seed_author = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local failed = ARGV[13]
local function vkey(n) return tag .. ":menu:" .. name .. ":v:" .. n end
local current = redis.call("GET", live) or ""
if current ~= base then return {"stale", current} end
if current == "" and seed_version ~= "" then
  -- The file's text under its own number when that number is free, else the next one.
  local last = tonumber(redis.call("GET", seq) or "0")
  if tonumber(seed_version) > last then
    redis.call("SET", seq, seed_version)
  else
    local stored = redis.call("HGET", vkey(seed_version), "sha256")
    if stored ~= seed_sha then seed_version = redis.call("INCR", seq) end
  end
  if redis.call("HGET", vkey(seed_version), "sha256") ~= seed_sha then
    redis.call("HSET", vkey(seed_version), "text", seed_text, "author", seed_author, "at", at,
      "sha256", seed_sha, "comment", "", "base", "")
  end
end
local n = redis.call("INCR", seq)
redis.call("HSET", vkey(n), "text", text, "author", author, "at", at, "sha256", sha,
  "comment", comment, "base", current, "failed", failed)
redis.call("SET", live, n)
local entry = {action = "publish", version = n, author = author, at = tonumber(at), from = current}
if failed ~= "[]" then entry.failed = cjson.decode(failed) end  -- (an empty Lua table encodes as {})
redis.call("RPUSH", log, cjson.encode(entry))
redis.call("SADD", names, name)
redis.call("INCR", rev)
return {"ok", tostring(n)}
"""

ROLLBACK = """
local live, log, rev = KEYS[1], KEYS[2], KEYS[3]
local tag, name, target, author, at, base = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local current = redis.call("GET", live) or ""
if base ~= "" and current ~= base then return {"stale", current} end
if redis.call("EXISTS", tag .. ":menu:" .. name .. ":v:" .. target) == 0 then return {"unknown", current} end
redis.call("SET", live, target)
redis.call("RPUSH", log, cjson.encode({action = "rollback", version = tonumber(target), author = author, at = tonumber(at), from = current}))
redis.call("INCR", rev)
return {"ok", target}
"""

TO_FILE = """
local live, log, rev = KEYS[1], KEYS[2], KEYS[3]
local author, at, base = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call("GET", live) or ""
if current == "" then return {"file", ""} end
if current ~= base then return {"stale", current} end
redis.call("DEL", live)
redis.call("RPUSH", log, cjson.encode({action = "file", author = author, at = tonumber(at), from = tonumber(current)}))
redis.call("INCR", rev)
return {"ok", current}
"""


class MenuVersionError(Exception):
    """A publish or roll-back that must not happen; ``live`` is the live version now."""

    def __init__(self, message: str, *, menu: str, live: int | None) -> None:
        super().__init__(message)
        self.menu = menu
        self.live = live


@dataclass(frozen=True)
class MenuVersion:
    menu: str
    version: int
    text: str
    author: str
    at: float
    sha256: str
    comment: str = ""
    base: int | None = None  # the live version it replaced
    failed: tuple[str, ...] = ()  # the scenarios its publisher saw fail on it, and confirmed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int | None:
    return int(_text(value)) if value not in (None, b"", "") else None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class MenuVersions:
    def __init__(self, *, redis: Any, prefix: str = "ivr", clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.tag = "{" + prefix + "}"
        self.clock = clock
        self._publish = redis.register_script(PUBLISH)
        self._rollback = redis.register_script(ROLLBACK)
        self._to_file = redis.register_script(TO_FILE)

    # -- key templates -----------------------------------------------------------------
    def _k(self, *parts: str) -> str:
        return ":".join((self.tag, *parts))

    def key_seq(self, menu: str) -> str:
        return self._k("menu", menu, "seq")

    def key_version(self, menu: str, version: int) -> str:
        return self._k("menu", menu, "v", str(version))

    def key_live(self, menu: str) -> str:
        return self._k("menu", menu, "live")

    def key_log(self, menu: str) -> str:
        return self._k("menu", menu, "log")

    @property
    def key_names(self) -> str:
        return self._k("menus", "names")

    @property
    def key_revision(self) -> str:
        return self._k("menus", "rev")

    # -- reading -----------------------------------------------------------------------
    def revision(self) -> int:
        """Bumped by every publish and roll-back: reloads compare it, nothing else."""
        return _int(self.redis.get(self.key_revision)) or 0

    def names(self) -> list[str]:
        return sorted(_text(n) for n in self.redis.smembers(self.key_names))

    def last_number(self, menu: str) -> int:
        """The highest version number given out for ``menu`` (0: none yet)."""
        return _int(self.redis.get(self.key_seq(menu))) or 0

    def live_version(self, menu: str) -> int | None:
        return _int(self.redis.get(self.key_live(menu)))

    def get(self, menu: str, version: int) -> MenuVersion | None:
        raw = self.redis.hgetall(self.key_version(menu, version))
        if not raw:
            return None
        d = {_text(k): _text(v) for k, v in raw.items()}
        return MenuVersion(menu=menu, version=version, text=d["text"], author=d["author"],
                           at=float(d["at"]), sha256=d["sha256"], comment=d.get("comment", ""),
                           base=_int(d.get("base")), failed=tuple(json.loads(d.get("failed") or "[]")))

    def live(self, menu: str) -> MenuVersion | None:
        version = self.live_version(menu)
        return None if version is None else self.get(menu, version)

    def all_live(self) -> dict[str, MenuVersion]:
        """The live version of every published menu."""
        out: dict[str, MenuVersion] = {}
        for name in self.names():
            version = self.live(name)
            if version is not None:
                out[name] = version
        return out

    def history(self, menu: str) -> list[MenuVersion]:
        """Every stored version, newest first (texts included)."""
        last = _int(self.redis.get(self.key_seq(menu))) or 0
        pipe = self.redis.pipeline(transaction=False)
        for n in range(last, -1, -1):
            pipe.exists(self.key_version(menu, n))
        present = [n for n, there in zip(range(last, -1, -1), pipe.execute(), strict=True) if there]
        return [v for v in (self.get(menu, n) for n in present) if v is not None]

    def log(self, menu: str) -> list[dict[str, Any]]:
        return [json.loads(_text(x)) for x in self.redis.lrange(self.key_log(menu), 0, -1)]

    # -- changing ----------------------------------------------------------------------
    def publish(
        self,
        menu: str,
        text: str,
        *,
        author: str,
        base: int | None,
        comment: str = "",
        replaces: tuple[int, str] | None = None,
        failed: Sequence[str] = (),
    ) -> int:
        """Store ``text`` as the next version and make it live; returns its number.

        ``base``: the live version the editor started from (None: none published yet);
        if another publish came first, :class:`MenuVersionError` and nothing changes.
        ``replaces``: for the first publish, (version, text) of the file being replaced.
        ``failed``: the menu's scenarios that fail on ``text``, seen and confirmed.
        """
        seed_version, seed_text = replaces if replaces is not None else ("", "")
        reply = self._publish(
            keys=[self.key_seq(menu), self.key_live(menu), self.key_log(menu), self.key_names,
                  self.key_revision],
            args=[self.tag, menu, "" if base is None else str(base), text, author, repr(self.clock()),
                  sha256(text), comment, str(seed_version), seed_text,
                  sha256(seed_text) if replaces else "", "file", json.dumps(list(failed))],
        )
        tag, value = _text(reply[0]), _text(reply[1])
        if tag == "stale":
            raise MenuVersionError(
                f"menu '{menu}' was published meanwhile (live: v{value}); reload and merge",
                menu=menu, live=_int(value))
        return int(value)

    def rollback(self, menu: str, version: int, *, author: str, base: int | None = None) -> int:
        """Make an earlier (or any stored) version live again."""
        reply = self._rollback(
            keys=[self.key_live(menu), self.key_log(menu), self.key_revision],
            args=[self.tag, menu, str(version), author, repr(self.clock()),
                  "" if base is None else str(base)],
        )
        tag, value = _text(reply[0]), _text(reply[1])
        if tag == "stale":
            raise MenuVersionError(f"menu '{menu}' changed meanwhile (live: v{value})",
                                   menu=menu, live=_int(value))
        if tag == "unknown":
            raise MenuVersionError(f"menu '{menu}' has no version {version}", menu=menu,
                                   live=_int(value))
        return int(value)

    def return_to_file(self, menu: str, *, author: str, base: int) -> int:
        """The menu's file serves again (no version is live); returns the version that was.
        ``base``: the live version the supervisor saw; another change first, or the file
        serving already, is :class:`MenuVersionError` and nothing changes."""
        reply = self._to_file(keys=[self.key_live(menu), self.key_log(menu), self.key_revision],
                              args=[author, repr(self.clock()), str(base)])
        tag, value = _text(reply[0]), _text(reply[1])
        if tag == "stale":
            raise MenuVersionError(f"menu '{menu}' changed meanwhile (live: v{value})",
                                   menu=menu, live=_int(value))
        if tag == "file":
            raise MenuVersionError(f"menu '{menu}' is served from its file already", menu=menu, live=None)
        return int(value)
