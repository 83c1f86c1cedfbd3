"""The auditor's view of recordings: list, listen, download; every access with a reason, audited.

Routes (role ``auditor``)::

    GET  /auditor/recordings                        the page
    GET  /auditor/api/recordings?days=30            stored recordings (metadata only, with the
                                                    spans the operator paused: who, when)
    POST /auditor/api/recordings/<id>/access        {"reason", "action": "listen" | "download"}
                                                    -> a one-time link, valid 2 minutes
    GET  /auditor/recordings/<id>/audio?grant=...   the audio, through RecordingStore.read_for
                                                    (503 "archive unavailable" when the object
                                                    store cannot give it; the page says so)
    GET  /auditor/api/audit?log=recordings|console  the latest access-log lines, chain checked
    POST /auditor/api/citizen-copy                  {"by": "inn"|"snils"|"phone", "value", "reason"}
                                                    -> the citizen's copy, one ZIP (ivr.subject_access)

With ``console.archive_certificate`` every route here also needs the user's corporate client
certificate, verified by nginx (:mod:`ivr.console.certificates`): without it 403
``certificate_refused``, in the security log, the console's audit (and the recordings audit
for a recording), counted towards blocking the account.

The store writes the audit line (allowed, refused, failed) before any audio leaves it.
A user of another role asking for a recording is refused here and the attempt is written
to the recordings audit as well.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import secrets
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from ivr.audit.logs import CONSOLE_ACCESS, RECORDINGS_ACCESS, AuditLogs
from ivr.console import certificates
from ivr.console.audit import ConsoleAudit
from ivr.console.auth import (
    Principal,
    attempt_refused,
    auth_service,
    client_ip,
    current,
    refuse,
    requires,
)
from ivr.console.params import query_number
from ivr.recordings.errors import (
    AccessDenied,
    ArchiveUnavailable,
    LegalHoldConflict,
    RecordingError,
)
from ivr.recordings.store import RecordingStore
from ivr.subject_access.archive import CopyRequests
from ivr.subject_access.errors import BadIdentity, NotAllowed, NotAudited, ReasonRequired

GRANT_SECONDS = 120
ACTIONS = ("listen", "download")
MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


class RecordingsDesk:
    def __init__(self, *, store: RecordingStore, console_audit: ConsoleAudit, redis: Any, prefix: str,
                 clock: Callable[[], float], audits: AuditLogs) -> None:
        self.store = store
        self.audits = audits
        self.console_audit = console_audit
        self.redis = redis
        self.tag = "{" + prefix + "}"
        self.clock = clock

    def key_grant(self, token: str) -> str:
        return f"{self.tag}:console:recording-grant:{token}"

    def list(self, days: int) -> builtins.list[dict[str, Any]]:
        since = self.clock() - max(1, min(days, 366)) * 86400
        rows: builtins.list[dict[str, Any]] = []
        for meta in self.store.list(start=since, limit=1000):
            rows.append({"id": meta.id, "call_id": meta.call_id, "created": meta.created,
                         "expires": meta.expires, "size": meta.size, "appeal": meta.appeal,
                         "operator": meta.operator, "queue": meta.queue, "kind": meta.kind,
                         "hold": meta.hold, "consent": meta.consent.method,
                         "format": meta.audio_format,
                         # where the operator paused it: silence in the audio, and who did it
                         "paused": [dataclasses.asdict(span) for span in meta.paused]})
        rows.sort(key=lambda r: float(r["created"]), reverse=True)
        return rows

    def grant(self, recording_id: str, who: Principal, *, reason: str, action: str) -> str:
        token = secrets.token_urlsafe(24)
        self.redis.set(self.key_grant(token), json.dumps({
            "user": who.user, "role": who.role, "recording": recording_id, "reason": reason,
            "action": action}), ex=GRANT_SECONDS)
        return token

    def redeem(self, token: str, recording_id: str, who: Principal) -> tuple[bytes, str]:
        """The audio a one-time link grants (the store audits the access); a link used,
        expired or another's is refused, and that refusal is in the recordings' access log
        too (every attempt at a recording is there)."""
        raw = self.redis.getdel(self.key_grant(token)) if token else None
        grant = json.loads(raw) if raw else None
        if grant is None or grant["user"] != who.user or grant["recording"] != recording_id:
            try:
                self.store.audit.record(actor=who.user, role=who.role, action="redeem_link",
                                        recording=recording_id[:80], reason="", outcome="refused",
                                        detail="link used, expired or not yours")
            except OSError:
                pass  # the security log has it too
            raise PermissionError("the link is used, expired or not yours")
        audio = self.store.read_for(recording_id, user=who.user, role=who.role,
                                    reason=grant["reason"], action=grant["action"])
        return audio, grant["action"]

    def refused(self, who: Principal) -> None:
        """Another role asked for a recording: the store's audit gets a 'refused' line."""
        try:
            self.store.audit.record(actor=who.user, role=who.role, action="listen",
                                    recording=(request.view_args or {}).get("recording_id", "")[:80],
                                    reason="", outcome="refused",
                                    detail=f"role '{who.role}' may not access recordings (console)")
        except OSError:
            pass  # the security log has it too

    def audit_tail(self, which: str, count: int = 200) -> dict[str, Any]:
        log = self.store.audit if which == "recordings" else self.console_audit
        entries = list(log.entries())
        report = self.audits.verify([RECORDINGS_ACCESS if which == "recordings" else CONSOLE_ACCESS])[0]
        chain = "ok" if report.ok else "; ".join(f"{b.kind} at line {b.line}: {b.what}" for b in report.breaks)
        return {"log": which, "chain": chain, "lines": len(entries), "entries": entries[-count:][::-1]}


