"""Query parameters of the console's APIs, checked at the edge.

    GET /auditor/api/recordings?days=30
    GET /supervisor/api/funnel?menu=hotline&version=3&days=7

A number is ASCII digits only: ``str.isdigit`` also accepts ``²``, ``٣`` or ``①``, which
``int()`` then refuses (a 500) or reads as a number nobody typed.  A bad value is answered
400 with a message naming the parameter (never echoing its value).
"""

from __future__ import annotations

import re
from typing import Any, overload

from flask import Flask, jsonify, request

WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


class BadParameter(Exception):
    """A query parameter that is not what the API takes; answered 400."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = f"{name}: {message}"


def whole_number(raw: str) -> int | None:
    """``raw`` as a number if it is 1-9 ASCII digits, else None."""
    return int(raw) if WHOLE_NUMBER.fullmatch(raw) else None


@overload
def query_number(name: str, default: int) -> int: ...
@overload
def query_number(name: str, default: None) -> int | None: ...


def query_number(name: str, default: int | None) -> int | None:
    """The query parameter ``name`` as a whole number; ``default`` when absent or empty."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    value = whole_number(raw)
    if value is None:
        raise BadParameter(name, "нужно целое число цифрами 0-9")
    return value


def init_params(app: Flask) -> None:
    @app.errorhandler(BadParameter)
    def bad_parameter(exc: BadParameter) -> Any:
        return jsonify(error="bad_parameter", parameter=exc.name, message=exc.message), 400
