"""Open the generated map in headless Chromium with the network cut off."""

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from backend.settings import PROJECT_ROOT
from tests.integration.test_maps import _world, build

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "artifacts"


@pytest.fixture
def server(app: Any) -> Any:
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_map_draws_offline(client: Any, app: Any, token: Any, db: Any, server: str) -> None:
    _world(db)
    analyst = token("analyst")
    build(client, app, analyst)
    outside: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_context(
            viewport={"width": 1400, "height": 900}, extra_http_headers=analyst
        ).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        def cut(route: Any) -> None:
            if route.request.url.startswith(server):
                route.continue_()
            else:  # the network is cut: anything not ours fails
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", cut)
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
        browser.close()
    assert outside == [] and errors == []
