"""The first console users, made at the first start of an engine that has none.

A deployment with no console user at all gets a supervisor, ``supervisor``; a trial
checkout also gets an operator bound to the first operator of ``config.yaml``
(``op101``) and an auditor, ``auditor``, so that a newcomer can take a call and listen
back to it.  Each has a random one-time password shown in that start's log and never
again (only its hash is kept); ``ivr users add NAME --role ROLE --replace`` sets another.
Two engines starting at once cannot both make a user (``HSETNX``): the one that made it
shows it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ivr.config.schema import Config
from ivr.console.users import UserError, UserStore

# Letters only: nothing the log's masking of numbers could star out; 15 letters of 23
# are about 68 bits.
_LETTERS = "abcdefghjkmnpqrstuvwxyz"


@dataclass(frozen=True)
class FirstUser:
    name: str
    role: str
    password: str
    operator: str | None = None


def one_time_password() -> str:
    groups = ["".join(secrets.choice(_LETTERS) for _ in range(5)) for _ in range(3)]
    return "-".join(groups)


def wanted(store: UserStore, *, trial: bool) -> list[FirstUser]:
    users = [FirstUser("supervisor", "supervisor", one_time_password())]
    if trial:
        if store.operators:
            first = next(iter(store.operators))
            users.append(FirstUser(first, "operator", one_time_password(), operator=first))
        users.append(FirstUser("auditor", "auditor", one_time_password()))
    return users


def make_first_users(store: UserStore, *, trial: bool) -> list[FirstUser]:
    """The users made now (none when any user exists)."""
    if store.all():
        return []
    made = []
    for user in wanted(store, trial=trial):
        try:
            store.add(user.name, role=user.role, password=user.password, operator=user.operator)
        except UserError:
            continue  # another engine starting at the same moment made it
        made.append(user)
    return made


def announcement(made: list[FirstUser], login_url: str) -> str:
    """The start-up log's words for the users made now."""
    lines = [(f"FIRST START: console users made; log in at {login_url} "
              "(each password is shown this once; set another with "
              "`ivr users add NAME --role ROLE --replace`):")]
    for user in made:
        bound = f", operator {user.operator}" if user.operator else ""
        lines.append(f"    {user.name} ({user.role}{bound})  password: {user.password}")
    return "\n".join(lines)


def first_start(*, redis: object, config: Config, trial: bool, login_url: str) -> str | None:
    """Make the first users when the engine has none; the announcement for the log."""
    store = UserStore(redis=redis, prefix=config.redis.prefix, configured=config.users,
                      operators=config.operators)
    made = make_first_users(store, trial=trial)
    return announcement(made, login_url) if made else None