bp = Blueprint("auditor", __name__, url_prefix="/auditor")


def desk() -> RecordingsDesk:
    service: RecordingsDesk = current_app.extensions["ivr.console.auditor"]
    return service


def _refused(who: Principal) -> None:
    desk().refused(who)
    attempt_refused(who, "recording_role")


@bp.before_request
def corporate_certificate() -> Any:
    """The archive opens only with the signed-in auditor's own certificate (seed 001)."""
    auth = auth_service()
    who = current()
    if not auth.settings.archive_certificate or who is None or who.role != "auditor":
        return None  # off, or not signed in / another role: ``requires`` answers
    user = auth.users.get(who.user)
    told = {name: request.headers[name] for name in certificates.HEADERS if name in request.headers}
    cert = certificates.from_proxy(request.remote_addr or "?", told, auth.settings.trusted_proxies)
    why = certificates.refusal(cert, subject=user.certificate if user else None,
                               serial=user.cert_serial if user else None)
    if why is None:
        return None
    presented = f"{why}: {cert.verify} {cert.subject} serial={cert.serial}" if cert else why
    recording = (request.view_args or {}).get("recording_id")
    if recording:
        try:
            desk().store.audit.record(actor=who.user, role=who.role, action="listen", recording=recording[:80],
                                      reason="", outcome="refused", detail=f"certificate {presented}"[:300])
        except OSError:
            pass  # the security log and the console audit have it too
    auth.audit_refusal(actor=who.user, role=who.role, action="certificate_refused", outcome="refused",
                       ip=client_ip(), detail=f"{request.method} {request.path}: certificate {presented}"[:300])
    attempt_refused(who, "certificate")
    return refuse(403, "certificate_refused", "Архив открывается только по вашему корпоративному сертификату",
                  why=why, verify=cert.verify if cert else None, subject=cert.subject[:200] if cert else None)


def me() -> Principal:
    who = current()
    assert who is not None
    return who


@bp.get("/recordings")
@requires("auditor")
def page() -> Any:
    return render_template("auditor.html")


@bp.get("/api/recordings")
@requires("auditor")
def recordings() -> Any:
    return jsonify(recordings=desk().list(query_number("days", 30)),
                   enabled=desk().store.keyring is not None)


@bp.post("/api/recordings/<recording_id>/access")
@requires("auditor", on_refused=_refused)
def access(recording_id: str) -> Any:
    data = request.get_json(silent=True) or {}
    reason = str(data.get("reason", "")).strip()[:500]
    action = str(data.get("action", "listen"))
    if action not in ACTIONS:
        return jsonify(error="bad_action", message="listen или download"), 400
    if not reason:
        try:  # the store audits the refusal
            desk().store.open_for(recording_id, user=me().user, role=me().role, reason="", action=action)
        except RecordingError:
            pass
        return jsonify(error="reason_required", message="Укажите основание доступа"), 400
    token = desk().grant(recording_id, me(), reason=reason, action=action)
    return jsonify(url=f"/auditor/recordings/{recording_id}/audio?grant={token}", expires_in=GRANT_SECONDS)


