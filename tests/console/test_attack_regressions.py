"""Defects a loopback attack found in the console (issue 20), each fixed and kept fixed."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize("query", ["days=²", "days=٣", "days=①", "days=-1", "days=1e3", "days=" + "9" * 12])
def test_the_auditors_days_takes_ascii_digits_only(as_role: Any, query: str) -> None:
    auditor = as_role("auditor")
    response = auditor.get(f"/auditor/api/recordings?{query}")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["error"] == "bad_parameter" and response.json["parameter"] == "days"
    assert response.json["message"].startswith("days: ")
    assert auditor.get("/auditor/api/recordings?days=7").status_code == 200
    assert auditor.get("/auditor/api/recordings").status_code == 200


@pytest.mark.parametrize("name", ["version", "days"])
def test_the_funnels_numbers_take_ascii_digits_only(as_role: Any, name: str) -> None:
    supervisor = as_role("supervisor")
    for bad in ("²", "³", "٣", "１"):
        response = supervisor.get(f"/supervisor/api/funnel?menu=hotline&{name}={bad}")
        assert response.status_code == 400, (bad, response.get_data(as_text=True)[:300])
        assert response.json["parameter"] == name and name in response.json["message"]
    assert supervisor.get(f"/supervisor/api/funnel?menu=hotline&{name}=2").status_code == 200
