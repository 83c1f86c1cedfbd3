"""Errors of configuration and menu files."""

from __future__ import annotations

from collections.abc import Sequence

from ivr.config.convert import Problem


class ConfigError(Exception):
    """A configuration (or menu) that must not be used; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