@bp.post("/api/recordings/<recording_id>/hold")
@requires("auditor", on_refused=_refused)
def hold(recording_id: str) -> Any:
    """A legal hold put on (``{"hold": true}``) or released, with its reason: no purge while
    it stands; the store audits it (who, why), a refusal too."""
    data = request.get_json(silent=True) or {}
    reason = str(data.get("reason", "")).strip()[:500]
    try:
        meta = desk().store.set_hold(recording_id, hold=bool(data.get("hold", True)), user=me().user,
                                     role=me().role, reason=reason)
    except AccessDenied:
        return jsonify(error="reason_required", message="Укажите основание удержания"), 400
    except LegalHoldConflict:
        return jsonify(error="purging", message="Запись уже удаляется по сроку хранения"), 409
    except RecordingError as exc:
        return jsonify(error=type(exc).__name__, message=exc.message), 404
    return jsonify(recording=meta.id, hold=meta.hold)


@bp.get("/recordings/<recording_id>/audio")
@requires("auditor", on_refused=_refused)
def audio(recording_id: str) -> Any:
    try:
        data, action = desk().redeem(request.args.get("grant", ""), recording_id, me())
    except PermissionError as exc:
        attempt_refused(me(), "bad_grant")
        return refuse(403, "bad_grant", f"Ссылка недействительна: {exc}", recording=recording_id[:80])
    except ArchiveUnavailable as exc:  # the object store is down, slow or refusing: try later
        return jsonify(error="archive_unavailable", cause=exc.details.get("cause"),
                       message="Архив записей недоступен (archive unavailable), попробуйте позже"), 503
    except RecordingError as exc:
        return jsonify(error=type(exc).__name__, message=exc.message), 404
    except OSError:  # the access could not be audited: refused
        return jsonify(error="audit_unavailable", message="Журнал доступа недоступен; доступ запрещён"), 503
    meta = desk().store.meta(recording_id)
    response = Response(data, mimetype=MIME.get(meta.audio_format, "application/octet-stream"))
    if action == "download":
        response.headers["Content-Disposition"] = f'attachment; filename="{meta.id}.{meta.audio_format}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/accounts")
@requires("auditor")
def accounts() -> Any:
    """The security officer's list of blocked accounts (read only)."""
    auth = auth_service()
    return render_template("accounts.html", blocked=auth.blocks.blocked(), can_unblock=False,
                           block_after=auth.settings.block_after)


@bp.get("/api/audit")
@requires("auditor")
def audit() -> Any:
    which = request.args.get("log", "recordings")
    return jsonify(desk().audit_tail("console" if which == "console" else "recordings"))


@bp.post("/api/citizen-copy")
@requires("auditor")
def citizen_copy() -> Any:
    """A citizen's request for a copy of their data (ст. 14 152-ФЗ): one ZIP, audited."""
    data = request.get_json(silent=True) or {}
    service: CopyRequests = current_app.extensions["ivr.console.citizen_copy"]
    try:
        archive = service.export(str(data.get("by", "")), str(data.get("value", ""))[:64], user=me().user,
                                 role=me().role, reason=str(data.get("reason", ""))[:500], ip=client_ip())
    except BadIdentity as exc:
        return jsonify(error="bad_identity", message=exc.message, kind=exc.details.get("kind", ""),
                       reason=exc.details.get("reason", "")), 400
    except ReasonRequired as exc:
        return jsonify(error="reason_required", message=exc.message), 400
    except NotAllowed as exc:
        return jsonify(error="wrong_role", message=exc.message), 403
    except NotAudited:
        return jsonify(error="audit_unavailable", message="Журнал доступа недоступен; запрос не выполнен"), 503
    response = Response(archive.data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{archive.filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Archive-SHA256"] = archive.sha256
    response.headers["X-Archive-Appeals"] = str(archive.appeals)
    response.headers["X-Archive-Recordings"] = str(archive.recordings)
    return response
