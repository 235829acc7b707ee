"""Open the generated map in headless Chromium with the network cut off."""

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.offline import ARTIFACTS, CHROMIUM, offline_page
from tests.integration.test_maps import _world, build

pytestmark = pytest.mark.e2e


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
        page.click("#qonys-lang button[data-lang=en]")
        assert "Settlement zones" in page.locator("#qonys-legend").inner_text()
        page.screenshot(path=str(ARTIFACTS / "kandas-settlement-map-en.png"))
    assert seen.outside == [] and seen.errors == []
