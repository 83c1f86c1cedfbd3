"""``ivr prompts build``: render every missing or changed prompt, content-addressed.

Output, under ``prompts.sounds_dir``::

    <lang>/<id>.wav          8 kHz mono s16 PCM   Asterisk: STREAM FILE <sounds_dir>/<lang>/<id>
    <lang>/<id>.ulaw         8 kHz raw µ-law      (Asterisk picks .ulaw or .wav itself)
    web/<lang>/<hash>.wav    the same 8 kHz WAV   Twilio: <Play>{public_url}/prompts/<lang>/<hash>.wav
    manifest.json            id, lang, hash, source, files: what was built from what

The hash is sha256 of (renderer version, language, voice, text), or of the studio
recording's bytes, so an unchanged prompt is never rendered twice and a changed one
gets a new web URL (browsers and Twilio may cache it forever).  A failed render
names its prompt, keeps the previous audio if there was one, and the others go on.
A program the build needs (ffmpeg for every prompt, espeak-ng for synthesised ones)
is looked for once, before any work: when it is missing the build says so once and
renders nothing that needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.render import (
    ESPEAK,
    RENDERER_VERSION,
    PromptRenderError,
    ffmpeg_program,
    synthesise,
    to_telephone,
)

if TYPE_CHECKING:
    from ivr.config.schema import Config

MANIFEST = "manifest.json"
# Prompts are public audio that another user plays: Asterisk (user asterisk) reads what the
# engine's user (ivr) renders.  Not mkstemp's 0600, which Asterisk cannot open: STREAM FILE
# then answers ``200 result=-1 endpos=0`` with no warning, and the caller hears silence.
PROMPT_FILE_MODE = 0o644
URL_PREFIX = "/prompts"

Outcome = Literal["rendered", "reused", "failed"]


@dataclass(frozen=True)
class BuiltPrompt:
    """One line of the manifest."""

    id: str
    lang: str
    hash: str
    source: Literal["tts", "studio"]
    files: tuple[str, ...]
    seconds: float = 0.0

    @property
    def web_file(self) -> str:
        return f"web/{self.lang}/{self.hash}.wav"


@dataclass(frozen=True)
class ProgressEvent:
    done: int
    total: int
    prompt_id: str
    lang: str
    outcome: Outcome


@dataclass(frozen=True)
class MissingProgram:
    """A program the build needs and cannot find on ``PATH``."""

    program: str
    package: str  # the Debian package that brings it
    needed_for: str
    prompts: int  # how many prompts it would have rendered

    def __str__(self) -> str:
        return (f"{self.program} is not installed (apt-get install {self.package}); it is needed "
                f"{self.needed_for}: {self.prompts} prompts not rendered")


@dataclass(frozen=True)
class BuildReport:
    rendered: tuple[BuiltPrompt, ...] = ()
    reused: tuple[BuiltPrompt, ...] = ()
    failed: tuple[PromptRenderError, ...] = ()
    removed: tuple[str, ...] = field(default=())
    missing: tuple[MissingProgram, ...] = ()
    skipped: int = 0  # prompts not rendered because a program is missing

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing


class PromptManifest:
    """What ``ivr prompts build`` produced; the front ends ask it where a prompt is."""

    def __init__(
        self, sounds_dir: str | Path, entries: Mapping[tuple[str, str], BuiltPrompt]
    ) -> None:
        self.sounds_dir = Path(sounds_dir)
        self.entries = dict(entries)

    @classmethod
    def load(cls, sounds_dir: str | Path) -> PromptManifest:
        """The manifest in ``sounds_dir``; empty if there is none or it is unreadable."""
        path = Path(sounds_dir) / MANIFEST
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = {
                (item["lang"], item["id"]): BuiltPrompt(
                    id=item["id"],
                    lang=item["lang"],
                    hash=item["hash"],
                    source=item["source"],
                    files=tuple(item["files"]),
                    seconds=float(item.get("seconds", 0.0)),
                )
                for item in raw["prompts"]
            }
        except (OSError, ValueError, KeyError, TypeError):
            entries = {}
        return cls(sounds_dir, entries)

    def get(self, prompt_id: str, lang: str) -> BuiltPrompt | None:
        return self.entries.get((lang, prompt_id))

    def asterisk_path(self, prompt_id: str, lang: str) -> str | None:
        """Absolute file name without extension, for STREAM FILE / Playback()."""
        if (lang, prompt_id) not in self.entries:
            return None
        return str((self.sounds_dir / lang / prompt_id).resolve())

    def url_path(self, prompt_id: str, lang: str) -> str | None:
        """``/prompts/<lang>/<hash>.wav``: stable while the text is unchanged; serve
        ``<sounds_dir>/web`` at ``/prompts`` with a long cache lifetime."""
        entry = self.entries.get((lang, prompt_id))
        return None if entry is None else f"{URL_PREFIX}/{lang}/{entry.hash}.wav"

    def save(self) -> None:
        items = [
            {
                "id": e.id,
                "lang": e.lang,
                "hash": e.hash,
                "source": e.source,
                "files": list(e.files),
                "seconds": round(e.seconds, 3),
            }
            for _key, e in sorted(self.entries.items())
        ]
        body = json.dumps(
            {"renderer": RENDERER_VERSION, "prompts": items}, ensure_ascii=False, indent=1
        )
        _write_atomic(self.sounds_dir / MANIFEST, body.encode("utf-8"))


def prompt_url_path(manifest: PromptManifest, prompt_id: str, lang: str) -> str | None:
    return manifest.url_path(prompt_id, lang)


@dataclass(frozen=True)
class _Job:
    id: str
    lang: str
    hash: str
    source: Literal["tts", "studio"]
    text: str | None
    voice: str | None
    recording: Path | None
    problem: str | None = None


def content_hash(*, lang: str, voice: str, text: str) -> str:
    return hashlib.sha256(f"{RENDERER_VERSION}\0{lang}\0{voice}\0{text}".encode()).hexdigest()[:32]


def studio_hash(data: bytes) -> str:
    return hashlib.sha256(RENDERER_VERSION.encode() + b"\0studio\0" + data).hexdigest()[:32]


def build_prompts(
    catalog: PromptCatalog,
    out_dir: str | Path,
    *,
    voices: Mapping[str, str],
    progress: Callable[[ProgressEvent], None] | None = None,
    jobs: int = 2,
) -> BuildReport:
    """Render what changed, reuse what did not, remove what is gone."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old = PromptManifest.load(out)
    plan = _plan(catalog, voices)
    total = len(plan)
    done = 0
    rendered: list[BuiltPrompt] = []
    reused: list[BuiltPrompt] = []
    failed: list[PromptRenderError] = []
    current: dict[tuple[str, str], BuiltPrompt] = {}

    def tell(job: _Job, outcome: Outcome) -> None:
        nonlocal done, total
        done += 1
        if progress is not None:
            progress(ProgressEvent(done, total, job.id, job.lang, outcome))

    to_render: list[_Job] = []
    waiting: list[_Job] = []
    for job in plan:
        before = old.get(job.id, job.lang)
        if (
            before is not None
            and before.hash == job.hash
            and all((out / f).exists() for f in before.files)
        ):
            current[(job.lang, job.id)] = before
            reused.append(before)
            tell(job, "reused")
        else:
            waiting.append(job)
    missing = missing_programs(waiting)
    lacking = {m.program for m in missing}
    skipped = 0
    for job in waiting:
        if job.problem is None and _needs(job) & lacking:
            skipped += 1
            previous = old.get(job.id, job.lang)
            if previous is not None:  # keep playing the old audio rather than nothing
                current[(job.lang, job.id)] = previous
        else:
            to_render.append(job)
    total -= skipped  # the progress counts what is rendered, not what cannot be

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for job, result in zip(to_render, pool.map(lambda j: _render(j, out), to_render)):
            if isinstance(result, PromptRenderError):
                failed.append(result)
                previous = old.get(job.id, job.lang)
                if previous is not None:  # keep playing the old audio rather than nothing
                    current[(job.lang, job.id)] = previous
                tell(job, "failed")
            else:
                current[(job.lang, job.id)] = result
                rendered.append(result)
                tell(job, "rendered")

    keep = {f for entry in current.values() for f in entry.files}
    removed = sorted({f for entry in old.entries.values() for f in entry.files} - keep)
    for name in removed:
        try:
            (out / name).unlink()
        except FileNotFoundError:
            pass
    PromptManifest(out, current).save()
    return BuildReport(tuple(rendered), tuple(reused), tuple(failed), tuple(removed), missing, skipped)


