"""Which call the current line of work belongs to.

A :class:`CallScope` lives in a :class:`~contextvars.ContextVar`, so each FastAGI call
thread and each webhook request sees its own; :func:`call_scope` binds one for the
duration of a ``with`` block and restores the previous one after (a request thread
reused by gunicorn starts clean).  Every log record gets ``call_id`` from it (see
:mod:`ivr.ops.logging`).

The scope also collects what this call's caller said or typed that is personal data
(:func:`remember_personal`): the name Twilio's recogniser heard, the digits typed.
The masking filter hides those strings wherever they appear in the call's log lines,
on top of the shape-based masking of ИНН, СНИЛС and phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

MIN_PERSONAL = 3  # shorter fragments ("да", "1") are not worth hiding and would mangle lines
MAX_PERSONAL = 32  # strings remembered per call; a long call does not grow without bound


@dataclass
class CallScope:
    call_id: str
    personal: set[str] = field(default_factory=set)


_scope: ContextVar[CallScope | None] = ContextVar("ivr_call_scope", default=None)


def current_call_id() -> str | None:
    scope = _scope.get()
    return scope.call_id if scope is not None else None


def current_personal() -> frozenset[str]:
    scope = _scope.get()
    return frozenset(scope.personal) if scope is not None else frozenset()


@contextmanager
def call_scope(call_id: str | None) -> Iterator[CallScope | None]:
    """Bind ``call_id`` for the block; nested scopes of the same call share one scope."""
    if not call_id:
        yield _scope.get()
        return
    outer = _scope.get()
    if outer is not None and outer.call_id == call_id:
        yield outer
        return
    scope = CallScope(call_id)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


@contextmanager
def within(scope: CallScope | None) -> Iterator[CallScope | None]:
    """Bind a scope the caller keeps (a call's runner), for one synchronous piece of work."""
    if scope is None:
        yield _scope.get()
        return
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def bind_call(call_id: str) -> Token[CallScope | None]:
    """Bind ``call_id`` until :func:`unbind` (for code that cannot use a ``with`` block)."""
    return _scope.set(CallScope(call_id))


def unbind(token: Token[CallScope | None]) -> None:
    _scope.reset(token)


_WORD = re.compile(r"[^\W\d_]{3,}|\d{5,}")


def remember_personal(text: str | None) -> None:
    """Hide ``text`` (each word of it, each run of 5+ digits) in this call's log lines."""
    scope = _scope.get()
    if scope is None or not text:
        return
    for word in _WORD.findall(text):
        if len(scope.personal) >= MAX_PERSONAL:
            return
        if len(word) >= MIN_PERSONAL:
            scope.personal.add(word)
