"""Load a menu from YAML and check it: every problem as ``file:line: message``.

What is checked: YAML syntax; unknown node kinds and keys; references to missing
nodes, prompts (in every language the menu offers) and queues; unreachable
nodes; input nodes whose fallback leads nowhere; loops that never wait for the
caller; keys that are not phone keys.  The same check runs in ``ivr validate``,
at engine start and on every reload, so a bad edit never reaches a caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ivr.config.convert import Converter, Problem
from ivr.config.errors import ConfigError
from ivr.config.schema import QueueConfig
from ivr.menu.model import Menu
from ivr.menu.nodes import (
    BUILTIN_PROMPTS,
    KINDS,
    WAITING_KINDS,
    AppealStatusNode,
    Defaults,
    DigitsNode,
    LanguageNode,
    MenuNode,
    Node,
    SetNode,
    Waits,
    prompt_ids,
    successors,
)
from ivr.yamlsrc import YamlDoc, YamlError, load_yaml, parse_yaml
from routing.hours import Calendar

PHONE_KEYS = set("0123456789*#")
_LENGTHS = {
    "inn": (10, 12),
    "snils": (11, 11),
    "identity": (10, 12),
    "appeal_number": (10, 10),
    "phone": (10, 12),
}


class PromptBook(Protocol):
    def has(self, prompt_id: str, language: str) -> bool: ...


@dataclass(frozen=True)
class MenuFile:
    """The menu's own header keys; the nodes are built kind by kind."""

    menu: str
    start: str
    nodes: Mapping[str, Any]
    languages: tuple[str, ...] = ("ru",)
    defaults: Defaults = field(default_factory=Defaults)
    version: int = 0
    # What the consoles call each node, per language: {node: {ru: ..., en: ...}}.
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def load_menu(
    path: str | Path,
    *,
    queues: Mapping[str, QueueConfig],
    prompts: PromptBook | None = None,
    calendar: Calendar | None = None,
) -> Menu:
    """Read and check the menu at ``path``; raise :class:`ConfigError` on any problem."""
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        raise ConfigError([Problem(exc.source, exc.line, exc.message)]) from None
    return build_menu(doc, queues=queues, prompts=prompts, calendar=calendar)


def parse_menu(
    text: str,
    *,
    source: str,
    queues: Mapping[str, QueueConfig],
    prompts: PromptBook | None = None,
    calendar: Calendar | None = None,
) -> Menu:
    try:
        doc = parse_yaml(text, source=source)
    except YamlError as exc:
        raise ConfigError([Problem(exc.source, exc.line, exc.message)]) from None
    return build_menu(doc, queues=queues, prompts=prompts, calendar=calendar)


def build_menu(
    doc: YamlDoc,
    *,
    queues: Mapping[str, QueueConfig],
    prompts: PromptBook | None,
    calendar: Calendar | None,
) -> Menu:
    converter = Converter(doc)
    if not isinstance(doc.data, dict):
        converter.problem((), "a menu must be a mapping with 'menu', 'start' and 'nodes'")
        raise ConfigError(converter.problems)
    header = converter.build(MenuFile)
    if header is None:
        raise ConfigError(converter.problems)
    nodes: dict[str, Node] = {}
    for node_id, raw in header.nodes.items():
        node = _build_node(converter, node_id, raw)
        if node is not None:
            nodes[node_id] = node
    menu = Menu(
        name=header.menu,
        languages=header.languages,
        start=header.start,
        nodes=nodes,
        defaults=header.defaults,
        version=header.version,
        labels=header.labels,
        source=doc.source,
        hours={name: queue.hours for name, queue in queues.items()},
        calendar=calendar,
    )
    if len(nodes) == len(header.nodes):
        _Checker(menu, converter, queues, prompts).run()
    if converter.problems:
        raise ConfigError(converter.problems)
    return menu


def _build_node(converter: Converter, node_id: str, raw: Any) -> Node | None:
    where = ("nodes", node_id)
    if not isinstance(raw, dict):
        converter.problem(where, f"node '{node_id}' must be a mapping with a 'kind'")
        return None
    kind = raw.get("kind")
    cls = KINDS.get(str(kind))
    if cls is None:
        known = ", ".join(KINDS)
        converter.problem((*where, "kind"), f"node '{node_id}' has unknown kind {kind!r} (known: {known})")
        return None
    return converter.build(cls, where)


