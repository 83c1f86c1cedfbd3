"""The ``ivr`` command: validate, test, call, serve, and the feature commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from ivr.config import Config, ConfigError, load_config
from ivr.flow.context import CallContext
from routing.embedded import EmbeddedRedisError
from routing.redis_conn import RedisTlsError

if TYPE_CHECKING:
    from ivr.asterisk.wiring import AmiServices
    from ivr.engine import Engine


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr", description="The 8 800 555-35-35 hotline engine")
    parser.add_argument("--config", default=os.environ.get("IVR_CONFIG", "config.yaml"),
                        help="config file (default: config.yaml, or $IVR_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check config.yaml and the menus")
    validate.add_argument("paths", nargs="*", help="menu files (default: every menu)")
    validate.set_defaults(handler=_validate)

    test = commands.add_parser("test", help="run the menu scenarios")
    test.add_argument("paths", nargs="*", help="menus or scenario files (default: all)")
    test.add_argument("-v", "--verbose", action="store_true", help="print what each scenario heard")
    test.set_defaults(handler=_test)

    call = commands.add_parser("call", help="call the hotline from this terminal, over FastAGI")
    call.add_argument("--caller", default="79990000001",
                      help="the caller's number, as the trunk gives it (default: %(default)s, a synthetic one); "
                           "a callback offered in the queue goes to it")
    call.add_argument("--language", default="ru", choices=["ru", "en"],
                      help="the channel's language when the call comes in (default: %(default)s); the menu "
                           "still asks, and silence at its question goes on in Russian")
    call.add_argument("--fastagi", help="HOST:PORT of a running engine (default: engine.fastagi; "
                      "if nothing answers there, an engine is started in this process)")
    call.set_defaults(handler=_call)

    prompts = commands.add_parser("prompts", help="prompt audio")
    prompt_commands = prompts.add_subparsers(dest="prompts_command", required=True)
    build = prompt_commands.add_parser("build", help="render missing or changed prompts")
    build.set_defaults(handler=_prompts_build)

    serve = commands.add_parser("serve", help="run the engine: FastAGI, HTTP app, background work")
    serve.add_argument("--fastagi", help="HOST:PORT for Asterisk (default: engine.fastagi); "
                                          "'off': the HTTP app and background work only (a web process)")
    serve.add_argument("--http", help="HOST:PORT for the HTTP app (default: engine.http)")
    serve.add_argument("--ops-http", help="HOST:PORT for /metrics and /queues (default: engine.ops_http); "
                                          "'off': none (IVR_METRICS_TOKEN opens them on --http)")
    _log_format_option(serve)
    serve.add_argument("--log-level", default=os.environ.get("IVR_LOG_LEVEL", "INFO"))
    serve.set_defaults(handler=_serve)

    queues = commands.add_parser("queues", help="queue figures: waiting, waits, service level, operators")
    queues.add_argument("--json", action="store_true")
    queues.set_defaults(handler=_queues)

    recordings = commands.add_parser("recordings", help="recorded conversations")
    rec_commands = recordings.add_subparsers(dest="recordings_command", required=True)
    purge = rec_commands.add_parser("purge", help="delete expired recordings (not on legal hold)")
    purge.add_argument("--dry-run", action="store_true", help="show what would be deleted")
    purge.set_defaults(handler=_recordings_purge)
    reconcile = rec_commands.add_parser("reconcile", help="finish interrupted purges, delete orphan files "
                                        "(older than recordings.orphan_grace) with a deletion-log line")
    reconcile.set_defaults(handler=_recordings_reconcile)
    rewrap = rec_commands.add_parser("rewrap", help="key rotation: move every recording to the current key "
                                     "(the first of IVR_RECORDING_KEY); idempotent, resumable")
    rewrap.set_defaults(handler=_recordings_rewrap)
    verify_logs = rec_commands.add_parser("verify-logs", help="ivr audit verify for the recordings' access "
                                          "and deletion logs")
    verify_logs.set_defaults(handler=_recordings_verify_logs)

    audit = commands.add_parser("audit", help="the audit logs: verify, sign a checkpoint, make a key")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check every audit log (chain, anchor, signed "
                                       "checkpoints); exit 1 naming the log, line and break")
    verify.add_argument("--log", action="append", dest="logs", metavar="NAME",
                        help="only this log (recordings-access, recordings-deleted, console-access); repeatable")
    verify.set_defaults(handler=_audit_verify)
    checkpoint = audit_commands.add_parser("checkpoint", help="sign each log's head now (IVR_AUDIT_KEY)")
    checkpoint.set_defaults(handler=_audit_checkpoint)
    keygen = audit_commands.add_parser("keygen", help="print a new IVR_AUDIT_KEY and its public key")
    keygen.set_defaults(handler=_audit_keygen)
    reseal = audit_commands.add_parser(
        "reseal", help="after a loss no backup can restore: record the break as line 1 of a new chain "
        "and anchor it (the broken file is kept aside); ivr audit verify says so from then on")
    reseal.add_argument("log", metavar="LOG", help="recordings-access, recordings-deleted or console-access")
    reseal.add_argument("--reason", required=True, help="why (the incident), recorded in the new chain's line 1")
    reseal.set_defaults(handler=_audit_reseal)

    from ivr.console.cli import add_parser as add_users_parser

    add_users_parser(commands).set_defaults(handler=_users)

    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        result: int = args.handler(config, args)
    except (EmbeddedRedisError, RedisTlsError) as exc:
        print(f"ivr {args.command}: {exc.message}", file=sys.stderr)
        return 2
    return result


def _log_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-format", choices=("json", "text"), default=None,
                        help="json lines or text (default: $IVR_LOG_FORMAT, else text when "
                        "stderr is a terminal and json when it is not)")


def log_format(chosen: str | None, env: Mapping[str, str], stderr: TextIO) -> str:
    """``--log-format``, else ``IVR_LOG_FORMAT``, else text for a person at a terminal and
    JSON lines for a journal or a file."""
    if chosen:
        return chosen
    if env.get("IVR_LOG_FORMAT", "").strip() in ("json", "text"):
        return env["IVR_LOG_FORMAT"].strip()
    return "text" if stderr.isatty() else "json"


def _catalog(config: Config):  # type: ignore[no-untyped-def]
    from ivr.prompts.catalog import load_catalog

    catalog, problems = load_catalog(config.path(config.prompts.dir))
    if problems:
        raise ConfigError(problems)
    return catalog


def _validate(config: Config, args: argparse.Namespace) -> int:
    from ivr.menu.registry import load_menus

    try:
        menus = load_menus(config, _catalog(config), args.paths)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    for menu in menus.values():
        print(f"ok: {menu.source}: menu '{menu.name}' ({len(menu.nodes)} nodes, {', '.join(menu.languages)})")
    return 0


def _test(config: Config, args: argparse.Namespace) -> int:
    from ivr.menu.registry import load_menus, scenario_files, tested_menu_files
    from ivr.scenarios import run_file

    try:
        catalog = _catalog(config)
        menus = load_menus(config, catalog)
        files = scenario_files(config, args.paths)
        # A menu file named (or beside a scenario file named) is the one tested, not the
        # configured menu of the same name: an edited copy is rehearsed as it is.
        given = tested_menu_files(config, args.paths)
        menus.update(load_menus(config, catalog, [str(p) for p in given]) if given else {})
        results = [r for path in files for r in run_file(path, menus)]
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not files:
        print(f"no scenarios found for {' '.join(args.paths) or config.path(config.menus.dir)} (a menu's "
              "scenarios are <menu>.scenarios.yaml beside it)", file=sys.stderr)
        return 1
    rehearsed = {str(p) for p in given}
    for menu in menus.values():
        if menu.source in rehearsed:
            print(f"menu '{menu.name}' from {menu.source}")
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'} {result.name}")
        for failure in result.failures:
            print(f"     {failure}")
        if args.verbose:
            print("     heard: " + ", ".join(result.heard))
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0


def _call(config: Config, args: argparse.Namespace) -> int:
    import socket
    import threading

    from ivr.asterisk.keypad import Keypad
    from ivr.asterisk.softphone import await_callback, callback_for_me, run_softphone
    from ivr.config.schema import parse_address
    from ivr.softphone.phone import SoftphoneLine

    host, port = parse_address(args.fastagi) if args.fastagi else config.engine.fastagi
    local = None
    finished: list[CallContext] = []
    ended = threading.Event()
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        from ivr.asterisk.wiring import fastagi_server

        print(f"No engine answers at {host}:{port}; starting one in this process "
              "(no operators, no callbacks: run `ivr serve` for those).")
        engine = _engine(config)
        engine.call_observers.extend([lambda ctx, at: finished.append(ctx), lambda ctx, at: ended.set()])
        local = fastagi_server(engine, ("127.0.0.1", 0))
        local.start()
        host, port = local.address
    keypad = Keypad(sys.stdin, echo=sys.stdout).start()
    # A running engine can ring this softphone back (callbacks); one in this process has
    # no background work to place them.
    line = SoftphoneLine(keypad=keypad).start() if local is None else None
    try:
        variables = run_softphone(host, port, caller=args.caller, language=args.language,
                                  prompts_dir=config.path(config.prompts.dir), voices=config.prompts.voices,
                                  keypad=keypad, line=line)
        if local is not None:  # the engine here finishes the call's record, then its summary
            local.shutdown(drain_seconds=1)
            local = None
        for name, value in sorted(variables.items()):
            print(f"  {name} = {value}")
        if local is not None:
            # The caller hung up: the engine here finishes the call on its own thread a
            # moment later (its observers); what it collected is shown once it has.
            ended.wait(CALL_FINISH_SECONDS)
        for ctx in finished:  # the engine ran here: show what the menu collected
            print(describe_context(ctx))
        if line is not None and callback_for_me(variables, args.caller):
            await_callback(keypad, line)
    finally:
        keypad.close()
        if line is not None:
            line.close()
        if local is not None:
            local.shutdown(drain_seconds=1)
    return 0


CALL_FINISH_SECONDS = 10.0  # how long `ivr call` waits for its own engine to finish a hung-up call


def describe_context(ctx: CallContext) -> str:
    name = ctx.name.text or ("(recorded clip)" if ctx.name.clip else None) if ctx.name else None
    consent = None if ctx.consent is None else ("yes" if ctx.consent.granted else "no") + f" by {ctx.consent.method}"
    lines = ["What the menu collected:"]
    for label, value in [("ФИО", name), ("ИНН", ctx.inn), ("СНИЛС", ctx.snils),
                         ("identity confirmed", ctx.identity_confirmed), ("topic", ctx.topic),
                         ("queue", ctx.queue), ("language", ctx.language), ("consent", consent),
                         ("callback number", ctx.callback_number), ("appeal", ctx.appeal),
                         ("outcome", ctx.outcome)]:
        lines.append(f"  {label}: {value if value is not None else '—'}")
    path = " → ".join(f"{s.node}({s.exit or ''}{':' + ','.join(s.failures) if s.failures else ''})" for s in ctx.path)
    lines.append(f"  path: {path}")
    return "\n".join(lines)


def _engine(config: Config, *, serving: bool = False):  # type: ignore[no-untyped-def]
    """The engine a command works with.  Its start-up notices (speech off, a development key,
    the folders a trial falls back to) are ``ivr serve``'s to say: a one-shot command shows
    only errors from its start, then what concerns its own work."""
    from ivr.config import Secrets
    from ivr.engine import build_engine

    if serving:
        return build_engine(config, Secrets.from_env(os.environ))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        return build_engine(config, Secrets.from_env(os.environ))
    finally:
        root.setLevel(level)


def _serve(config: Config, args: argparse.Namespace) -> int:
    from ivr.config.schema import parse_address
    from ivr.ops.logging import configure_logging
    from ivr.serve import serve

    json_lines = log_format(args.log_format, os.environ, sys.stderr) == "json"
    configure_logging(level=args.log_level.upper(), json_lines=json_lines)
    fastagi = None if args.fastagi == "off" else parse_address(args.fastagi) if args.fastagi else config.engine.fastagi
    http = parse_address(args.http) if args.http else config.engine.http
    ops_http = (None if args.ops_http == "off" else parse_address(args.ops_http) if args.ops_http
                else config.engine.ops_http)
    from ivr.config import Secrets
    from ivr.web.app import metrics_token_problem

    token_problem = metrics_token_problem(Secrets.from_env(os.environ).metrics_token)
    if token_problem is not None:
        print(token_problem, file=sys.stderr)
        return 2
    try:
        engine = _engine(config, serving=True)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    from ivr.asterisk.wiring import fastagi_server
    from ivr.firstrun import is_trial
    from ivr.firstrun.users import first_start

    greeting = first_start(redis=engine.redis, config=engine.config, trial=is_trial(engine.config, engine.secrets),
                           login_url=f"http://{http[0]}:{http[1]}/login")
    if greeting is not None:
        logging.getLogger("ivr.serve").warning(greeting)
    from ivr.serve import CallServer

    call_servers: list[CallServer] = []
    if fastagi:
        try:
            call_servers.append(fastagi_server(engine, fastagi))
        except OSError as exc:
            logging.getLogger("ivr.serve").error(
                "fastagi: cannot listen on %s:%d (engine.fastagi): %s; another ivr serve there? "
                "give this one --fastagi HOST:PORT, or off", fastagi[0], fastagi[1], exc.strerror or exc)
            return 2
    ami = _ami(config, engine)
    try:
        return serve(engine, http=http, ops_http=ops_http, call_servers=call_servers)
    finally:
        if ami is not None:
            ami.close()


def _ami(config: Config, engine: Engine) -> AmiServices | None:
    """AMI for callbacks and hand-overs when ``asterisk.ami`` is set; None without it or
    when Asterisk cannot be reached (the engine still takes calls; callbacks wait)."""
    import logging

    from ivr.asterisk.ami import AmiError
    from ivr.asterisk.wiring import ami_services

    log = logging.getLogger("ivr.serve")
    if config.asterisk.ami is None:
        log.warning("callbacks: asterisk.ami is not set, so no call can be originated: the menu offers "
                    "a callback only to an `ivr call` softphone, which receives it; operators confirm "
                    "that they answered with the screen-pop's button")
        return None
    host, port = config.asterisk.ami
    try:
        services = ami_services(engine, host=host, port=port, username=config.asterisk.ami_user,
                                secret=engine.secrets.ami_secret or "")
    except (OSError, AmiError) as exc:
        log.error("ami: %s:%d unavailable (%s): callbacks are offered only to `ivr call` softphones",
                  host, port, exc)
        return None
    log.info("ami: %s@%s:%d (callbacks, hand-overs)", config.asterisk.ami_user, host, port)
    return services


def _queues(config: Config, args: argparse.Namespace) -> int:
    from routing.report import queue_report

    engine = _engine(config)
    print(queue_report(engine.router.snapshot(), as_json=args.json))
    return 0


def _recordings_purge(config: Config, args: argparse.Namespace) -> int:
    from ivr.recordings.cli import purge_command

    engine = _engine(config)
    return purge_command(engine.recordings.purger, dry_run=args.dry_run)


def _recordings_reconcile(config: Config, args: argparse.Namespace) -> int:
    from ivr.recordings.cli import reconcile_command

    recordings = _engine(config).recordings
    return reconcile_command(recordings.purger, orphan_grace=recordings.orphan_grace)


def _recordings_rewrap(config: Config, args: argparse.Namespace) -> int:
    from ivr.recordings.cli import rewrap_command

    engine = _engine(config)
    print(engine.recordings.startup_message)  # which keys, from where: this shell's, not the engine's
    return rewrap_command(engine.recordings.store)


def _recordings_verify_logs(config: Config, args: argparse.Namespace) -> int:
    from ivr.audit.cli import verify_command
    from ivr.audit.logs import RECORDINGS_LOGS

    return verify_command(_audit_logs(config), RECORDINGS_LOGS)


def _audit_logs(config: Config):  # type: ignore[no-untyped-def]
    """The audit logs and their anchors, without building the engine."""
    import time

    from ivr.audit.logs import audit_logs
    from ivr.config import Secrets
    from routing.redis_conn import connect

    secrets = Secrets.from_env(os.environ)
    redis = connect(secrets.redis_url or config.redis.url, embedded_dir=config.path(config.redis.embedded_dir))
    return audit_logs(config, redis, secrets=secrets, clock=time.time)


def _audit_verify(config: Config, args: argparse.Namespace) -> int:
    from ivr.audit.cli import verify_command

    return verify_command(_audit_logs(config), args.logs)


def _audit_checkpoint(config: Config, args: argparse.Namespace) -> int:
    from ivr.audit.cli import checkpoint_command

    return checkpoint_command(_audit_logs(config))


def _audit_reseal(config: Config, args: argparse.Namespace) -> int:
    from ivr.audit.cli import reseal_command

    return reseal_command(_audit_logs(config), args.log, reason=args.reason)


def _audit_keygen(config: Config, args: argparse.Namespace) -> int:
    from ivr.audit.cli import keygen_command

    return keygen_command()


def _users(config: Config, args: argparse.Namespace) -> int:
    from ivr.console.cli import users_command

    return users_command(config, args)


def _prompts_build(config: Config, args: argparse.Namespace) -> int:
    from ivr.menu.registry import load_menus
    from ivr.prompts.build import prompts_build_command
    from ivr.prompts.catalog import load_catalog

    # The engine takes a prompt edit only with the menus that use it (its reload refuses the
    # rest and keeps serving the old prompts); Asterisk must not get sounds the engine refused.
    catalog, problems = load_catalog(config.path(config.prompts.dir))
    try:
        if not problems:  # broken files: the build names them and builds nothing
            load_menus(config, catalog)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print("prompts: nothing built: the menus cannot use these prompts, and the engine refuses this edit "
              "too (ivr validate shows the same); the sounds stay as they were", file=sys.stderr)
        return 1
    return prompts_build_command(config)


if __name__ == "__main__":
    sys.exit(main())
