"""The settlement map job: progress, artifact, offline page, access."""

import gzip
import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from backend.demo.settlement import DEMO_INDICATOR_SOURCE
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def _world(db: Any) -> None:
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO settlement_indicators SELECT kato, 1.2, true, (ascii(kato) + length(name)) % 3 > 0,"
                " true, true, 0.5, current_date, :src, true FROM settlements"
            ),
            {"src": DEMO_INDICATOR_SOURCE},
        )
        session.execute(
            text("INSERT INTO quotas VALUES (:y, '550000000', 100, 50, now())"),
            {"y": date.today().year},
        )
        session.execute(
            text(
                "INSERT INTO settlement_lists (year, region_kato, settlement_kato)"
                " SELECT :y, region_kato, kato FROM settlements WHERE region_kato = '550000000'"
            ),
            {"y": date.today().year},
        )


def build(client: Any, app: Any, headers: dict) -> dict:
    resp = client.post("/api/v1/maps/kandas-settlement", json={}, headers=headers)
    assert resp.status_code == 202
    status_url = resp.get_json()["status_url"]
    assert client.get(status_url, headers=headers).get_json()["status"] == "queued"
    h.run_jobs(app)
    job = client.get(status_url, headers=headers).get_json()
    assert job["status"] == "finished" and job["progress"] == 100, job
    return job


def test_map_job_builds_an_offline_page(client: Any, app: Any, token: Any, db: Any) -> None:
    _world(db)
    analyst = token("analyst")
    assert client.get("/maps/kandas-settlement", headers=analyst).status_code == 404
    job = build(client, app, analyst)
    assert job["result"]["regions"] == 20 and job["result"]["settlements"] > 200
    assert job["result"]["gzip_bytes"] < 2_000_000
    page = client.get("/maps/kandas-settlement", headers=analyst)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "ДЕМО" in html and "Карта расселения" in html and "GeoNames" in html
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/static/maps/") for u in urls), urls
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        asset.close()
    assert "cdn" not in html.lower() and "unpkg" not in html
    assert len(page.get_data()) == job["result"]["bytes"]
    zipped = client.get("/maps/kandas-settlement", headers={**analyst, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_data()) == page.get_data()


def test_map_page_needs_an_analyst_or_admin(client: Any, token: Any) -> None:
    assert client.get("/maps/kandas-settlement").status_code == 401
    assert client.get("/maps/kandas-settlement", headers=token("officer")).status_code == 403


def test_job_status_is_the_owners_only(client: Any, app: Any, token: Any, db: Any) -> None:
    _world(db)
    resp = client.post("/api/v1/maps/kandas-settlement", json={}, headers=token("analyst"))
    assert client.get(resp.get_json()["status_url"], headers=token("analyst")).status_code == 404
