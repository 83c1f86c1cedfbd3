"""Turn located YAML data into frozen dataclasses, reporting every mistake with its line.

Strategy: the dataclass *is* the schema.  Field types drive the conversion
(``str``, ``int``, ``float``, ``bool``, ``X | None``, ``Literal[...]``,
``tuple[X, ...]``, ``Mapping[str, X]``, nested dataclasses); a field with a
default is optional.  YAML keys are the field names with ``-`` allowed for
``_``.  A field may carry ``metadata={"parse": fn}`` to turn the raw value
into something richer (a time range, a duration), raising ``ValueError`` with
a message for the supervisor.

Mistakes are collected, not raised one by one, so ``ivr validate`` can show
all of them at once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from ivr.yamlsrc import KeyPath, YamlDoc

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One mistake in a YAML file: where it is and what is wrong."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


class Invalid(Exception):
    """Raised inside conversion; turned into a :class:`Problem` by the converter."""


def dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path) or "(top)"


class Converter:
    """Builds dataclasses from one YAML document, collecting problems."""

    def __init__(self, doc: YamlDoc) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def problem(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.doc.source, self.doc.line(path), message))

    def value_at(self, path: KeyPath) -> Any:
        data = self.doc.data
        for part in path:
            data = data[part]
        return data

    def build(self, cls: type[T], path: KeyPath = (), raw: Any = None, *, use_raw: bool = False) -> T | None:
        """Build ``cls`` from the mapping at ``path``; ``None`` if it had mistakes."""
        value = raw if use_raw else self.value_at(path)
        before = len(self.problems)
        try:
            result = self._dataclass(cls, value, path)
        except _Reported:
            return None
        except Invalid as exc:
            self.problem(path, str(exc))
            return None
        return result if len(self.problems) == before else None

    def convert(self, tp: Any, value: Any, path: KeyPath) -> Any:
        """Convert ``value`` to type ``tp``; problems are recorded, ``Invalid`` bubbles."""
        return self._convert(tp, value, path)

    # -- the conversions -------------------------------------------------------------

    def _dataclass(self, cls: type[T], value: Any, path: KeyPath) -> T:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise Invalid(f"'{dotted(path)}' must be a mapping, got {_kind(value)}")
        hints = typing.get_type_hints(cls)
        fields = {
            f.name: f
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.init and not f.metadata.get("internal")
        }
        kwargs: dict[str, Any] = {}
        failed = False
        for key in value:
            name = str(key).replace("-", "_")
            if name not in fields:
                known = ", ".join(sorted(fields))
                self.problem((*path, key), f"unknown key '{key}' in '{dotted(path)}' (known: {known})")
                failed = True
        for name, fld in fields.items():
            key = name if name in value else name.replace("_", "-")
            if key not in value:
                if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                    self.problem(path, f"'{dotted(path)}' is missing required key '{name}'")
                    failed = True
                continue
            child = (*path, key)
            try:
                parse: Callable[[Any], Any] | None = fld.metadata.get("parse")
                if parse is not None:
                    try:
                        kwargs[name] = parse(value[key])
                    except (ValueError, TypeError) as exc:
                        raise Invalid(f"'{dotted(child)}': {exc}") from None
                else:
                    kwargs[name] = self._convert(hints[name], value[key], child)
            except _Reported:
                failed = True
            except Invalid as exc:
                self.problem(child, str(exc))
                failed = True
        if failed:
            raise _Reported()
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise Invalid(f"'{dotted(path)}': {exc}") from None

    def _convert(self, tp: Any, value: Any, path: KeyPath) -> Any:
        origin = get_origin(tp)
        if tp is Any:
            return value
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if value is None:
                return None
            if len(args) == 1:
                return self._convert(args[0], value, path)
            for arg in args:
                try:
                    return self._convert(arg, value, path)
                except Invalid:
                    continue
            raise Invalid(f"'{dotted(path)}' has an unexpected value {value!r}")
        if origin is Literal:
            allowed = get_args(tp)
            if value not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                raise Invalid(f"'{dotted(path)}' must be one of {choices}, got {value!r}")
            return value
        if origin is tuple:
            items = _as_list(value, path)
            (item_tp, *_rest) = get_args(tp)
            return tuple(self._item(item_tp, item, (*path, i)) for i, item in enumerate(items))
        if origin in (frozenset, set):
            items = _as_list(value, path)
            (item_tp,) = get_args(tp)
            return frozenset(self._item(item_tp, item, (*path, i)) for i, item in enumerate(items))
        if origin in (dict, Mapping):
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise Invalid(f"'{dotted(path)}' must be a mapping, got {_kind(value)}")
            _key_tp, value_tp = get_args(tp)
            out: dict[str, Any] = {}
            for key, item in value.items():
                out[str(key)] = self._item(value_tp, item, (*path, key))
            return types.MappingProxyType(out)
        if dataclasses.is_dataclass(tp):
            return self._dataclass(tp, value, path)  # type: ignore[arg-type]
        return _scalar(tp, value, path)

    def _item(self, tp: Any, value: Any, path: KeyPath) -> Any:
        try:
            return self._convert(tp, value, path)
        except _Reported:
            raise
        except Invalid as exc:
            self.problem(path, str(exc))
            raise _Reported() from None


class _Reported(Invalid):
    """Problems were already recorded for this subtree; stop building it."""

    def __init__(self) -> None:
        super().__init__("")


def _as_list(value: Any, path: KeyPath) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [value]
    if not isinstance(value, list):
        raise Invalid(f"'{dotted(path)}' must be a list, got {_kind(value)}")
    return value


def _scalar(tp: Any, value: Any, path: KeyPath) -> Any:
    where = dotted(path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise Invalid(f"'{where}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise Invalid(f"'{where}' must be a whole number, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise Invalid(f"'{where}' must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            raise Invalid(f"'{where}' must be text, got {_kind(value)}")
        return str(value)
    raise Invalid(f"'{where}': unsupported type {tp!r}")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
