"""``ivr users``: console users kept in Redis (``add`` prompts for the password or reads stdin)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TextIO

from ivr.config import Config, Secrets
from ivr.console.users import ROLES, UserError, UserStore
from routing.redis_conn import connect


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    users = commands.add_parser("users", help="console users (operators, supervisors, auditors)")
    sub = users.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="add a user; the password is asked for, or read from stdin")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--operator", help="for --role operator: the operator id in config.yaml")
    add.add_argument("--certificate", metavar="SUBJECT_DN",
                     help='bind the corporate client certificate by subject, e.g. "CN=anton,OU=Support,O=Hotline"')
    add.add_argument("--cert-serial", metavar="HEX", help="bind the client certificate by serial number")
    add.add_argument("--phone", metavar="DIAL_STRING",
                     help="for --role supervisor: the phone rung to listen, whisper or barge in, e.g. PJSIP/sup201")
    add.add_argument("--replace", action="store_true", help="replace an existing user (new password or role; their sessions end at once)")
    remove = sub.add_parser("remove", help="remove a user (their sessions end at once)")
    remove.add_argument("name")
    sub.add_parser("list", help="list users and roles")
    parser: argparse.ArgumentParser = users
    return parser


def read_password(stdin: TextIO, *, interactive: bool) -> str:
    if interactive:
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            raise UserError("the passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def users_command(config: Config, args: argparse.Namespace, *, stdin: TextIO = sys.stdin,
                  out: TextIO = sys.stdout, redis: object = None) -> int:
    secrets = Secrets.from_env(os.environ)
    if redis is None:
        redis = connect(secrets.redis_url or config.redis.url,
                        embedded_dir=config.path(config.redis.embedded_dir))
    store = UserStore(redis=redis, prefix=config.redis.prefix, configured=config.users,
                      operators=config.operators)
    try:
        if args.users_command == "add":
            if not args.replace and store.get(args.name) is not None:  # before asking for a password
                raise UserError(f"user '{args.name}' exists (use --replace to set a new password or role)")
            password = read_password(stdin, interactive=stdin.isatty())
            user = store.add(args.name, role=args.role, password=password, operator=args.operator,
                             replace=args.replace, certificate=getattr(args, "certificate", None),
                             cert_serial=getattr(args, "cert_serial", None), phone=getattr(args, "phone", None))
            print(f"user '{user.name}' ({user.role}{', ' + user.operator if user.operator else ''}) saved",
                  file=out)
        elif args.users_command == "remove":
            if not store.remove(args.name):
                raise UserError(f"user '{args.name}' not found (ivr users list shows who there is)")
            print(f"user '{args.name}' removed", file=out)
        else:
            for user in store.all():
                extra = f" operator={user.operator}" if user.operator else ""
                extra += f" certificate={user.certificate}" if user.certificate else ""
                extra += f" cert-serial={user.cert_serial}" if user.cert_serial else ""
                extra += f" phone={user.phone}" if user.phone else ""
                print(f"{user.name}\t{user.role}{extra}\t({user.source})", file=out)
    except UserError as exc:
        print(f"ivr users: {exc}", file=sys.stderr)
        return 1
    return 0