def _needs(job: _Job) -> set[str]:
    """The programs rendering ``job`` runs: ffmpeg always, espeak-ng to synthesise."""
    return {ffmpeg_program(), ESPEAK} if job.source == "tts" else {ffmpeg_program()}


def missing_programs(jobs: list[_Job]) -> tuple[MissingProgram, ...]:
    """The programs ``jobs`` need that are not on ``PATH``, each named once."""
    wanted = [job for job in jobs if job.problem is None]
    found: list[MissingProgram] = []
    ffmpeg = ffmpeg_program()
    if wanted and shutil.which(ffmpeg) is None:
        found.append(MissingProgram(ffmpeg, "ffmpeg", "to convert every prompt to telephone audio",
                                    len(wanted)))
    tts = [job for job in wanted if job.source == "tts"]
    if tts and shutil.which(ESPEAK) is None:
        found.append(MissingProgram(ESPEAK, "espeak-ng", "to synthesise prompts from their texts",
                                    len(tts)))
    return tuple(found)


def _plan(catalog: PromptCatalog, voices: Mapping[str, str]) -> list[_Job]:
    jobs: list[_Job] = []
    for lang in catalog.languages:
        voice = voices.get(lang)
        for prompt_id in catalog.ids(lang):
            recording = catalog.recording(prompt_id, lang)
            if recording is not None:
                try:
                    digest = studio_hash(recording.read_bytes())
                except OSError as exc:
                    jobs.append(
                        _Job(prompt_id, lang, "", "studio", None, None, recording, str(exc))
                    )
                    continue
                jobs.append(_Job(prompt_id, lang, digest, "studio", None, None, recording))
                continue
            text = catalog.text(prompt_id, lang) or ""
            if voice is None:
                problem = f"no espeak-ng voice for language '{lang}' (set prompts.voices.{lang})"
                jobs.append(_Job(prompt_id, lang, "", "tts", text, None, None, problem))
                continue
            jobs.append(
                _Job(
                    prompt_id,
                    lang,
                    content_hash(lang=lang, voice=voice, text=text),
                    "tts",
                    text,
                    voice,
                    None,
                )
            )
    return jobs


