"""An internal base map (QONYS_MAP_TILES_URL), served by a tile server on this machine,
under the settlement map in Chromium with the network cut: the tiles are fetched from it,
allowed by the page's Content-Security-Policy, and nothing else leaves the machine.

A ministry's own tile server (a MapProxy, a TileServer GL, any XYZ ``/{z}/{x}/{y}.png``)
is added the same way: set ``QONYS_MAP_TILES_URL`` for the API and the worker, rebuild
the maps; the README's "Maps with bearings" says so.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backend.app import create_app
from backend.jobs.base import job_settings
from tests import helpers as h
from tests.e2e.offline import ARTIFACTS, CHROMIUM, offline_page
from tests.integration.test_maps import _world

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]
# A 1×1 light-green PNG: every tile of the "internal base map".
TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mPY+P/9fwAIfgOe7QFqpQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """An XYZ tile server on a free local port; yields its URL template and the paths asked."""
    asked: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(TILE)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png", asked
    server.shutdown()
    server.server_close()


def test_an_internal_base_map_is_drawn_under_the_map(
    db: Any, token: Any, migrated: Any, tile_server: Any, monkeypatch: Any
) -> None:
    tiles_url, asked = tile_server
    monkeypatch.setenv("QONYS_MAP_TILES_URL", tiles_url)  # the worker reads the environment
    job_settings.cache_clear()  # read once per worker process: read again with the tiles
    with_tiles = create_app(replace(migrated, map_tiles_url=tiles_url))
    _world(db)
    analyst = token("analyst")
    client = with_tiles.test_client()
    assert (
        client.post("/api/v1/maps/kandas-settlement", json={}, headers=analyst).status_code == 202
    )
    h.run_jobs(with_tiles)
    for server in h.serve(with_tiles):
        page_csp = client.get("/maps/kandas-settlement", headers=analyst).headers[
            "Content-Security-Policy"
        ]
        assert f"img-src 'self' data: {tiles_url.split('/{z}')[0]};" in page_csp
        tile_origin = tiles_url.split("/{z}")[0]
        with offline_page(server, analyst) as seen:
            page = seen.page
            # The tile server is on this machine: let it through the cut, as a LAN one would.
            page.route(f"{tile_origin}/**", lambda route: route.continue_())
            page.goto(f"{server}/maps/kandas-settlement")
            page.wait_for_selector("img.leaflet-tile-loaded")
            page.screenshot(path=str(ARTIFACTS / "kandas-settlement-base-map.png"))
        assert seen.outside == [] and seen.errors == []
    assert asked and all(path.endswith(".png") for path in asked)
    with_tiles.extensions["qonys.db"].dispose()
    monkeypatch.delenv("QONYS_MAP_TILES_URL")
    job_settings.cache_clear()  # the next tests' maps have no base map
