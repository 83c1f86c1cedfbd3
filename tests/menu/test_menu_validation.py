"""Menu checking: every mistake a supervisor can make is reported as file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.config import Config, ConfigError
from ivr.menu import parse_menu
from ivr.prompts.catalog import PromptCatalog

GOOD = """\
menu: tiny
languages: [ru, en]
start: hello
nodes:
  hello:
    kind: play
    prompts: [welcome]
    next: main
  main:
    kind: menu
    prompt: menu.main
    options:
      "1": {next: operator}
  operator:
    kind: set
    queue: general
    next: queue
  queue:
    kind: enqueue
    full: bye
  bye:
    kind: hangup
"""


def problems(text: str, config: Config, catalog: PromptCatalog | None = None) -> list[str]:
    try:
        parse_menu(textwrap.dedent(text), source="tiny.yaml", queues=config.queues, prompts=catalog)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_a_good_menu_has_no_problems(config: Config, catalog: PromptCatalog) -> None:
    assert problems(GOOD, config, catalog) == []


def test_broken_yaml_is_reported_with_its_line(config: Config) -> None:
    found = problems(GOOD.replace("  main:\n", "  main: [\n"), config)
    assert len(found) == 1 and found[0].startswith("tiny.yaml:")
    assert "invalid YAML" in found[0]


def test_unknown_kind_and_unknown_key(config: Config) -> None:
    text = GOOD.replace("kind: play", "kind: plya").replace("kind: enqueue", "kind: enqueue\n    colour: red")
    found = problems(text, config)
    assert any(p.startswith("tiny.yaml:6: ") and "unknown kind 'plya'" in p for p in found)
    assert any(p.startswith("tiny.yaml:20: ") and "unknown key 'colour'" in p for p in found)


def test_missing_node_prompt_and_queue(config: Config, catalog: PromptCatalog) -> None:
    text = GOOD.replace("{next: operator}", "{next: nowhere}").replace("queue: general", "queue: nosuch")
    text = text.replace("prompts: [welcome]", "prompts: [no.such.prompt]")
    found = problems(text, config, catalog)
    assert any("tiny.yaml:13: " in p and "missing node 'nowhere'" in p for p in found)
    assert any("unknown queue 'nosuch'" in p and "tiny.yaml:16:" in p for p in found)
    assert any("'no.such.prompt' missing in language 'ru'" in p and "tiny.yaml:7:" in p for p in found)
    assert any("'no.such.prompt' missing in language 'en'" in p for p in found)


def test_unreachable_node(config: Config) -> None:
    text = GOOD + "  orphan:\n    kind: hangup\n"
    assert any("tiny.yaml:23: node 'orphan' is unreachable" in p for p in problems(text, config))


def test_input_node_without_fallback(config: Config) -> None:
    text = GOOD.replace("{next: operator}", "{next: queue}").replace("  operator:\n    kind: set\n    queue: general\n    next: queue\n", "")
    found = problems(text, config)
    assert any("input node 'main' has no fallback: node 'operator' does not exist" in p for p in found)


def test_loop_that_never_waits(config: Config) -> None:
    text = GOOD.replace("    next: main\n", "    next: again\n") + "  again:\n    kind: set\n    next: hello\n"
    found = problems(text, config)
    assert any("loop that never waits for the caller" in p and "hello" in p for p in found)


def test_digits_node_rules(config: Config) -> None:
    text = GOOD.replace(
        '      "1": {next: operator}',
        '      "1": {next: ask}\n      "12": {next: operator}',
    ) + (
        "  ask:\n    kind: digits\n    prompt: identity.enter_number\n    validator: inn\n"
        "    store: snils\n    max_digits: 9\n    next: queue\n"
    )
    found = problems(text, config)
    assert any("'12' is not a phone key" in p for p in found)
    assert any("a inn has 10-12 digits, but the node takes 1-9" in p for p in found)
    assert any("stores snils but validates 'inn'" in p for p in found)


def test_appeal_status_document_and_tries(config: Config) -> None:
    text = GOOD.replace('      "1": {next: operator}', '      "1": {next: status}') + (
        "  status:\n    kind: appeal_status\n    document: main\n    tries: 0\n"
        "    next: operator\n    not_found: operator\n"
    )
    found = problems(text, config)
    assert any("tiny.yaml:25: " in p and "document 'main' must be a digits node storing" in p for p in found), found
    assert any("tiny.yaml:26: " in p and "tries must be at least 1" in p for p in found), found


def test_ivr_validate_exit_status_and_output(
    tmp_path: Path, repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = repo_root / "config.yaml"
    assert main(["--config", str(config), "validate"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("{next: operator}", "{next: nowhere}"), encoding="utf-8")
    assert main(["--config", str(config), "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:13: node 'main' leads to missing node 'nowhere'" in err


def test_config_mistakes_name_file_line_and_key(tmp_path: Path, repo_root: Path) -> None:
    text = (repo_root / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("fastagi: 127.0.0.1:4573", "fastagi: nowhere").replace("priority: 10", "priority: high")
    bad = tmp_path / "config.yaml"
    bad.write_text(text, encoding="utf-8")
    (tmp_path / "dialplans" / "calendar").mkdir(parents=True)
    (tmp_path / "dialplans" / "calendar" / "ru.yaml").write_text("holidays: [2026-01-01]\n")
    from ivr.config import load_config

    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{bad}:6: ") and "'engine.fastagi'" in m for m in messages)
    assert any("'queues.special.priority' must be a whole number" in m for m in messages)
    assert all(m.split(": ", 1)[1] for m in messages), "every problem says what is wrong"
    assert main(["--config", str(bad), "validate"]) == 2


def test_config_refuses_unknown_section_and_bad_hours(tmp_path: Path) -> None:
    from ivr.config import load_config

    bad = tmp_path / "config.yaml"
    bad.write_text(
        "queues:\n  general:\n    skills: [general]\n    hours: {weekly: {mon: '20:00-08:00'}}\n"
        "colours: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    messages = [str(p) for p in caught.value.problems]
    assert any(":4: " in m and "ends before it starts" in m for m in messages)
    assert any(":5: " in m and "unknown key 'colours'" in m for m in messages)


def test_the_shipped_menus_name_every_node_in_every_language(config: Config, catalog: PromptCatalog) -> None:
    """The consoles (funnel, screen-pop path) name nodes by ``labels:``; seen: a raw
    ``ask_document`` on both languages' funnel."""
    from ivr.menu.registry import load_menus

    for menu in load_menus(config, catalog).values():
        unnamed = [(node, lang) for node in menu.nodes for lang in menu.languages
                   if not menu.labels.get(node, {}).get(lang)]
        assert unnamed == [], (menu.name, unnamed)
