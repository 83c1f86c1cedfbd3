"""Structured logs: one JSON object per line, the call id on each, personal data masked.

    {"ts": "2026-03-18T09:00:00.123Z", "level": "INFO", "logger": "ivr.asterisk.session",
     "call_id": "1795312804.30", "msg": "call 1795312804.30 from +7******0001", "pid": 4242}

:class:`MaskingFilter` runs on the handler, so it sees every record of every logger
(ours, werkzeug's, redis-py's, gunicorn's), and rewrites it before any formatter:

* the message is rendered (``msg % args``) with the arguments masked first: a
  :class:`~ivr.flow.context.CallContext` becomes its ``masked()`` view, a name
  (``SpokenName``, ``FullName``) becomes ``И***** И. И.``, mappings have their name
  fields (``name``, ``fio``, ``surname`` ...) masked;
* then :func:`ivr.identity.mask_text` masks every ИНН-, СНИЛС- and phone-shaped
  number in the text, and whatever the caller of this call said or typed (see
  :func:`ivr.ops.context.remember_personal`) is starred out;
* fields given with ``extra=`` are masked the same way, and so is the traceback.

:class:`JsonFormatter` writes the record; ``call_id`` comes from the call scope
(:mod:`ivr.ops.context`).  :func:`configure_logging` installs both on the root logger;
``ivr serve`` calls it, tests call it with a file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Mapping
from typing import IO, Any

from ivr.flow.context import CallContext, SpokenName
from ivr.identity import mask_name, mask_text
from ivr.identity.names import FullName
from ivr.ops.context import current_call_id, current_personal

# Keys of a mapping (or ``extra=`` fields) that hold a person's name.
NAME_FIELDS = frozenset({
    "name", "fio", "full_name", "fullname", "surname", "given", "given_name", "patronymic",
    "first_name", "last_name", "middle_name", "caller_name", "calleridname", "agi_calleridname",
})
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_MASKED = "_ivr_masked"


def mask_value(value: Any, *, key: str | None = None, depth: int = 0) -> Any:
    """``value`` with personal data masked; strings stay strings, containers are copied."""
    if depth > 6:
        return "…"
    if isinstance(value, CallContext):
        return mask_value(value.masked(), depth=depth + 1)
    if isinstance(value, SpokenName):
        return {"text": mask_name(value.text) if value.text else value.text,
                "confidence": value.confidence, "clip": value.clip}
    if isinstance(value, FullName):
        return mask_name(value)
    if isinstance(value, str):
        if key is not None and key.lower() in NAME_FIELDS and value:
            return mask_name(value)
        return _mask_free_text(value)
    if isinstance(value, bytes):
        return _mask_free_text(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {k: mask_value(v, key=str(k), depth=depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [mask_value(v, key=key, depth=depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value  # a long number is masked in the rendered message
    return _mask_free_text(str(value))


_LONG_DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{11,}(?![0-9A-Za-z])")


def loggable_call_id(call_id: str | None) -> str | None:
    """The call id as every record carries it: kept as it is for correlation (Asterisk's
    ``1796600015.153``, Twilio's ``CA`` and 32 hex digits), except a number of 11 or more
    digits standing alone (a ИНН, a СНИЛС, a phone number a peer put in ``agi_uniqueid``),
    starred but its last four."""
    if not call_id:
        return call_id
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m[0]) - 4) + m[0][-4:], call_id)


def _mask_free_text(text: str) -> str:
    text = mask_text(text)
    for word in current_personal():
        if word in text:
            text = text.replace(word, word[:1] + "*" * (len(word) - 1))
    return text


class MaskingFilter(logging.Filter):
    """Masks ИНН, СНИЛС, names and phone numbers in the message, args, extra and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED, False):
            return True
        msg = record.msg if isinstance(record.msg, str) else mask_value(record.msg)
        args = record.args
        masked_args: Any
        if isinstance(args, Mapping):
            masked_args = mask_value(args)
        elif isinstance(args, tuple):
            masked_args = tuple(mask_value(a) for a in args)
        else:
            masked_args = mask_value(args)
        try:
            message = str(msg) % masked_args if masked_args else str(msg)
        except Exception:  # noqa: BLE001 - a bad format string is still logged, masked
            message = f"{msg} {masked_args!r}"
        record.msg, record.args = _mask_free_text(message), None
        for key in set(vars(record)) - _STANDARD:
            if not key.startswith("_"):
                setattr(record, key, mask_value(getattr(record, key), key=key))
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = _mask_free_text(record.exc_text)
        if record.stack_info:
            record.stack_info = _mask_free_text(record.stack_info)
        record.__dict__["call_id"] = loggable_call_id(record.__dict__.get("call_id") or current_call_id())
        setattr(record, _MASKED, True)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, call_id, msg, pid, thread, extra, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "call_id": getattr(record, "call_id", None) or loggable_call_id(current_call_id()),
            "msg": record.getMessage(),
            "pid": record.process,
            "thread": record.threadName,
        }
        for key in set(vars(record)) - _STANDARD - {"call_id"}:
            if not key.startswith("_"):
                out[key] = getattr(record, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


# What a text line may not carry as it is: C0 controls but tab and newline, DEL, C1 controls.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}
_CONTROLS[0x0D] = "\\r"


def one_record(text: str) -> str:
    """``text`` as lines that cannot pass for other records or drive the terminal: control
    characters escaped (``\\x1b``, ``\\r``), every line after the first indented.  A URL, a
    log-in name or an AGI variable with ``%0a2026-... console log-in: ...`` in it stays one
    record in a text log."""
    return text.translate(_CONTROLS).replace("\n", "\n  ")


class TextFormatter(logging.Formatter):
    """For a person at a terminal: ``time level logger [call id] message``; a record's
    further lines (a multi-line message, a traceback) indented (:func:`one_record`)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(call_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.__dict__.get("call_id") is None:
            record.__dict__["call_id"] = loggable_call_id(current_call_id()) or "-"
        return one_record(super().format(record))


def configure_logging(
    *,
    level: int | str = logging.INFO,
    json_lines: bool = True,
    stream: IO[str] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> logging.Handler:
    """Send every logger's records to one masked handler on the root logger.

    ``path``: append to that file; else ``stream`` (default stderr).  Replaces the
    handlers this function installed before (calling it twice does not double lines).
    """
    handler: logging.Handler
    if path is not None:
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.set_name("ivr.ops")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "ivr.ops":
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return handler
