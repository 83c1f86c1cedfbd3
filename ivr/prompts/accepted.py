"""The prompt texts the running engine accepted: what a caller hears where no sound file
says it (Twilio's ``<Say>``, the ``ivr call`` terminal's words).

A valid edit of ``prompts/*.yaml`` is taken with the menus' next reload; a refused one is
never used (the menus keep the catalog they were last accepted with, ``prompt_book``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ivr.prompts.catalog import PromptCatalog

Texts = Mapping[str, Mapping[str, str]]  # language -> prompt id -> text


class ServingMenus(Protocol):
    @property
    def prompt_book(self) -> object:
        """The prompt catalog the serving menus were accepted with."""


class AcceptedTexts:
    """The texts of the prompt catalog the engine's menus were last accepted with: a valid
    edit of ``prompts/*.yaml`` is spoken from the next reload on, a refused one never."""

    def __init__(self, menus: ServingMenus) -> None:
        self.menus = menus
        self._of: object = None
        self._texts: Texts = {}

    def __call__(self) -> Texts:
        book = self.menus.prompt_book
        if book is not self._of:
            self._of = book
            self._texts = ({lang: {pid: book.text(pid, lang) or "" for pid in book.ids(lang)}
                            for lang in book.languages} if isinstance(book, PromptCatalog) else {})
        return self._texts

    def text(self, prompt: str, language: str) -> str | None:
        """One prompt's accepted text, None when the catalog has none."""
        return self().get(language, {}).get(prompt)
