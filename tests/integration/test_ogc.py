"""OGC API – Features at /ogc: the standard's required members over plain HTTP, and the
same collections read by OWSLib (a client library that speaks the standard) from a
running server, with a bearer token as QGIS would send it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest
from owslib.ogcapi.features import Features

from tests.integration.test_monitoring import _world

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


def _rels(body: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for link in body["links"]:
        assert {"href", "rel", "type"} <= set(link), link
        found.setdefault(link["rel"], []).append(link["type"])
    return found


def test_required_members_over_plain_http(client: Any, admin: Any, token: Any, db: Any) -> None:
    _world(client, admin, db)
    analyst = token("analyst")
    landing = client.get("/ogc/", headers=analyst)
    assert landing.status_code == 200 and landing.mimetype == "application/json"
    rels = _rels(landing.get_json())
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    api = client.get("/ogc/api", headers=analyst).get_json()
    assert api["openapi"].startswith("3.0") and "/collections/{collectionId}/items" in api["paths"]
    conformance = client.get("/ogc/conformance", headers=analyst).get_json()["conformsTo"]
    assert CORE in conformance and any(c.endswith("/geojson") for c in conformance)
    collections = client.get("/ogc/collections", headers=analyst).get_json()
    ids = [c["id"] for c in collections["collections"]]
    assert ids == ["regions", "districts", "settlements", "density"]
    for c in collections["collections"]:
        assert c["itemType"] == "feature" and c["extent"]["spatial"]["bbox"][0][0] < 50
        assert "items" in _rels(c)
    # Regions: paging with next links, bbox, numberMatched/Returned, GeoJSON.
    first = client.get("/ogc/collections/regions/items?limit=5", headers=analyst)
    assert first.mimetype == "application/geo+json"
    page = first.get_json()
    assert page["type"] == "FeatureCollection" and page["numberMatched"] == 20
    assert page["numberReturned"] == 5 and len(page["features"]) == 5
    assert "timeStamp" in page
    next_link = next(link["href"] for link in page["links"] if link["rel"] == "next")
    parts = urlsplit(next_link)
    second = client.get(f"{parts.path}?{parts.query}", headers=analyst)
    assert second.status_code == 200
    assert second.get_json()["features"][0]["id"] != page["features"][0]["id"]
    astana = client.get("/ogc/collections/regions/items?bbox=71.3,51.0,71.6,51.3", headers=analyst)
    assert "710000000" in [f["id"] for f in astana.get_json()["features"]]
    assert "750000000" not in [f["id"] for f in astana.get_json()["features"]]
    one = client.get("/ogc/collections/regions/items/550000000", headers=analyst).get_json()
    assert one["type"] == "Feature" and one["properties"]["name_ru"] == "Павлодарская область"
    assert one["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # Settlements carry zone, score and components; density cells are aggregates only.
    settlements = client.get(
        "/ogc/collections/settlements/items?bbox=76.8,52.2,77.1,52.4&limit=3", headers=analyst
    ).get_json()
    props = settlements["features"][0]["properties"]
    assert {"zone", "score", "labour_demand_points", "caps"} <= set(props)
    cells = client.get("/ogc/collections/density/items", headers=analyst).get_json()
    assert [f["properties"]["persons"] for f in cells["features"]] == [6]  # Almaty's 3: hidden
    assert set(cells["features"][0]["properties"]) == {"persons", "period_start", "period_end"}
    long_ago = client.get(
        "/ogc/collections/density/items?datetime=2020-01-01/2020-12-31", headers=analyst
    ).get_json()
    assert long_ago["numberMatched"] == 0
    # HTML when a browser asks; errors name the parameter; analysts and admins only.
    html = client.get("/ogc/collections", headers={**analyst, "Accept": "text/html"})
    assert html.mimetype == "text/html" and "density" in html.get_data(as_text=True)
    bad = client.get("/ogc/collections/regions/items?bbox=1,2,3", headers=analyst)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "bbox"
    assert client.get("/ogc/collections/nope/items", headers=analyst).status_code == 404
    assert client.get("/ogc/collections/regions/items/1", headers=analyst).status_code == 404
    assert client.get("/ogc/collections", headers=token("officer")).status_code == 403
    assert client.get("/ogc/collections").status_code == 401


def test_owslib_reads_the_collections(
    client: Any, admin: Any, token: Any, db: Any, server: str
) -> None:
    _world(client, admin, db)
    api = Features(f"{server}/ogc/", headers=token("analyst"))
    assert CORE in api.conformance()["conformsTo"]
    assert api.feature_collections() == ["regions", "districts", "settlements", "density"]
    assert api.collection("regions")["title"] == "Regions"
    regions = api.collection_items("regions", bbox=[76.0, 51.5, 78.0, 53.0], limit=10)
    assert "550000000" in [f["id"] for f in regions["features"]]
    page = api.collection_items("regions", limit=7, offset=14)
    assert page["numberReturned"] == 6 and page["numberMatched"] == 20
    cell = api.collection_items("density")["features"][0]
    assert api.collection_item("density", cell["id"])["properties"]["persons"] == 6


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL (gdal-bin) is not installed")
def test_gdal_reads_the_layers_as_qgis_does(
    client: Any, admin: Any, token: Any, db: Any, server: str
) -> None:
    """QGIS adds OGC API – Features layers through GDAL's OAPIF driver: the same here, with
    the bearer token as an HTTP header (QGIS: an "API header" authentication)."""
    _world(client, admin, db)
    env = {
        **os.environ,
        "GDAL_HTTP_HEADERS": f"Authorization: {token('analyst')['Authorization']}",
    }

    def ogrinfo(*args: str) -> str:
        return subprocess.run(
            ["ogrinfo", "-ro", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        ).stdout

    layers = ogrinfo(f"OAPIF:{server}/ogc/")
    for name in (
        "regions",
        "districts",
        "settlements (title: Settlements with zones) (Point)",
        "density (title: Registered persons per hexagon) (Polygon)",
    ):
        assert name in layers, layers
    assert "Feature Count: 20" in ogrinfo("-so", f"OAPIF:{server}/ogc/", "regions")
    cells = ogrinfo("-al", "-q", f"OAPIF:{server}/ogc/", "density")
    assert "persons (Integer" in cells or "persons = 6" in cells, cells[:500]


def test_links_come_from_the_public_url_not_the_host_header(
    client: Any, token: Any, app: Any
) -> None:
    """Issue 28, F16: a forged ``Host`` is never reflected into the links a client follows."""
    analyst = token("analyst")
    public = app.extensions["qonys.settings"].public_url.rstrip("/")  # QONYS_PUBLIC_URL
    for path in ("/ogc/", "/ogc/collections", "/ogc/collections/regions/items?limit=2"):
        body = client.get(path, headers={**analyst, "Host": "evil.example"}).get_json()
        hrefs = [link["href"] for link in body["links"]]
        assert hrefs and all(href.startswith(public + "/ogc") for href in hrefs), hrefs
        assert "evil.example" not in json.dumps(body)
