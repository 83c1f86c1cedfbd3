"""What a caller hears, and what a supervisor is told while making it: the journeys of
defects 7, 13-17 of issue 17 (language, prompt build, hold music, numbers, estimates,
a skipped name)."""

from __future__ import annotations

from pathlib import Path

from tests.journeys.product import Product, newcomer_env


def test_prompts_build_without_ffmpeg_or_espeak_says_which_program_is_missing_once(
        product: Product, tmp_path: Path) -> None:
    bare = tmp_path / "bin"  # a PATH with neither ffmpeg nor espeak-ng on it
    bare.mkdir()
    done = product.ivr("prompts", "build", env=newcomer_env(PATH=str(bare)))
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert said.count("ffmpeg is not installed (apt-get install ffmpeg)") == 1, said
    assert said.count("espeak-ng is not installed (apt-get install espeak-ng)") == 1, said
    assert "failed:" not in said and "] failed " not in said, said
    assert len(said.splitlines()) <= 5, said
