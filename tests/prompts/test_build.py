"""Real espeak-ng, real ffmpeg (through pydub): what Asterisk and Twilio will play."""

from __future__ import annotations

import io
import json
import os
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ivr.prompts.build import (
    BuildReport,
    ProgressEvent,
    PromptManifest,
    TextProgress,
    build_prompts,
    prompts_build_command,
)
from ivr.prompts.catalog import load_catalog

VOICES = {"ru": "ru", "en": "en-gb"}


def make_prompts(root: Path, ru: str, en: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ru.yaml").write_text(ru, encoding="utf-8")
    if en is not None:
        (root / "en.yaml").write_text(en, encoding="utf-8")
    return root


def build(prompts: Path, out: Path, **kw: Any) -> BuildReport:
    catalog, problems = load_catalog(prompts)
    assert problems == []
    return build_prompts(catalog, out, voices=kw.pop("voices", VOICES), **kw)


def wav_params(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as w:
        return (
            w.getframerate(),
            w.getnchannels(),
            w.getsampwidth(),
            w.getnframes() / w.getframerate(),
        )


def test_renders_8khz_wav_and_ulaw_for_asterisk_and_a_web_file(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "menu:\n  main: Здравствуйте\n", "menu.main: Hello\n")
    report = build(prompts, tmp_path / "out")
    assert report.ok and len(report.rendered) == 2 and report.reused == ()
    rate, channels, width, seconds = wav_params(tmp_path / "out/ru/menu.main.wav")
    assert (rate, channels, width) == (8000, 1, 2)
    assert 0.3 < seconds < 3.0
    ulaw = (tmp_path / "out/ru/menu.main.ulaw").read_bytes()
    assert abs(len(ulaw) / 8000 - seconds) < 0.01  # one byte per sample at 8 kHz
    manifest = PromptManifest.load(tmp_path / "out")
    entry = manifest.get("menu.main", "ru")
    assert entry is not None and entry.source == "tts"
    url = manifest.url_path("menu.main", "ru")
    assert url == f"/prompts/ru/{entry.hash}.wav"
    web = tmp_path / "out/web/ru" / f"{entry.hash}.wav"
    assert web.read_bytes() == (tmp_path / "out/ru/menu.main.wav").read_bytes()
    assert manifest.asterisk_path("menu.main", "ru") == str(
        (tmp_path / "out/ru/menu.main").resolve()
    )
    assert manifest.url_path("nope", "ru") is None


def test_rendered_files_are_readable_by_asterisks_user(tmp_path: Path) -> None:
    """Asterisk runs as another user (asterisk) than the engine (ivr): a 0600 prompt is
    one STREAM FILE cannot open (``200 result=-1 endpos=0``, no warning: silence)."""
    prompts = make_prompts(tmp_path / "p", "menu:\n  main: Здравствуйте\n")
    assert build(prompts, tmp_path / "out").ok
    for name in ("ru/menu.main.wav", "ru/menu.main.ulaw", "manifest.json"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o644, name


def test_unchanged_text_is_not_rendered_again_changed_and_removed_are(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "a: Один\nb: Два\n")
    out = tmp_path / "out"
    first = build(prompts, out)
    assert len(first.rendered) == 2
    stamp = os.stat(out / "ru/a.wav").st_mtime_ns
    old_b = PromptManifest.load(out).get("b", "ru")
    assert old_b is not None

    again = build(prompts, out)
    assert (len(again.rendered), len(again.reused)) == (0, 2)
    assert os.stat(out / "ru/a.wav").st_mtime_ns == stamp

    make_prompts(prompts, "b: Три\n")  # a removed, b changed
    third = build(prompts, out)
    assert [p.id for p in third.rendered] == ["b"]
    assert not (out / "ru/a.wav").exists() and not (out / "ru/a.ulaw").exists()
    assert not (out / old_b.web_file).exists()  # the old text's URL is gone
    assert sorted(third.removed) == sorted(
        ["ru/a.wav", "ru/a.ulaw", "web/ru/" + old_b.hash + ".wav"]
        + [f for f in first.rendered[0].files if f.startswith("web/")]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(p["id"], p["lang"]) for p in manifest["prompts"]] == [("b", "ru")]


def test_a_changed_voice_renders_again(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "a: Один\n")
    build(prompts, tmp_path / "out")
    report = build(prompts, tmp_path / "out", voices={"ru": "ru+f3"})
    assert len(report.rendered) == 1


def test_studio_recording_wins_over_synthesis(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "menu.main: Здравствуйте\n")
    (prompts / "ru").mkdir()
    studio = prompts / "ru/menu.main.wav"
    with wave.open(str(studio), "wb") as w:  # 48 kHz stereo, as a studio would deliver
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(b"\x10\x00\xf0\xff" * 48000)  # one second
    report = build(prompts, tmp_path / "out")
    assert report.ok
    (built,) = report.rendered
    assert built.source == "studio"
    rate, channels, _, seconds = wav_params(tmp_path / "out/ru/menu.main.wav")
    assert (rate, channels) == (8000, 1) and abs(seconds - 1.0) < 0.01
    assert build(prompts, tmp_path / "out").reused  # same bytes: reused


def test_a_failed_render_names_the_prompt_and_the_others_go_on(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "good: Хорошо\n", "hello: Hello\n")
    (prompts / "ru").mkdir()
    (prompts / "ru/broken.wav").write_bytes(b"this is not audio at all")
    report = build(prompts, tmp_path / "out", voices={"ru": "ru", "en": "zz-missing"})
    assert [p.id for p in report.rendered] == ["good"]
    failed = {(e.prompt_id, e.lang): e for e in report.failed}
    assert set(failed) == {("broken", "ru"), ("hello", "en")}
    assert "prompt 'hello' (en)" in str(failed[("hello", "en")])
    assert "zz-missing" in failed[("hello", "en")].reason
    assert "broken.wav" in failed[("broken", "ru")].reason
    missing_voice = build(prompts, tmp_path / "out2", voices={"ru": "ru"})
    assert any("prompts.voices.en" in e.reason for e in missing_voice.failed)


def test_failed_rerender_keeps_the_previous_audio(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "a: Один\n")
    build(prompts, tmp_path / "out")
    report = build(prompts, tmp_path / "out", voices={"ru": "zz-missing"})
    assert len(report.failed) == 1
    assert (tmp_path / "out/ru/a.wav").exists()
    assert PromptManifest.load(tmp_path / "out").get("a", "ru") is not None


def test_text_starting_with_a_dash_is_spoken_not_taken_for_an_option(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "a: '--help me'\n")
    assert build(prompts, tmp_path / "out").ok


def test_progress_reports_every_prompt(tmp_path: Path) -> None:
    prompts = make_prompts(tmp_path / "p", "a: Один\nb: Два\nc: Три\n")
    events: list[ProgressEvent] = []
    build(prompts, tmp_path / "out", progress=events.append, jobs=3)
    assert sorted(e.done for e in events) == [1, 2, 3]
    assert {e.total for e in events} == {3}
    assert {e.outcome for e in events} == {"rendered"}


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_progress_is_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    tty = FakeTty()
    bar = TextProgress(tty, width=10)
    bar(ProgressEvent(1, 2, "a", "ru", "rendered"))
    bar(ProgressEvent(2, 2, "b", "ru", "failed"))
    assert tty.getvalue().startswith("\r[#####.....] 1/2 ru/a")
    assert "\r[##########] 2/2 ru/b" in tty.getvalue() and "failed: ru/b" in tty.getvalue()
    plain = io.StringIO()
    lines = TextProgress(plain)
    lines(ProgressEvent(1, 2, "a", "ru", "reused"))
    lines(ProgressEvent(2, 2, "b", "ru", "rendered"))
    assert plain.getvalue() == "[2/2] rendered ru/b\n"


def test_cli_command_exit_codes(tmp_path: Path) -> None:
    make_prompts(tmp_path / "prompts", "a: Один\n")
    config: Any = SimpleNamespace(
        prompts=SimpleNamespace(dir="prompts", sounds_dir="var/sounds", voices=VOICES),
        path=lambda rel: str(tmp_path / rel),
    )
    out = io.StringIO()
    assert prompts_build_command(config, out=out) == 0
    assert "1 rendered, 0 unchanged, 0 failed" in out.getvalue()
    (tmp_path / "prompts/en.yaml").write_text("b: [oops\n", encoding="utf-8")
    out = io.StringIO()
    assert prompts_build_command(config, out=out) == 1
    assert "en.yaml:2: invalid YAML" in out.getvalue()


@pytest.mark.parametrize("text", ["Ваш номер обращения", "Appeal number"])
def test_render_is_deterministic(tmp_path: Path, text: str) -> None:
    prompts = make_prompts(tmp_path / "p", f"a: {text}\n")
    build(prompts, tmp_path / "o1")
    build(prompts, tmp_path / "o2")
    assert (tmp_path / "o1/ru/a.wav").read_bytes() == (tmp_path / "o2/ru/a.wav").read_bytes()
