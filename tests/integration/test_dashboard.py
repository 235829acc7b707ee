"""The dashboard: every indicator with value, target, numerator, denominator, definition
and a trend; quota fill per region and category; open alerts by kind; links to the maps."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.test_monitoring import _world

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def test_dashboard_shows_every_indicator_with_its_figures(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    _world(client, admin, db)
    client.put("/api/v1/quotas/2026/550000000", json={"kandas": 7, "resettlers": 3}, headers=admin)
    page = client.get("/dashboard?year=2026", headers=token("analyst"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    api = client.get("/api/v1/indicators?year=2026", headers=token("analyst")).get_json()
    for item in api["items"]:
        row = re.search(rf'<tr id="ind-{item["name"]}"[^>]*>(.*?)</tr>', html, re.S)
        assert row, item["name"]
        cells = row.group(1)
        if item["computed"]:
            assert f"{item['numerator']} / {item['denominator']}" in cells
            assert "<svg" in cells and "<polyline" in cells  # the trend
        if item["target"] is not None and item["name"] not in (
            "external_migration_balance",
            "kazakh_card_holders",
            "investment_visas",
        ):
            assert f"{item['target'] * 100:.1f} %".replace(".", ",") in cells  # Russian
    # Monitoring coverage 2026: table-1 target 75 %.
    assert "75,0 %" in re.search(r'id="ind-monitoring_coverage".*?</tr>', html, re.S).group(0)
    quota = re.search(r'<table id="quota-fill">(.*?)</table>', html, re.S).group(1)
    assert "0 / 7" in quota and "0 / 3" in quota
    alerts = re.search(r'<table id="open-alerts">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'data-kind="(\w+)"', alerts) == ["sos", "silent_device"]
    assert '<td class="num">2</td>' in alerts
    assert "/maps/monitoring" in html and "/maps/kandas-settlement" in html
    assert "size: A4 landscape" in html
    # Definitions in the reader's language (Russian by default; English on ?lang=en).
    assert "Доля межрегиональных прибытий" in html
    english = client.get("/dashboard?year=2026&lang=en", headers=token("analyst"))
    assert "Share of interregional arrivals" in english.get_data(as_text=True)
    assert "75.0 %" in english.get_data(as_text=True)
    # The year's standing in words beside the colour, sources in the reader's language.
    coverage = re.search(r'id="ind-monitoring_coverage".*?</tr>', html, re.S).group(0)
    assert "отстаёт от цели" in coverage or "в графике" in coverage
    assert "seed 002" not in html and "Концепция миграционной политики" in html
    assert 'class="target-line"' in html and ">2024</text>" in html  # axes and target line
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'dashboard.read'"))


def test_dashboard_is_for_analysts_and_admins(client: Any, token: Any) -> None:
    assert client.get("/dashboard", headers=token("officer")).status_code == 403
    assert client.get("/dashboard", headers=token("admin")).status_code == 200
    # A browser without a session or token is sent to sign in.
    anonymous = client.get("/dashboard", headers={"Accept": "text/html"})
    assert anonymous.status_code in (302, 401)
