"""Console users: from ``config.yaml`` (``users:``) and from Redis (``ivr users add``).

A user has one role — ``operator`` (with the operator id of ``operators:``),
``supervisor`` or ``auditor`` — and a werkzeug password hash; the password itself is
never stored.  Users in ``config.yaml`` cannot be shadowed from Redis.

Key: ``{ivr}:console:users`` HASH name -> JSON {role, password_hash, operator, added_at,
certificate, cert_serial, phone}: ``certificate`` and ``cert_serial`` bind the user's
corporate client certificate (its subject DN and/or serial; :mod:`ivr.console.certificates`);
``phone`` is a supervisor's phone, rung into live calls (:mod:`ivr.aftermenu.supervision`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.security import check_password_hash, generate_password_hash

from ivr.config.schema import OperatorConfig, UserConfig

Role = Literal["operator", "supervisor", "auditor"]
ROLES: tuple[Role, ...] = ("operator", "supervisor", "auditor")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
# A dial string (PJSIP/sup201), a number (+7...), a Twilio client or SIP address.
PHONE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]*/[^\s,|()\\]+|\+?[0-9]{3,15}|client:[\w.-]{1,64}|sips?:[^\s,]{3,200})$")
SERIAL = re.compile(r"^(0x)?[0-9A-Fa-f]{1,2}(:?[0-9A-Fa-f]{1,2}){0,39}$")
# Checked when the user does not exist, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class UserError(Exception):
    """A user that cannot be added or removed as asked."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    operator: str | None = None
    source: Literal["config", "redis"] = "redis"
    certificate: str | None = None  # the bound client certificate's subject DN
    cert_serial: str | None = None  # ... or its serial number (hex)
    phone: str | None = None  # a supervisor's phone (PJSIP/sup201): joins live calls from it

    @property
    def stamp(self) -> str:
        """Changes with the password, the role or the operator id: a session made under
        another stamp has ended (a reset or a role change ends every session at once)."""
        material = f"{self.role}|{self.operator or ''}|{self.password_hash}"
        if self.certificate or self.cert_serial:  # a new binding ends the sessions too
            material += f"|{self.certificate or ''}|{self.cert_serial or ''}"
        return hashlib.sha256(material.encode()).hexdigest()[:32]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class UserStore:
    def __init__(
        self,
        *,
        redis: Any,
        prefix: str = "ivr",
        configured: Mapping[str, UserConfig],
        operators: Mapping[str, OperatorConfig],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.key = "{" + prefix + "}:console:users"
        self.configured = configured
        self.operators = operators
        self.clock = clock

    def get(self, name: str) -> User | None:
        spec = self.configured.get(name)
        if spec is not None:
            return User(name, spec.role, spec.password_hash, spec.operator, "config",
                        spec.certificate, spec.cert_serial, spec.phone)
        raw = self.redis.hget(self.key, name)
        if raw is None:
            return None
        d = json.loads(_text(raw))
        return User(name, d["role"], d["password_hash"], d.get("operator"), "redis",
                    d.get("certificate"), d.get("cert_serial"), d.get("phone"))

    def all(self) -> list[User]:
        users = {name: self.get(name) for name in self.configured}
        for name in self.redis.hkeys(self.key):
            users.setdefault(_text(name), self.get(_text(name)))
        return [u for _, u in sorted(users.items()) if u is not None]

    def verify(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs; the same work is done for an unknown name."""
        known = name in self.configured or bool(NAME.match(name or ""))
        user = self.get(name) if known else None
        ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
        return user if user is not None and ok else None

    def add(self, name: str, *, role: str, password: str, operator: str | None = None,
            replace: bool = False, certificate: str | None = None, cert_serial: str | None = None,
            phone: str | None = None) -> User:
        if not NAME.match(name):
            raise UserError("a user name is 2-32 characters: a-z, 0-9, '.', '_', '-'")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        if role == "operator" and not operator:
            raise UserError(f"an operator user needs --operator, one of: {', '.join(self.operators)}")
        if role == "operator" and operator not in self.operators:
            raise UserError(f"no operator '{operator}' in config.yaml (operators:); one of: "
                            f"{', '.join(self.operators)}")
        if role != "operator" and operator:
            raise UserError("only operator users have an operator id")
        if phone is not None and role != "supervisor":
            raise UserError("only supervisor users have a --phone")
        if phone is not None and not PHONE.match(phone.strip()):
            raise UserError('--phone is where the supervisor\'s phone is: "PJSIP/sup201", "+74950000000", "client:sveta"')
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
        if name in self.configured:
            raise UserError(f"user '{name}' is defined in config.yaml; change it there")
        if certificate is not None and "=" not in certificate:
            raise UserError('--certificate is the subject DN, e.g. "CN=anton,OU=Support,O=Hotline"')
        if cert_serial is not None and not SERIAL.match(cert_serial.strip()):
            raise UserError("--cert-serial is the serial number in hex, e.g. 1F3A or 1f:3a")
        record = json.dumps({"role": role, "password_hash": generate_password_hash(password),
                             "operator": operator, "added_at": self.clock(),
                             "certificate": certificate.strip() if certificate else None,
                             "cert_serial": cert_serial.strip() if cert_serial else None,
                             "phone": phone.strip() if phone else None},
                            ensure_ascii=False)
        if replace:
            self.redis.hset(self.key, name, record)
        elif not self.redis.hsetnx(self.key, name, record):
            raise UserError(f"user '{name}' exists (use --replace to set a new password or role)")
        user = self.get(name)
        assert user is not None
        return user

    def remove(self, name: str) -> bool:
        if name in self.configured:
            raise UserError(f"user '{name}' is defined in config.yaml; remove it there")
        return bool(self.redis.hdel(self.key, name))
