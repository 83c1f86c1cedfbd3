from __future__ import annotations

from pathlib import Path

from ivr.prompts.catalog import load_catalog, missing_prompts


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_flat_and_nested_ids_join_with_dots(tmp_path: Path) -> None:
    write(tmp_path / "ru.yaml", "menu:\n  main: Здравствуйте\n  topic: Тема\nconsent: Согласны?\n")
    write(tmp_path / "en.yaml", "menu.main: Hello\n")
    catalog, problems = load_catalog(tmp_path)
    assert problems == []
    assert catalog.languages == ("en", "ru")
    assert catalog.ids("ru") == ("consent", "menu.main", "menu.topic")
    assert catalog.text("menu.main", "ru") == "Здравствуйте"
    assert catalog.has("menu.main", "en") and not catalog.has("menu.topic", "en")
    assert catalog.origins[("ru", "menu.topic")] == (str(tmp_path / "ru.yaml"), 3)


def test_studio_recording_counts_as_present_and_is_found(tmp_path: Path) -> None:
    write(tmp_path / "ru.yaml", "menu.main: Здравствуйте\n")
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "menu.main.wav").write_bytes(b"RIFF....")
    (tmp_path / "ru" / "studio.only.wav").write_bytes(b"RIFF....")
    catalog, problems = load_catalog(tmp_path)
    assert problems == []
    assert catalog.recording("menu.main", "ru") == tmp_path / "ru" / "menu.main.wav"
    assert catalog.has("studio.only", "ru")
    assert catalog.ids("ru") == ("menu.main", "studio.only")


def test_mistakes_are_reported_with_file_and_line(tmp_path: Path) -> None:
    ru = write(
        tmp_path / "ru.yaml",
        "menu:\n  main: Здравствуйте\nmenu.main: дубль\nempty: ''\nlisty: [a, b]\nnothing:\n",
    )
    write(tmp_path / "en.yaml", "a: [unclosed\n")
    write(tmp_path / "russian.yaml", "a: b\n")
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "zero.wav").write_bytes(b"")
    catalog, problems = load_catalog(tmp_path)
    text = [str(p) for p in problems]
    assert f"{ru}:3: prompt 'menu.main' is defined twice" in text
    assert f"{ru}:4: prompt 'empty' is empty" in text
    assert f"{ru}:5: prompt 'listy' must be text, got a list" in text
    assert f"{ru}:6: prompt 'nothing' must be text, got nothing" in text
    assert any(p.source.endswith("en.yaml") and "invalid YAML" in p.message for p in problems)
    assert any("'russian' is not a language code" in t for t in text)
    assert any("studio recording of 'zero' is empty" in t for t in text)
    # what was good still loads: one typo does not silence the hotline
    assert catalog.text("menu.main", "ru") == "Здравствуйте"


def test_missing_directory_is_a_problem(tmp_path: Path) -> None:
    catalog, problems = load_catalog(tmp_path / "nope")
    assert catalog.languages == ()
    assert [p.message for p in problems] == ["prompts directory not found"]


def test_missing_prompts_names_prompt_language_and_menu_line(tmp_path: Path) -> None:
    write(tmp_path / "ru.yaml", "menu.main: Здравствуйте\nmenu.topic: Тема\n")
    write(tmp_path / "en.yaml", "menu.main: Hello\n")
    catalog, _ = load_catalog(tmp_path)
    problems = missing_prompts(
        catalog,
        {"menu.main": 3, "menu.topic": 7, "menu.bye": 9},
        ("ru", "en"),
        source="dialplans/hotline.yaml",
    )
    assert [str(p) for p in problems] == [
        "dialplans/hotline.yaml:7: prompt 'menu.topic' is missing in en (prompts/en.yaml)",
        (
            "dialplans/hotline.yaml:9: prompt 'menu.bye' is missing in ru, en"
            " (prompts/ru.yaml, prompts/en.yaml)"
        ),
    ]
