"""YAML documents that remember where each value came from.

Supervisors edit menus and configuration by hand, so every mistake must be
reported as ``file:line: message``.  PyYAML's composer knows the line of every
node; this module keeps that knowledge next to the plain Python values.

    >>> doc = parse_yaml("a:\\n  b: 1\\n", source="x.yaml")
    >>> doc.data, doc.line(("a", "b"))
    ({'a': {'b': 1}}, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]
# Values a document may hold once its aliases are expanded, and how deep it may nest: a menu
# or config.yaml holds a few thousand at most.  Beyond, a "billion laughs" (nine anchors of
# nine aliases each: 400 million values, gigabytes) or 50,000 nested brackets, which a
# supervisor's edit in the console once could send (issue 20's attack: the engine grew by
# 60 MB a second until killed).
MAX_VALUES = 200_000
MAX_DEPTH = 64


class YamlError(ValueError):
    """A document that is not valid YAML, with the place of the mistake."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message


@dataclass(frozen=True)
class YamlDoc:
    """Plain data plus the 1-based line of every mapping key and sequence item."""

    source: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def parse_yaml(text: str, *, source: str) -> YamlDoc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise YamlError(source, 1, f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlError(source, line, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlError(source, 1, f"invalid YAML: {exc}") from None
    lines: dict[KeyPath, int] = {}
    if node is None:
        return YamlDoc(source, None, {(): 1})
    lines[()] = node.start_mark.line + 1
    data = _construct(node, (), lines, source, _Budget())
    return YamlDoc(source, data, lines)


class _Budget:
    """Values constructed so far (aliases count each time they are expanded)."""

    def __init__(self) -> None:
        self.values = 0

    def spend(self, node: yaml.Node, source: str, depth: int) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise YamlError(source, node.start_mark.line + 1, f"too large: more than {MAX_VALUES} values "
                            "once its aliases (*name) are expanded")
        if depth > MAX_DEPTH:
            raise YamlError(source, node.start_mark.line + 1, f"nested too deeply (at most {MAX_DEPTH} levels)")


def load_yaml(path: str | Path) -> YamlDoc:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(str(path), 1, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise YamlError(str(path), 1, "not UTF-8 text") from None
    return parse_yaml(text, source=str(path))


def _construct(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str, budget: _Budget,
               depth: int = 0) -> Any:
    budget.spend(node, source, depth)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, source, budget, depth)
            if isinstance(key, (dict, list)):
                raise YamlError(source, key_node.start_mark.line + 1, "a key must be a plain value")
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                raise YamlError(source, key_node.start_mark.line + 1, f"duplicate key '{key}'")
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, lines, source, budget, depth + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_construct(item_node, child, lines, source, budget, depth + 1))
        return items
    return _scalar(node, source, budget, depth)


def _scalar(node: yaml.Node, source: str, budget: _Budget, depth: int) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return _construct(node, (), {}, source, budget, depth + 1)
    try:
        return yaml.SafeLoader(node.value).construct_object(node)
    except yaml.YAMLError as exc:
        raise YamlError(source, node.start_mark.line + 1, f"invalid value: {exc}") from None
