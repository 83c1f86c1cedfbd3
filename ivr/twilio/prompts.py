"""Where a prompt comes from behind Twilio: a rendered audio file, or its text.

The prompts build (a colleague's work) renders ``<sounds_dir>/<lang>/<id>.wav``;
the blueprint serves those files at ``/twilio/prompts/<lang>/<id>.wav``.  When a
file is missing, Twilio says the text from ``prompts/<lang>.yaml`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from ivr.prompts.accepted import Texts
from ivr.prompts.catalog import load_catalog
from ivr.twilio.errors import UnknownPrompt

PROMPT_URL = "/twilio/prompts/{language}/{prompt}.wav"
PROMPT_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
LANGUAGE = re.compile(r"^[a-z]{2}$")


class PromptSource(Protocol):
    def text(self, prompt: str, language: str) -> str:
        """The prompt's text; raises :class:`UnknownPrompt` when there is none."""

    def audio_url(self, prompt: str, language: str) -> str | None:
        """A URL Twilio can <Play>, or None when no audio was rendered."""


def load_prompt_texts(prompts_dir: str | Path, languages: Iterable[str]) -> dict[str, dict[str, str]]:
    """Texts by language then prompt id, from ``<prompts_dir>/<lang>.yaml``."""
    catalog, _problems = load_catalog(prompts_dir)
    return {language: dict(catalog.texts.get(language, {})) for language in languages}


class FilePromptSource:
    """Texts in memory (or as the running engine accepted them last: ``texts`` a function);
    audio when ``<sounds_dir>/<lang>/<id>.wav`` exists."""

    def __init__(self, *, texts: Texts | Callable[[], Texts], sounds_dir: str | Path | None) -> None:
        self.texts = texts
        self.sounds_dir = Path(sounds_dir) if sounds_dir is not None else None

    def text(self, prompt: str, language: str) -> str:
        texts = self.texts() if callable(self.texts) else self.texts
        try:
            return texts[language][prompt]
        except KeyError:
            raise UnknownPrompt(prompt, language) from None

    def audio_path(self, prompt: str, language: str) -> Path | None:
        if self.sounds_dir is None or not (PROMPT_ID.match(prompt) and LANGUAGE.match(language)):
            return None
        path = self.sounds_dir / language / f"{prompt}.wav"
        return path if path.is_file() else None

    def audio_url(self, prompt: str, language: str) -> str | None:
        if self.audio_path(prompt, language) is None:
            return None
        return PROMPT_URL.format(language=language, prompt=prompt)
