"""A loaded, checked menu: nodes by id, plus what the engine needs to run them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.menu.nodes import Defaults, Node, Waits
from routing.hours import Calendar, Hours


@dataclass(frozen=True)
class ResolvedWaits:
    timeout: float
    retries: int
    no_input: str
    no_match: str
    fallback: str


@dataclass(frozen=True)
class Menu:
    name: str
    languages: tuple[str, ...]
    start: str
    nodes: Mapping[str, Node]
    defaults: Defaults = field(default_factory=Defaults)
    version: int = 0
    source: str = ""
    # Opening hours of the queues this menu names, attached when the menu is loaded.
    hours: Mapping[str, Hours] = field(default_factory=dict)
    calendar: Calendar | None = None
    # What the consoles call each node, per language (the menu's ``labels:``).
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def label(self, node_id: str, language: str) -> str | None:
        """The node's name for people, in ``language`` (or the menu's first), if it has one."""
        names = self.labels.get(node_id, {})
        return names.get(language) or next(iter(names.values()), None)

    def waits(self, node: Waits) -> ResolvedWaits:
        d = self.defaults
        return ResolvedWaits(
            timeout=node.timeout if node.timeout is not None else d.timeout,
            retries=node.retries if node.retries is not None else d.retries,
            no_input=node.no_input or d.no_input,
            no_match=node.no_match or d.no_match,
            fallback=node.fallback or d.fallback,
        )

    def is_open(self, queue: str, at: float) -> bool:
        hours = self.hours.get(queue)
        return True if hours is None else hours.is_open(at, self.calendar)
