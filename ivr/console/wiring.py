"""Wiring the console into the Flask app: every service built here, once per app."""

from __future__ import annotations

from flask import Blueprint, Flask

from ivr.aftermenu.supervision import Supervision
from ivr.audit.logs import CONSOLE_ACCESS
from ivr.config import Config
from ivr.console import auditor, i18n, login, operator, supervisor, transfer
from ivr.console.audit import ConsoleAudit
from ivr.console.auth import Auth, SecurityLog, init_auth
from ivr.console.dashboard import Dashboard
from ivr.console.funnel import Funnel
from ivr.console.hub import EventHub
from ivr.console.menudesk import MenuDesk
from ivr.console.params import init_params
from ivr.console.screenpop import ScreenPops
from ivr.console.users import UserStore
from ivr.engine import Engine
from ivr.recordings.pauses import RecordingPause
from ivr.subject_access.archive import CopyRequests
from ivr.subject_access.find import SubjectFinder

assets = Blueprint("console", __name__, static_folder="static", static_url_path="/console/static",
                   template_folder="templates")


def hotline_zone(config: Config) -> str:
    """The hotline's time zone: its entry queue's hours (every console time is shown in it)."""
    queue = config.queues.get("general") or next(iter(config.queues.values()), None)
    return queue.hours.timezone if queue is not None else "Europe/Moscow"


def console_supervision(engine: Engine, *, audit: ConsoleAudit, users: UserStore | None = None) -> Supervision:
    """Supervisors on live calls (issue 18 section 3): the console starts and stops them; the
    telephony's events end them (the AMI session builds one too, without phones)."""

    def phone_of(name: str) -> str | None:
        user = users.get(name) if users is not None else None
        return user.phone if user is not None and user.role == "supervisor" else None

    return Supervision(redis=engine.redis, prefix=engine.config.redis.prefix, controls=lambda: engine.controls,
                       audit=audit, phone_of=phone_of, clock=engine.clock)


def init_console(app: Flask, engine: Engine) -> None:
    config, redis, prefix = engine.config, engine.redis, engine.config.redis.prefix
    settings = config.console
    security = SecurityLog(redis=redis, prefix=prefix, clock=engine.clock)
    users = UserStore(redis=redis, prefix=prefix, configured=config.users, operators=config.operators,
                      clock=engine.clock)
    assert engine.audit is not None, "the console's audit log is one of the engine's audit logs"
    audit: ConsoleAudit = engine.audit.get(CONSOLE_ACCESS, ConsoleAudit)
    auth = Auth(users=users, redis=redis, prefix=prefix, settings=settings, security=security,
                audit=audit, clock=engine.clock)
    pops = ScreenPops(router=engine.router, appeals=engine.appeals, queues=config.queues,
                      repeat_window_days=config.routing.repeat_window_days, clock=engine.clock,
                      clips_kept=engine.recordings.enabled,
                      labels=lambda ctx: engine.menus.for_number(ctx.dialled).labels,
                      clip_there=engine.recordings.clips.name_there)
    supervision = console_supervision(engine, audit=audit, users=users)
    versions = engine.menus.versions
    assert versions is not None, "the console publishes menus: LiveMenus needs its versions store"
    assert engine.call_log is not None, "the funnel reads the call log"
    desk = operator.OperatorDesk(
        router=engine.router, appeals=engine.appeals, pops=pops, audit=audit, security=security,
        redis=redis, prefix=prefix,
        clips=engine.recordings.clips, clock=engine.clock,
        operator_answers=lambda channel: channel not in engine.answer_events, life=engine.call_life,
        pause=RecordingPause(pauses=engine.recordings.pauses, controls=lambda: engine.controls,
                             clock=engine.clock))
    app.extensions.update({
        "ivr.console.hub": EventHub(router=engine.router),
        "ivr.console.operator": desk,
        "ivr.console.transfer": transfer.TransferDesk(desk=desk, controls=lambda: engine.controls,
                                                      life=engine.call_life, router=engine.router),
        "ivr.console.dashboard": Dashboard(router=engine.router, clock=engine.clock, supervision=supervision),
        "ivr.console.supervision": supervision,
        "ivr.console.menus": MenuDesk(config=config, menus=engine.menus, versions=versions,
                                      prompts=engine.menus.prompts),
        "ivr.console.funnel": Funnel(call_log=engine.call_log, menus=engine.menus, clock=engine.clock),
        "ivr.console.citizen_copy": CopyRequests(
            finder=SubjectFinder(appeals=engine.appeals, store=engine.recordings.store, call_log=engine.call_log),
            store=engine.recordings.store, audit=audit, clock=engine.clock, zone=hotline_zone(config)),
        "ivr.console.auditor": auditor.RecordingsDesk(
            store=engine.recordings.store, console_audit=audit, redis=redis, prefix=prefix,
            clock=engine.clock, audits=engine.audit),
    })
    blueprints: tuple[Blueprint, ...] = (assets, login.bp, operator.bp, transfer.bp, supervisor.bp, auditor.bp)
    for bp in blueprints:
        app.register_blueprint(bp)
    i18n.init_i18n(app, zone=hotline_zone(config), queue_names={
        queue: {"ru": q.name or queue, "en": q.name_en or q.name or queue} for queue, q in config.queues.items()})
    blueprints = (*blueprints, i18n.bp)
    init_params(app)
    init_auth(app, auth, secret_key=engine.secrets.secret_key, public_url=config.engine.public_url,
              console_blueprints=frozenset(bp.name for bp in blueprints))