class _Checker:
    def __init__(
        self,
        menu: Menu,
        converter: Converter,
        queues: Mapping[str, QueueConfig],
        prompts: PromptBook | None,
    ) -> None:
        self.menu = menu
        self.converter = converter
        self.queues = queues
        self.prompts = prompts

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.converter.problem(path, message)

    def run(self) -> None:
        menu = self.menu
        if menu.start not in menu.nodes:
            self.problem(("start",), f"start node '{menu.start}' does not exist")
            return
        if menu.defaults.queue not in self.queues:
            self.problem(("defaults", "queue"), f"default queue '{menu.defaults.queue}' is not in config.yaml")
        for node_id, node in menu.nodes.items():
            self._references(node_id, node)
            self._node_rules(node_id, node)
        for node_id, names in menu.labels.items():
            if node_id not in menu.nodes:
                self.problem(("labels", node_id), f"label for missing node '{node_id}'")
            for language in names:
                if language not in menu.languages:
                    self.problem(("labels", node_id, language),
                                 f"label in '{language}', which is not one of the menu's languages")
        self._builtin_prompts()
        self._reachability()
        self._silent_loops()

    def _references(self, node_id: str, node: Node) -> None:
        where = ("nodes", node_id)
        for key, target in successors(node).items():
            if target not in self.menu.nodes:
                self.problem((*where, *key.split(".")), f"node '{node_id}' leads to missing node '{target}'")
        if isinstance(node, Waits):
            fallback = self.menu.waits(node).fallback
            if fallback not in self.menu.nodes:
                self.problem(
                    (*where, "fallback") if node.fallback else where,
                    f"input node '{node_id}' has no fallback: node '{fallback}' does not exist",
                )
            elif fallback == node_id:
                self.problem((*where, "fallback"), f"node '{node_id}' falls back to itself")
        if self.prompts is not None:
            waits = self.menu.waits(node) if isinstance(node, Waits) else None
            used = dict(prompt_ids(node))
            if waits is not None:
                used.setdefault("no_input", waits.no_input)
                used.setdefault("no_match", waits.no_match)
            for key, prompt in used.items():
                self._prompt(prompt, (*where, *key.split(".")), f"node '{node_id}'")
        queue = getattr(node, "queue", None)
        if queue is not None and queue not in self.queues:
            self.problem((*where, "queue"), f"node '{node_id}' names unknown queue '{queue}'")

    def _prompt(self, prompt: str, path: tuple[str | int, ...], who: str) -> None:
        assert self.prompts is not None
        for language in self.menu.languages:
            if not self.prompts.has(prompt, language):
                self.problem(path, f"{who} uses prompt '{prompt}' missing in language '{language}'")

    def _builtin_prompts(self) -> None:
        if self.prompts is None:
            return
        for prompt in BUILTIN_PROMPTS:
            self._prompt(prompt, ("menu",), "the engine")

    def _node_rules(self, node_id: str, node: Node) -> None:
        where = ("nodes", node_id)
        if isinstance(node, MenuNode):
            if not node.options:
                self.problem((*where, "options"), f"menu node '{node_id}' has no options")
            for key in node.options:
                if len(key) != 1 or key not in PHONE_KEYS:
                    self.problem((*where, "options", key), f"'{key}' is not a phone key (0-9, *, #)")
        if isinstance(node, LanguageNode):
            for key, language in node.options.items():
                if len(key) != 1 or key not in PHONE_KEYS:
                    self.problem((*where, "options", key), f"'{key}' is not a phone key (0-9, *, #)")
                if language not in self.menu.languages:
                    self.problem((*where, "options", key), f"language '{language}' is not offered by the menu")
        if isinstance(node, DigitsNode):
            if not 1 <= node.min_digits <= node.max_digits:
                self.problem((*where, "min_digits"), f"node '{node_id}': need 1 <= min_digits <= max_digits")
            if node.validator in _LENGTHS:
                low, high = _LENGTHS[node.validator]
                if node.max_digits < high or node.min_digits > low:
                    self.problem(
                        (*where, "max_digits"),
                        f"node '{node_id}': a {node.validator} has {low}-{high} digits, "
                        f"but the node takes {node.min_digits}-{node.max_digits}",
                    )
            expected = {
                "inn": "inn",
                "snils": "snils",
                "identity": "identity",
                "lookup": "appeal_number",
                "callback_number": "phone",
            }
            if node.store in expected and node.validator != expected[node.store]:
                self.problem(
                    (*where, "validator"),
                    f"node '{node_id}' stores {node.store} but validates '{node.validator}'"
                    f" (use validator: {expected[node.store]})",
                )
            if node.terminator and node.terminator not in PHONE_KEYS:
                self.problem((*where, "terminator"), f"'{node.terminator}' is not a phone key")
        if isinstance(node, AppealStatusNode):
            document = self.menu.nodes.get(node.document or "")
            if node.document and not (isinstance(document, DigitsNode)
                                      and document.store in ("inn", "snils", "identity")):
                self.problem((*where, "document"),
                             f"node '{node_id}': document '{node.document}' must be a digits node storing"
                             " inn, snils or identity")
            if node.tries < 1:
                self.problem((*where, "tries"), f"node '{node_id}': tries must be at least 1")
        if isinstance(node, SetNode) and node.priority < 0:
            self.problem((*where, "priority"), "priority must not be negative")

    def _reachability(self) -> None:
        seen = set(_walk(self.menu, [self.menu.start]))
        for node_id in self.menu.nodes:
            if node_id not in seen:
                self.problem(("nodes", node_id), f"node '{node_id}' is unreachable from '{self.menu.start}'")

    def _silent_loops(self) -> None:
        """A cycle through nodes none of which waits for the caller would spin forever."""
        silent = {
            node_id: [t for t in successors(node).values() if t in self.menu.nodes]
            for node_id, node in self.menu.nodes.items()
            if not isinstance(node, WAITING_KINDS)
        }
        state: dict[str, int] = {}

        def visit(node_id: str, trail: list[str]) -> None:
            state[node_id] = 1
            for target in silent.get(node_id, []):
                if target not in silent:
                    continue
                if state.get(target) == 1:
                    loop = trail[trail.index(target):] + [target] if target in trail else [node_id, target]
                    self.problem(
                        ("nodes", target),
                        "loop that never waits for the caller: " + " -> ".join(loop),
                    )
                elif target not in state:
                    visit(target, [*trail, target])
            state[node_id] = 2

        for node_id in silent:
            if node_id not in state:
                visit(node_id, [node_id])


def _walk(menu: Menu, start: Iterable[str]) -> Iterable[str]:
    stack, seen = list(start), set()
    while stack:
        node_id = stack.pop()
        if node_id in seen or node_id not in menu.nodes:
            continue
        seen.add(node_id)
        yield node_id
        node = menu.nodes[node_id]
        stack.extend(successors(node).values())
        if isinstance(node, Waits):
            stack.append(menu.waits(node).fallback)