def _render(job: _Job, out: Path) -> BuiltPrompt | PromptRenderError:
    if job.problem is not None:
        return PromptRenderError(job.id, job.lang, job.problem)
    lang_dir = out / job.lang
    web_dir = out / "web" / job.lang
    lang_dir.mkdir(parents=True, exist_ok=True)
    web_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="ivr-prompt-") as tmp:
            source = job.recording
            if source is None:
                assert job.text is not None and job.voice is not None
                source = Path(tmp) / "tts.wav"
                synthesise(job.text, job.voice, source)
            wav = Path(tmp) / "out.wav"
            ulaw = Path(tmp) / "out.ulaw"
            seconds = to_telephone(source, wav, ulaw)
            data = wav.read_bytes()
            _write_atomic(lang_dir / f"{job.id}.wav", data)
            _write_atomic(lang_dir / f"{job.id}.ulaw", ulaw.read_bytes())
            _write_atomic(web_dir / f"{job.hash}.wav", data)
    except (RuntimeError, OSError) as exc:
        return PromptRenderError(job.id, job.lang, str(exc))
    files = (
        f"{job.lang}/{job.id}.wav",
        f"{job.lang}/{job.id}.ulaw",
        f"web/{job.lang}/{job.hash}.wav",
    )
    return BuiltPrompt(job.id, job.lang, job.hash, job.source, files, seconds)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, PROMPT_FILE_MODE)  # not mkstemp's 0600: Asterisk's user reads these files
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class TextProgress:
    """A progress bar on a terminal; one line per rendered or failed prompt otherwise."""

    def __init__(self, stream: TextIO, *, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())

    def __call__(self, event: ProgressEvent) -> None:
        name = f"{event.lang}/{event.prompt_id}"
        if self.tty:
            filled = self.width * event.done // max(1, event.total)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {event.done}/{event.total} {name[:40]:<40}")
            if event.outcome == "failed":
                self.stream.write(f"\n  failed: {name}\n")
            if event.done == event.total:
                self.stream.write("\n")
        elif event.outcome != "reused":
            self.stream.write(f"[{event.done}/{event.total}] {event.outcome} {name}\n")
        self.stream.flush()


def prompts_build_command(config: Config, *, out: TextIO = sys.stderr) -> int:
    """``ivr prompts build``: 0 when every prompt is built, 1 otherwise."""
    from ivr.prompts.catalog import load_catalog

    prompts_dir = config.path(config.prompts.dir)
    sounds_dir = config.path(config.prompts.sounds_dir)
    catalog, problems = load_catalog(prompts_dir)
    out.writelines(f"{problem}\n" for problem in problems)
    if problems:  # a partial catalog would remove the sounds of every prompt it lost
        out.write(f"prompts: nothing built (fix the files above); the sounds stay as they were in {sounds_dir}\n")
        return 1
    report = build_prompts(
        catalog,
        sounds_dir,
        voices=config.prompts.voices,
        progress=TextProgress(out),
        jobs=max(1, min(8, os.cpu_count() or 1)),
    )
    out.writelines(f"error: {missing}\n" for missing in report.missing)
    out.writelines(f"error: {error}\n" for error in report.failed)
    not_rendered = f", {report.skipped} not rendered (a program is missing)" if report.skipped else ""
    out.write(
        f"prompts: {len(report.rendered)} rendered, {len(report.reused)} unchanged, "
        f"{len(report.failed)} failed{not_rendered}, {len(report.removed)} old files removed "
        f"-> {sounds_dir}\n"
    )
    return 0 if report.ok and not problems else 1
