"""The archive handed to the citizen, and the audit of the whole request.

One ZIP::

    summary.txt                 резюме: the appeals (number, topic, status and its history),
                                the calls, the recordings, in Russian
    summary.json                the same as data
    recordings/<id>.<format>    each recording, decrypted and authenticated by the store

Audit: the console's audit log gets a line when the request begins (who, why, about whom: the
kind and a prefix of the keyed hash, never the number) and one when the archive is made (the
counts and the archive's sha256); each recording's export is in the recordings' access log
(action ``export``, the request's id in the reason).  A line that cannot be written stops the
request (:class:`NotAudited`): nothing leaves unaudited.  Only the ``auditor`` role.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr.console.audit import ConsoleAudit
from ivr.console.i18n import text
from ivr.console.texts import TEXTS
from ivr.recordings.errors import RecordingError
from ivr.recordings.meta import RecordingMeta
from ivr.recordings.store import RecordingStore
from ivr.subject_access.errors import BadIdentity, NotAllowed, NotAudited, ReasonRequired
from ivr.subject_access.find import Findings, SubjectFinder
from routing.appeals import STATUS_NAMES

ROLE = "auditor"
ACTION = "citizen_copy"


def _when(ts: Any, zone: str = "UTC") -> str:
    """A moment as the citizen reads it: the hotline's local time, its zone named (MSK)."""
    if ts in (None, ""):
        return "—"
    return datetime.fromtimestamp(float(ts), ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Archive:
    request: str
    filename: str
    data: bytes
    sha256: str
    appeals: int
    calls: int
    recordings: int


class CopyRequests:
    def __init__(self, *, finder: SubjectFinder, store: RecordingStore, audit: ConsoleAudit,
                 clock: Callable[[], float], zone: str = "Europe/Moscow") -> None:
        self.zone = zone  # the hotline's: the times the citizen reads (as the console shows them)
        self.finder = finder
        self.store = store
        self.audit = audit
        self.clock = clock

    def export(self, kind: str, value: str, *, user: str, role: str, reason: str, ip: str | None = None) -> Archive:
        request = f"copy-{secrets.token_hex(6)}"
        reason = reason.strip()

        def audit(outcome: str, detail: str) -> None:
            try:
                self.audit.record(actor=user, role=role, action=ACTION, call="", outcome=outcome, ip=ip,
                                  detail=f"request {request}: {detail}"[:1000])
            except OSError as exc:
                raise NotAudited("the request could not be audited; refused", request=request) from exc

        if role != ROLE:
            audit("refused", f"role '{role}' may not make a citizen's copy")
            raise NotAllowed(f"role '{role}' may not make a citizen's copy")
        if not reason:
            audit("refused", "no reason given")
            raise ReasonRequired("give the reason: the citizen's request, its number and date")
        try:
            who = self.finder.subject(kind, value)
        except BadIdentity as exc:
            audit("refused", f"{exc.message}; reason: {reason}")
            raise
        audit("allowed", f"begun for {who.reference}; reason: {reason}")
        found = self.finder.find(who)
        data, missing = self._zip(found, request=request, user=user, role=role, reason=reason)
        digest = hashlib.sha256(data).hexdigest()
        audit("allowed", f"archive made for {who.reference}: {len(found.appeals)} appeal(s), {len(found.calls)} "
              f"call(s), {len(found.recordings) - len(missing)} recording(s)"
              + (f" ({len(missing)} unreadable)" if missing else "") + f", sha256 {digest}")
        return Archive(request=request, filename=f"{request}.zip", data=data, sha256=digest,
                       appeals=len(found.appeals), calls=len(found.calls),
                       recordings=len(found.recordings) - len(missing))

    def _zip(self, found: Findings, *, request: str, user: str, role: str, reason: str) -> tuple[bytes, list[str]]:
        buffer = io.BytesIO()
        missing: list[str] = []
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for meta in found.recordings:
                name = f"recordings/{meta.id}.{meta.audio_format}"
                try:
                    stream = self.store.open_for(meta.id, user=user, role=role, action="export",
                                                 reason=f"citizen's copy {request}: {reason}")
                    with stream, archive.open(name, "w") as out:
                        for piece in stream:
                            out.write(piece)
                except RecordingError as exc:  # audited by the store as failed
                    missing.append(f"{meta.id}: {type(exc).__name__}")
                except OSError as exc:
                    raise NotAudited("a recording's export could not be audited; refused",
                                     request=request) from exc
            summary = self._summary(found, request=request, missing=missing)
            archive.writestr("summary.json", json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True))
            archive.writestr("summary.txt", _text(summary))
        return buffer.getvalue(), missing

    def _summary(self, found: Findings, *, request: str, missing: list[str]) -> dict[str, Any]:
        def when(ts: Any) -> str:
            return _when(ts, self.zone)

        return {
            "request": request,
            "made": when(self.clock()),
            "citizen": {"by": found.subject.kind, "value": found.subject.masked},
            "appeals": [{
                "number": a.number, "topic": a.topic, "status": a.status_name, "opened": when(a.opened_at),
                "updated": when(a.updated_at),
                "history": [{"at": when(h.get("at")), "status": STATUS_NAMES.get(str(h.get("status")), "—"),
                             "note": str(h.get("note") or "")} for h in found.history.get(a.number, [])],
            } for a in found.appeals],
            "calls": [{"call": c.get("call"), "started": when(c.get("started")), "ended": when(c.get("ended")),
                       "channel": c.get("channel"), "language": c.get("language"), "topic": c.get("topic"),
                       "queue": c.get("queue"), "outcome": c.get("outcome"), "appeal": c.get("appeal")}
                      for c in found.calls],
            "recordings": [_recording(m, when) for m in found.recordings],
            "not_included": missing,
        }


