"""The monitoring map in headless Chromium with the network cut: shapes drawn, filters
applied through the page's own form and job, a person's track shown only with a purpose."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import text

from tests import helpers as h
from tests.e2e.offline import ARTIFACTS, CHROMIUM, offline_page
from tests.integration.test_monitoring import _world

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_monitoring_map_offline_with_filters_and_a_track(
    client: Any,
    app: Any,
    admin: Any,
    token: Any,
    db: Any,
    server: str,
) -> None:
    people = _world(client, admin, db)
    walker = people["astana"][0]
    device = token("device", person_id=walker)
    now = datetime.now(UTC)
    points = h.route(now - timedelta(hours=3), [(0.5, (51.16, 71.47)), (0.5, (51.2, 71.5))])
    h.send_points(client, device, points)
    analyst = token("analyst")
    assert client.post("/api/v1/maps/monitoring", json={}, headers=analyst).status_code == 202
    h.run_jobs(app)
    with offline_page(server, analyst, console_ignores="403") as seen:
        page = seen.page
        page.goto(f"{server}/maps/monitoring")
        page.wait_for_selector("path.leaflet-interactive")
        page.wait_for_timeout(300)
        # 20 regions, one density cell, the alert markers (checks are off by default).
        assert page.locator("path.leaflet-interactive").count() >= 22
        assert "Мониторинг миграции" in page.locator("#qonys-title").inner_text()
        alerts = page.locator("#qonys-alert-list").inner_text()
        assert alerts.index("SOS") < alerts.index("Телефон молчит")
        assert (
            "Скрыто ячеек, где меньше 5 человек: 1 (3 чел.)"
            in page.locator("#qonys-k").inner_text()
        )
        assert page.locator(".leaflet-control-layers").is_visible()
        page.screenshot(path=str(ARTIFACTS / "monitoring-map.png"))
        # The region choropleth switches to permits in force.
        page.click("#qonys-metric button[data-metric=permits]")
        assert "Разрешения в силе" in page.locator("#qonys-legend-rows").inner_text()
        # A person's track: refused without a purpose, drawn with one (and audited).
        page.fill("input[name=person_id]", str(walker))
        page.click("#qonys-track")
        # (waits by locator: the page's CSP forbids the eval that wait_for_function uses)
        expect(page.locator("#qonys-track-status")).to_contain_text("Трек недоступен")
        assert "укажите основание" in page.locator("#qonys-track-status").inner_text()
        page.fill("input[name=purpose]", "case MON-1")
        page.click("#qonys-track")
        expect(page.locator("#qonys-track-status")).to_contain_text("Точек в треке")
        shown = page.locator("#qonys-track-status").inner_text()
        assert shown.startswith(f"Точек в треке: {len(points)}, дней: ")
        assert page.locator(".qonys-arrow").count() >= 1  # the direction of travel
        page.click("#qonys-lang button[data-lang=kk]")  # the status follows the language
        assert page.locator("#qonys-track-status").inner_text().startswith("Жолдағы нүктелер")
        page.click("#qonys-lang button[data-lang=ru]")
        page.screenshot(path=str(ARTIFACTS / "monitoring-map-track.png"))
        # Filters through the page: a new map for labour immigrants, built by a job.
        page.select_option("select[name=category]", "labour_immigrant")
        page.click("#qonys-filters button[type=submit]")
        expect(page.locator("#qonys-status")).to_contain_text("Строится")
        page.wait_for_timeout(200)
        h.run_jobs(app)
        page.wait_for_url("**/maps/monitoring?*category=labour_immigrant*")
        page.wait_for_selector("path.leaflet-interactive")
        assert page.evaluate("QONYS.filters.category") == "labour_immigrant"
        assert page.locator("select[name=category]").input_value() == "labour_immigrant"
        assert "category=labour_immigrant" in page.url
        page.click("#qonys-lang button[data-lang=kk]")
        assert "Көші-қон мониторингі" in page.locator("#qonys-title").inner_text()
        assert "lang=kk" in page.url
        page.screenshot(path=str(ARTIFACTS / "monitoring-map-filtered-kk.png"))
    assert seen.outside == [] and seen.errors == []
    with db.engine.connect() as conn:
        read = conn.execute(
            text(
                "SELECT purpose FROM audit_log WHERE action = 'traces.track'"
                " AND subject_person_id = :p ORDER BY id DESC LIMIT 1"
            ),
            {"p": walker},
        ).scalar()
    assert read == "case MON-1"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_dashboard_offline_and_printable(
    client: Any,
    app: Any,
    admin: Any,
    token: Any,
    db: Any,
    server: str,
) -> None:
    _world(client, admin, db)
    analyst = token("analyst")
    with offline_page(server, analyst) as seen:
        page = seen.page
        page.goto(f"{server}/dashboard?year=2026")
        rows = page.locator("#indicators tbody tr")
        assert rows.count() == 9  # four computed, five of table 1 from external sources
        assert page.locator("#indicators svg polyline:not(.target-line)").count() == 4
        assert page.locator("#indicators svg circle.value").count() >= 1  # years with data
        # Table-1 targets 2023-2026 of mobility and coverage (retention has one for 2027).
        assert page.locator("#indicators svg rect.target").count() == 8
        assert page.locator("#open-alerts tr").first.get_attribute("data-kind") == "sos"
        assert "Показатели миграционной политики" in page.locator("h1").inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        page.goto(f"{server}/dashboard?year=2026&lang=kk")
        page.screenshot(path=str(ARTIFACTS / "dashboard-kk.png"), full_page=True)
        page.emulate_media(media="print")
        page.screenshot(path=str(ARTIFACTS / "dashboard-print.png"), full_page=True)
        page.emulate_media(media="screen")
        page.goto(f"{server}/dashboard?year=2026&lang=ru")
        # Filters: another year and a region, in the page's state (its address).
        page.select_option("select[name=year]", "2025")
        page.select_option("select[name=region_kato]", "710000000")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/dashboard?year=2025*region_kato=710000000*")
        assert "2025" in page.locator("h1").inner_text()
        assert page.locator("select[name=region_kato]").input_value() == "710000000"
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        (ARTIFACTS / "dashboard.pdf").write_bytes(pdf)
    assert seen.outside == [] and seen.errors == []
    # A4 landscape: 842 × 595 points.
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert box and round(float(box.group(1))) == 842 and round(float(box.group(2))) == 595


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_api_docs_render_offline(server: str) -> None:
    """/api/docs shows every operation, with the network cut (it said "Unable to render")."""
    with offline_page(server) as seen:
        page = seen.page
        page.goto(f"{server}/api/docs")
        page.wait_for_selector(".opblock", timeout=15000)
        spec = requests.get(f"{server}/api/v1/openapi.json", timeout=10).json()
        assert spec["openapi"] == "3.0.3"
        operations = sum(
            1
            for item in spec["paths"].values()
            for verb in item
            if verb in ("get", "post", "put", "delete")
        )
        assert page.locator(".opblock").count() == operations
        assert "Unable to render" not in page.content()
        assert page.locator(".opblock-summary-path", has_text="/api/v1/checks").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert seen.outside == [] and seen.errors == []
