"""The prompt catalog: what the hotline says, per language.

Layout of the prompts directory (``prompts.dir`` in ``config.yaml``)::

    prompts/ru.yaml            # id -> text; nested mappings join with '.'
    prompts/en.yaml
    prompts/ru/menu.main.wav   # a supervisor's studio recording; wins over synthesis

``ru.yaml`` may be flat (``menu.main: Здравствуйте…``) or nested
(``menu: {main: Здравствуйте…}``); both give the id ``menu.main``.  A language
exists when it has a text file or a recordings folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.config.convert import Problem
from ivr.yamlsrc import KeyPath, YamlDoc, YamlError, load_yaml

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PromptCatalog:
    """Texts and studio recordings per language.  Lookups are dictionary lookups."""

    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    recordings: Mapping[str, Mapping[str, Path]] = field(default_factory=dict)
    # Where each text was defined: (lang, id) -> (file, line), for error messages.
    origins: Mapping[tuple[str, str], tuple[str, int]] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.texts) | set(self.recordings)))

    def ids(self, lang: str) -> tuple[str, ...]:
        return tuple(sorted(set(self.texts.get(lang, ())) | set(self.recordings.get(lang, ()))))

    def has(self, prompt_id: str, lang: str) -> bool:
        return prompt_id in self.texts.get(lang, {}) or prompt_id in self.recordings.get(lang, {})

    def text(self, prompt_id: str, lang: str) -> str | None:
        """The text of a prompt (also for a recorded one, if written down), else None."""
        return self.texts.get(lang, {}).get(prompt_id)

    def recording(self, prompt_id: str, lang: str) -> Path | None:
        return self.recordings.get(lang, {}).get(prompt_id)


def load_catalog(prompts_dir: str | Path) -> tuple[PromptCatalog, list[Problem]]:
    """Read every ``<lang>.yaml`` and ``<lang>/<id>.wav`` under ``prompts_dir``.

    Returns the catalog of everything that loaded and the problems found; a bad
    file spoils only its own entries, so one typo does not silence the hotline.
    """
    root = Path(prompts_dir)
    problems: list[Problem] = []
    texts: dict[str, dict[str, str]] = {}
    recordings: dict[str, dict[str, Path]] = {}
    origins: dict[tuple[str, str], tuple[str, int]] = {}
    if not root.is_dir():
        problems.append(Problem(str(root), 1, "prompts directory not found"))
        return PromptCatalog(), problems
    for path in sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml")):
        lang = path.stem
        if not _LANG.match(lang):
            problems.append(Problem(str(path), 1, f"'{lang}' is not a language code (like ru, en)"))
            continue
        try:
            doc = load_yaml(path)
        except YamlError as exc:
            problems.append(Problem(exc.source, exc.line, exc.message))
            continue
        found = _flatten(doc, problems)
        for prompt_id, (text, line) in found.items():
            if prompt_id in texts.get(lang, {}):
                problems.append(Problem(str(path), line, f"prompt '{prompt_id}' is defined twice"))
                continue
            texts.setdefault(lang, {})[prompt_id] = text
            origins[(lang, prompt_id)] = (str(path), line)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _LANG.match(p.name)):
        for wav in sorted(folder.iterdir()):
            if wav.suffix.lower() != ".wav" or not wav.is_file():
                continue
            prompt_id = wav.name[: -len(wav.suffix)]
            if not _ID.match(prompt_id):
                problems.append(Problem(str(wav), 1, f"'{prompt_id}' is not a valid prompt id"))
                continue
            if wav.stat().st_size == 0:
                problems.append(Problem(str(wav), 1, f"studio recording of '{prompt_id}' is empty"))
                continue
            recordings.setdefault(folder.name, {})[prompt_id] = wav
    return PromptCatalog(texts=texts, recordings=recordings, origins=origins), problems


def missing_prompts(
    catalog: PromptCatalog,
    used: Mapping[str, int],
    languages: Iterable[str],
    *,
    source: str,
) -> list[Problem]:
    """Problems for every prompt a menu uses that some language lacks.

    ``used`` maps a prompt id to the line of the menu file (``source``) that uses it;
    ``languages`` are the languages the menu offers.
    """
    problems: list[Problem] = []
    langs = tuple(languages)
    for prompt_id, line in sorted(used.items(), key=lambda item: (item[1], item[0])):
        lacking = [lang for lang in langs if not catalog.has(prompt_id, lang)]
        if lacking:
            where = ", ".join(f"prompts/{lang}.yaml" for lang in lacking)
            problems.append(
                Problem(
                    source,
                    line,
                    f"prompt '{prompt_id}' is missing in {', '.join(lacking)} ({where})",
                )
            )
    return problems


def _flatten(doc: YamlDoc, problems: list[Problem]) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    if doc.data is None:
        return out
    if not isinstance(doc.data, dict):
        problems.append(
            Problem(doc.source, doc.line(()), "a prompts file must map prompt ids to texts")
        )
        return out

    def walk(value: Any, path: KeyPath) -> None:
        line = doc.line(path)
        prompt_id = ".".join(str(p) for p in path)
        if isinstance(value, dict):
            if not value:
                problems.append(Problem(doc.source, line, f"'{prompt_id}' has no prompts under it"))
            for key, child in value.items():
                walk(child, (*path, key))
            return
        if not _ID.match(prompt_id):
            problems.append(Problem(doc.source, line, f"'{prompt_id}' is not a valid prompt id"))
            return
        if isinstance(value, bool) or value is None or isinstance(value, list):
            kind = (
                "nothing" if value is None else "a list" if isinstance(value, list) else repr(value)
            )
            problems.append(
                Problem(doc.source, line, f"prompt '{prompt_id}' must be text, got {kind}")
            )
            return
        text = " ".join(str(value).split())
        if not text:
            problems.append(Problem(doc.source, line, f"prompt '{prompt_id}' is empty"))
            return
        if prompt_id in out:
            problems.append(Problem(doc.source, line, f"prompt '{prompt_id}' is defined twice"))
            return
        out[prompt_id] = (text, line)

    for key, value in doc.data.items():
        walk(value, (key,))
    return out
