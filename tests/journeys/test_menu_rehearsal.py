"""An administrator rehearses an edited copy of the menu with ``ivr test`` before deploying it.

Seen: ``ivr test COPY.yaml`` ran the copy's scenarios on the configured menu, not on the copy,
and said "40 passed" for an edit on which the console's rehearsal failed; and a menu with no
scenarios beside it got "0 passed, 0 failed" and nothing about why."""

from __future__ import annotations

import shutil

from tests.journeys.product import Product


def _keys_swapped(text: str) -> str:
    return (text.replace('"1": {next: topic_login}', "@").replace('"2": {next: topic_recovery}', '"2": {next: topic_login}')
            .replace("@", '"1": {next: topic_recovery}'))


def test_an_edited_copy_is_rehearsed_as_it_is_and_a_menu_without_scenarios_is_told_so(product: Product) -> None:
    staging = product.root / "staging"
    staging.mkdir()
    for name in ("hotline.yaml", "hotline.scenarios.yaml"):
        shutil.copy(product.root / "dialplans" / name, staging / name)
    copy = staging / "hotline.yaml"
    copy.write_text(_keys_swapped(copy.read_text("utf-8")), "utf-8")

    for named in (copy, staging / "hotline.scenarios.yaml", staging):
        tested = product.ivr("test", str(named))
        assert tested.returncode == 1, (named, tested.stdout[-2000:])
        assert f"menu 'hotline' from {copy}" in tested.stdout
        assert "FAIL " in tested.stdout and ", 0 failed" not in tested.stdout
    shipped = product.ivr("test")  # the configured menu is untouched
    assert shipped.returncode == 0 and ", 0 failed" in shipped.stdout and "menu 'hotline' from" not in shipped.stdout

    (staging / "hotline.scenarios.yaml").unlink()
    lonely = product.ivr("test", str(copy))
    assert lonely.returncode == 1
    assert f"no scenarios found for {copy} (a menu's scenarios are <menu>.scenarios.yaml beside it)" in lonely.stderr
