"""The supervisors' desk: live queues, menus (edit, check, publish, roll back), the funnel.

Routes (role ``supervisor``)::

    GET  /supervisor                                   the live dashboard
    GET  /supervisor/events                            SSE: dashboard (each second and on
                                                       routing events), hour (every 30 s)
    GET  /supervisor/api/dashboard                     the same figures once
    GET  /supervisor/api/supervise                     where I am: {"watch": {...} | null, "phone"}
    POST /supervisor/api/supervise                     {"call", "mode": listen | whisper | barge}:
                                                       my phone rings into that live call (a
                                                       call or mode of another: switched)
    POST /supervisor/api/supervise/stop                I leave the call (my phone is hung up)
    GET  /supervisor/menus                             menus, live versions
    GET  /supervisor/menus/<name>                      the editor
    GET  /supervisor/api/menus/<name>                  live text, versions, publish log
    GET  /supervisor/api/menus/<name>/versions/<n>     the text of version n
    POST /supervisor/api/menus/<name>/validate         {"text"} -> problems (file:line: message)
    POST /supervisor/api/menus/<name>/diff             {"text"} -> unified diff against live
    POST /supervisor/api/menus/<name>/scenarios        {"text"} -> the menu's scenarios on it
    POST /supervisor/api/menus/<name>/publish          {"text", "base", "comment", "accept_failed"}
                                                       -> version; 409 scenarios_failed: the
                                                       failing scenarios, to confirm by name
    POST /supervisor/api/menus/<name>/rollback         {"version", "base"}
    POST /supervisor/api/menus/<name>/file             {"base"}: the menu's file serves again
    GET  /supervisor/funnel                            the funnel page
    GET  /supervisor/api/funnel?menu=&version=&days=   the funnel table
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

from ivr.aftermenu.control import CallNotLive, LiveCallError, TelephonyFailed, Unsupported
from ivr.aftermenu.supervision import Supervision, SupervisionError, Watch
from ivr.console.auth import auth_service, client_ip, current, requires
from ivr.console.dashboard import Dashboard
from ivr.console.funnel import Funnel
from ivr.console.hub import Event, EventHub, Subscription, any_event
from ivr.console.i18n import page_language
from ivr.console.menudesk import MenuDesk, MenuDeskError
from ivr.console.params import query_number, whole_number
from ivr.console.sse import EventStream, frame, sse_response

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
HOUR_EVERY = 30.0
PUSH_GAP = 0.25  # at most four dashboard pushes a second, however busy routing is


def dashboard() -> Dashboard:
    service: Dashboard = current_app.extensions["ivr.console.dashboard"]
    return service


def menus() -> MenuDesk:
    service: MenuDesk = current_app.extensions["ivr.console.menus"]
    return service


def funnel() -> Funnel:
    service: Funnel = current_app.extensions["ivr.console.funnel"]
    return service


def supervision() -> Supervision:
    service: Supervision = current_app.extensions["ivr.console.supervision"]
    return service


def author() -> str:
    who = current()
    assert who is not None
    return who.user


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _text() -> str:
    text = _json().get("text")
    if not isinstance(text, str):
        raise MenuDeskError(400, "text_required", "Нет текста меню")
    return text


def _base(value: Any) -> int | None:
    """A version number from JSON: a whole number, or its ASCII digits (``1e400`` and
    ``Infinity`` are floats Python's JSON reads; ``int()`` of them answered 500)."""
    if value in (None, ""):
        return None
    number = value if isinstance(value, int) and not isinstance(value, bool) else (
        whole_number(value) if isinstance(value, str) else None)
    if number is None or not 0 <= number < 10**9:
        raise MenuDeskError(400, "bad_base", "base: номер версии")
    return number


@bp.errorhandler(MenuDeskError)
def menu_error(exc: MenuDeskError) -> Any:
    return jsonify(error=exc.kind, message=exc.message, **exc.data), exc.status


# -- dashboard ------------------------------------------------------------------------------

@bp.get("")
@requires("supervisor")
def dashboard_page() -> Any:
    return render_template("supervisor.html", me=author(), phone=supervision().phone_of(author()))


@bp.get("/api/dashboard")
@requires("supervisor")
def dashboard_now() -> Any:
    return jsonify(dashboard().snapshot())


@bp.get("/events")
@requires("supervisor")
def events() -> Any:
    who = current()
    assert who is not None
    service = dashboard()
    auth = current_app.extensions["ivr.console.auth"]
    hub: EventHub = current_app.extensions["ivr.console.hub"]
    state = {"pushed": 0.0, "hour": time.monotonic()}

    def start() -> tuple[Subscription, Iterable[bytes]]:
        sub = hub.subscribe(any_event)
        try:
            first = [frame("dashboard", service.snapshot()), frame("hour", service.last_hour())]
        except Exception:
            sub.close()
            raise
        state["pushed"] = state["hour"] = time.monotonic()
        return sub, first

    def on_event(_: Event) -> Iterable[bytes]:
        now = time.monotonic()
        if now - state["pushed"] >= PUSH_GAP:
            state["pushed"] = now
            yield frame("dashboard", service.snapshot())

    def tick() -> Iterable[bytes]:
        now = time.monotonic()
        if now - state["pushed"] >= PUSH_GAP:
            state["pushed"] = now
            yield frame("dashboard", service.snapshot())
        if now - state["hour"] >= HOUR_EVERY:
            state["hour"] = now
            yield frame("hour", service.last_hour())

    return sse_response(EventStream(start, render=on_event, tick=tick, tick_every=1.0,
                             alive=lambda: auth.principal(who.sid) is not None))


# -- live calls: listen, whisper, barge --------------------------------------------------------

#: How a refusal reads on the page (``sup.error.<kind>``) and its HTTP status.
SUPERVISION_STATUS = {"bad_mode": 400, "call_required": 400, "no_phone": 409, "busy": 409,
                      "audit_unavailable": 503}


@bp.errorhandler(SupervisionError)
def supervision_error(exc: SupervisionError) -> Any:
    return jsonify(error=exc.kind, message=str(exc)), SUPERVISION_STATUS.get(exc.kind, 409)


@bp.errorhandler(LiveCallError)
def live_call_error(exc: LiveCallError) -> Any:
    if isinstance(exc, CallNotLive):
        return jsonify(error="call_not_live", message="Разговор уже окончен"), 410
    if isinstance(exc, Unsupported):
        return jsonify(error="unsupported", message="Телефония этого вызова так не умеет"), 409
    if isinstance(exc, TelephonyFailed):
        return jsonify(error="telephony_failed", message=f"Телефония не выполнила: {exc}"), 502
    return jsonify(error="refused", message=f"Сейчас нельзя: {exc}"), 409  # e.g. another action under way


def _watch(watch: Watch | None) -> dict[str, Any] | None:
    if watch is None:
        return None
    return {"call": watch.call_id, "operator": watch.operator_id, "mode": watch.mode, "since": watch.since,
            "phone": watch.phone}


@bp.get("/api/supervise")
@requires("supervisor")
def supervising() -> Any:
    who = current()
    assert who is not None
    return jsonify(watch=_watch(supervision().of(who.user)), phone=supervision().phone_of(who.user))


@bp.post("/api/supervise")
@requires("supervisor")
def supervise() -> Any:
    who = current()
    assert who is not None
    data = _json()
    call_id, mode = str(data.get("call", ""))[:128], str(data.get("mode", ""))
    if not call_id:
        raise SupervisionError("call_required", "Какой вызов?")
    service = supervision()
    try:
        watch = service.start(who.user, role=who.role, call_id=call_id, mode=mode, ip=client_ip())
    except CallNotLive:
        # No legs, yet routing has the call with its operator: a telephony the engine cannot
        # act through carries it (the terminal softphone, Asterisk without AMI); not "over".
        if service.controls().legs.get(call_id) is None and dashboard().router.status(call_id).state == "connected":
            raise Unsupported(call_id) from None
        raise
    return jsonify(watch=_watch(watch))


@bp.post("/api/supervise/stop")
@requires("supervisor")
def supervise_stop() -> Any:
    who = current()
    assert who is not None
    stopped = supervision().stop(who.user, role=who.role, ip=client_ip())
    return jsonify(watch=None, stopped=_watch(stopped))


# -- menus ------------------------------------------------------------------------------------

@bp.get("/menus")
@requires("supervisor")
def menu_list() -> Any:
    return render_template("menus.html", menus=menus().list(), refused=menus().menus.refused)


@bp.get("/menus/<name>")
@requires("supervisor")
def menu_editor(name: str) -> Any:
    menus().open(name)  # 404 for an unknown menu
    return render_template("menu_edit.html", name=name)


@bp.get("/api/menus/<name>")
@requires("supervisor")
def menu_open(name: str) -> Any:
    return jsonify(menus().open(name))


@bp.get("/api/menus/<name>/versions/<int:version>")
@requires("supervisor")
def menu_version(name: str, version: int) -> Any:
    return jsonify(menus().version_text(name, version))


@bp.post("/api/menus/<name>/validate")
@requires("supervisor")
def menu_validate(name: str) -> Any:
    problems = menus().validate(name, _text())
    return jsonify(ok=not problems, problems=problems)


@bp.post("/api/menus/<name>/diff")
@requires("supervisor")
def menu_diff(name: str) -> Any:
    return jsonify(diff=menus().diff(name, _text()))


@bp.post("/api/menus/<name>/scenarios")
@requires("supervisor")
def menu_scenarios(name: str) -> Any:
    return jsonify(menus().scenarios(name, _text()))


@bp.post("/api/menus/<name>/publish")
@requires("supervisor")
def menu_publish(name: str) -> Any:
    data = _json()
    accepted = data.get("accept_failed") or []
    if not isinstance(accepted, list) or not all(isinstance(n, str) for n in accepted):
        raise MenuDeskError(400, "bad_request", "accept_failed: список названий сценариев")
    return jsonify(menus().publish(name, _text(), author=author(), base=_base(data.get("base")),
                                   comment=str(data.get("comment", "")), accept_failed=accepted))


@bp.post("/api/menus/<name>/rollback")
@requires("supervisor")
def menu_rollback(name: str) -> Any:
    data = _json()
    version = _base(data.get("version"))
    if version is None:
        raise MenuDeskError(400, "version_required", "Какую версию вернуть?")
    return jsonify(menus().rollback(name, version, author=author(), base=_base(data.get("base"))))


@bp.post("/api/menus/<name>/file")
@requires("supervisor")
def menu_return_to_file(name: str) -> Any:
    return jsonify(menus().return_to_file(name, author=author(), base=_base(_json().get("base"))))


# -- blocked accounts ----------------------------------------------------------------------------

@bp.get("/accounts")
@requires("supervisor")
def accounts_page() -> Any:
    auth = auth_service()
    return render_template("accounts.html", blocked=auth.blocks.blocked(), can_unblock=True,
                           block_after=auth.settings.block_after)


@bp.post("/accounts/<name>/unblock")
@requires("supervisor")
def unblock(name: str) -> Any:
    who = current()
    assert who is not None
    auth_service().unblock(name[:64], by=who, ip=client_ip())
    return redirect(url_for("supervisor.accounts_page"))


# -- funnel -------------------------------------------------------------------------------------

@bp.get("/funnel")
@requires("supervisor")
def funnel_page() -> Any:
    return render_template("funnel.html", menus=sorted(menus().list(), key=lambda m: m["name"]))


@bp.get("/api/funnel")
@requires("supervisor")
def funnel_table() -> Any:
    names = [m["name"] for m in menus().list()]
    menu = request.args.get("menu") or (names[0] if names else "")
    if menu not in names:
        raise MenuDeskError(404, "unknown_menu", f"Нет меню «{menu}»")
    return jsonify(funnel().table(menu, version=query_number("version", None),
                                  days=query_number("days", 7), language=page_language()))