def _recording(meta: RecordingMeta, when: Callable[[Any], str]) -> dict[str, Any]:
    return {"id": meta.id, "call": meta.call_id, "appeal": meta.appeal, "kind": meta.kind,
            "made": when(meta.created), "deleted_after": when(meta.expires), "format": meta.audio_format,
            "bytes": meta.size, "sha256": meta.sha256,
            "consent": {"granted": meta.consent.granted, "at": when(meta.consent.at), "how": meta.consent.method}}


# The citizen reads summary.txt: Russian words for what summary.json keeps as ids.
DOCUMENT_WORDS = {"inn": "ИНН", "snils": "СНИЛС", "phone": "номер телефона"}
CONSENT_WORDS = {"key": "клавишей", "voice": "голосом", "none": "не спрашивалось"}
KIND_WORDS = {"operator": "разговор с оператором", "name": "ФИО, сказанное при звонке",
              "consent": "ответ о согласии на запись"}


def _word(prefix: str, value: str | None) -> str:
    """The console's Russian word for ``<prefix>.<value>`` (a topic, an outcome), or the value."""
    key = f"{prefix}.{value}"
    return text(key, "ru") if value and key in TEXTS else (value or "—")


def _text(summary: dict[str, Any]) -> str:
    by = summary["citizen"]["by"]
    lines = [f"Копия персональных данных (ст. 14 152-ФЗ), запрос {summary['request']}, {summary['made']}",
             f"Гражданин: {DOCUMENT_WORDS.get(by, by)} {summary['citizen']['value']}", "",
             f"Обращения ({len(summary['appeals'])}):"]
    for a in summary["appeals"]:
        lines.append(f"  № {a['number']}: {_word('topic', a['topic'])}, статус «{a['status']}», открыто {a['opened']}")
        lines += [f"    {h['at']}: {h['status']}" + (f" — {h['note']}" if h["note"] else "") for h in a["history"]]
    lines += ["", f"Звонки ({len(summary['calls'])}):"]
    lines += [f"  {c['started']}: тема «{_word('topic', c['topic'])}», итог: {_word('outcome', c['outcome'])}, "
              f"обращение {c['appeal'] or '—'}" for c in summary["calls"]]
    lines += ["", f"Записи ({len(summary['recordings'])}), файлы в папке recordings/:"]
    lines += [f"  {r['id']}.{r['format']}: {KIND_WORDS.get(r['kind'], r['kind'])}, звонок {r['call']}, сделана "
              f"{r['made']}, будет удалена после {r['deleted_after']}, согласие на запись разговора: "
              f"{'да' if r['consent']['granted'] else 'нет'} ({CONSENT_WORDS.get(r['consent']['how'], r['consent']['how'])})"
              for r in summary["recordings"]]
    if summary["not_included"]:
        lines += ["", "Не удалось включить: " + ", ".join(summary["not_included"])]
    return "\n".join(lines) + "\n"
