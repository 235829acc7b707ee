"""The monitoring map's figures on hand-built data with known answers, k-suppression
included, and the map built by its job and served with the filters it was built with."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.services.monitoring import monitoring
from backend.services.monitoring.monitoring import Filters
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

K, CELL = 5, 20_000.0
TODAY = date.today()


def _near(place: dict[str, float], n: int) -> dict[str, float]:
    """A point a few hundred metres from ``place``: same hexagon, another address."""
    return {"lat": place["lat"] + 0.001 * n, "lon": place["lon"] + 0.001 * n}


def _world(client: Any, admin: Any, db: Any) -> dict[str, Any]:
    """Six workers in Astana (two of them kandas), three in Almaty, one who left before the
    period; permits for the Astana workers; open alerts; officers' checks."""
    people: dict[str, list[int]] = {"astana": [], "almaty": [], "kandas": []}
    for n in range(6):
        kandas = n >= 4
        person = (
            f.person(client, admin, citizenship="KAZ", category="kandas", iin=f.valid_iin())
            if kandas
            else f.person(client, admin)
        )
        f.registration(client, admin, person["id"], location=_near(f.ASTANA, n))
        people["kandas" if kandas else "astana"].append(person["id"])
        if not kandas:
            f.permit(client, admin, person["id"])
    for n in range(3):
        person = f.person(client, admin)
        f.registration(client, admin, person["id"], location=_near(f.ALMATY, n))
        people["almaty"].append(person["id"])
    gone = f.person(client, admin)
    f.registration(
        client,
        admin,
        gone["id"],
        location=f.ASTANA,
        valid_from=(TODAY - timedelta(days=200)).isoformat(),
        valid_to=(TODAY - timedelta(days=100)).isoformat(),
    )
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO alerts (person_id, kind, region_kato, details) VALUES"
                " (:a, 'silent_device', '710000000', '{}'), (:b, 'sos', '710000000', '{}'),"
                " (:c, 'sos', '710000000', '{}'), (:d, 'silent_device', '750000000', '{}')"
            ),
            {
                "a": people["astana"][0],
                "b": people["astana"][1],
                "c": people["astana"][2],
                "d": people["almaty"][0],
            },
        )
        checks = [("violation", f.ASTANA)] * 3 + [("ok", f.ASTANA)] * 2 + [("ok", f.ALMATY)] * 2
        for n, (verdict, place) in enumerate(checks):
            session.execute(
                text(
                    "INSERT INTO officer_checks (token_id, person_id, query_kind, verdict, reasons,"
                    " region_kato, geom) VALUES (1, :p, 'iin', :v, '{}', :r,"
                    " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
                ),
                {
                    "p": people["astana"][0],
                    "v": verdict,
                    "r": "710000000" if place is f.ASTANA else "750000000",
                    **_near(place, n),
                },
            )
    return people


def test_figures_with_known_answers(client: Any, admin: Any, db: Any) -> None:
    _world(client, admin, db)
    with db.transaction() as session:
        figures = monitoring.monitoring(session, Filters.of(), K, CELL)
        regions = {r.kato: r for r in figures.regions}
        assert (regions["710000000"].registered, regions["710000000"].permits) == (6, 4)
        assert (regions["750000000"].registered, regions["750000000"].permits) == (3, 0)
        assert regions["550000000"].registered == 0
        # Six persons in one Astana cell are shown; three in Almaty are not (k = 5).
        assert [c.count for c in figures.density] == [6]
        assert (figures.density_suppressed.cells, figures.density_suppressed.count) == (1, 3)
        # Open alerts by kind, a call for help first; per region too.
        assert list(figures.alerts_by_kind.items()) == [("sos", 2), ("silent_device", 2)]
        assert regions["710000000"].alerts == {"sos": 2, "silent_device": 1}
        # Five checks in Astana with their verdicts; two in Almaty are hidden.
        assert [(c.count, c.verdicts) for c in figures.checks] == [
            (5, {"ok": 2, "violation": 3, "not_found": 0})
        ]
        assert figures.checks_suppressed.cells == 1
        # A category: four labour immigrants in Astana are now under k.
        workers = monitoring.monitoring(session, Filters.of(category="labour_immigrant"), K, CELL)
        assert workers.density == [] and workers.density_suppressed.count == 7
        assert {r.kato: r.registered for r in workers.regions}["710000000"] == 4
        # A region: Almaty alone.
        almaty = monitoring.monitoring(session, Filters.of(region_kato="750000000"), K, CELL)
        assert [r.kato for r in almaty.regions] == ["750000000"]
        assert almaty.alerts_by_kind == {"silent_device": 1}
        # The period: the person who left 100 days ago counts in a period back then.
        back = Filters.of(TODAY - timedelta(days=150), TODAY - timedelta(days=120))
        earlier = monitoring.monitoring(session, back, K, CELL)
        assert {r.kato: r.registered for r in earlier.regions}["710000000"] == 1
        assert earlier.alerts_by_kind == {}


def test_cells_are_postgis_hexagons_holding_their_points(db: Any) -> None:
    with db.engine.connect() as conn:
        misplaced = conn.scalar(
            text(
                """
                WITH p AS (SELECT ST_SetSRID(ST_MakePoint(46 + random() * 42,
                                                          40 + random() * 16), 4326) AS g
                           FROM generate_series(1, 5000))
                SELECT count(*) FILTER (WHERE NOT ST_Intersects(
                    ST_SetSRID(ST_Hexagon(20000, c[1], c[2]), 3857), ST_Transform(g, 3857)))
                FROM (SELECT g, qonys_hex_cell(ST_X(g), ST_Y(g), 20000) AS c FROM p) x
                """
            )
        )
    assert misplaced == 0


def test_the_job_builds_the_map_and_the_page_serves_it(
    client: Any, admin: Any, db: Any, token: Any, app: Any
) -> None:
    _world(client, admin, db)
    analyst = token("analyst")
    assert client.get("/maps/monitoring", headers=analyst).status_code == 404
    started = client.post(
        "/api/v1/maps/monitoring", json={"category": "labour_immigrant"}, headers=analyst
    )
    assert started.status_code == 202
    h.run_jobs(app)
    job = client.get(started.get_json()["status_url"], headers=analyst).get_json()
    assert job["status"] == "finished" and job["progress"] == 100
    assert job["result"]["filters"]["category"] == "labour_immigrant"
    assert job["result"]["density_suppressed"] == {"cells": 2, "count": 7}
    page = client.get(job["result"]["url"], headers=analyst)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "__QONYS_CSRF__" not in html and "sha256-" in page.headers["Content-Security-Policy"]
    assert '"category":"labour_immigrant"' in html
    assert "cdn" not in html.lower() and "https://" not in html.split("<body")[0]
    other = client.get("/maps/monitoring?category=kandas", headers=analyst)
    assert other.status_code == 404  # not built with those filters yet
    bad = client.post(
        "/api/v1/maps/monitoring",
        json={"date_from": "2026-05-01", "date_to": "2026-04-01"},
        headers=analyst,
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "date_from"
    assert (
        client.post("/api/v1/maps/monitoring", json={}, headers=token("officer")).status_code == 403
    )


def test_each_person_keeps_their_own_map_and_a_region_map_opens_on_its_region(
    client: Any, admin: Any, db: Any, token: Any, app: Any
) -> None:
    """One analyst's Almaty map never becomes another's "monitoring map"; the page says
    when its map was built and when newer alerts call for a rebuild."""
    people = _world(client, admin, db)
    first, second, third = token("analyst"), token("analyst"), token("admin")
    client.post("/api/v1/maps/monitoring", json={}, headers=first)
    h.run_jobs(app)
    client.post("/api/v1/maps/monitoring", json={"region_kato": "750000000"}, headers=second)
    h.run_jobs(app)
    own = client.get("/maps/monitoring?lang=ru", headers=first).get_data(as_text=True)
    theirs = client.get("/maps/monitoring?lang=ru", headers=second).get_data(as_text=True)
    national = client.get("/maps/monitoring?lang=ru", headers=third).get_data(as_text=True)
    assert '"region_kato":null' in own and '"region_kato":"750000000"' in theirs
    assert '"region_kato":null' in national  # nobody's filtered map: the national one
    country = "[[40.5, 46.5], [55.5, 87.4]]"
    assert country in own and country not in theirs  # the Almaty map opens on Almaty
    assert 'id="qonys-map-banner"' in own and "Построена" in own and "Алматы" in theirs
    assert 'class="newer"' not in own
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO alerts (person_id, kind, region_kato) VALUES (:p, 'sos', '710000000')"
            ),
            {"p": people["kandas"][0]},
        )
    later = client.get("/maps/monitoring?lang=kk", headers=first).get_data(as_text=True)
    assert 'class="newer"' in later


def test_density_survives_the_subtraction_attack(client: Any, admin: Any, db: Any) -> None:
    """Issue 28, F7: five persons in a cell, a sixth registered on a Wednesday. Density for
    the Tuesday and for the Wednesday would differ by one person (a count of 1, under k).
    Density is published only for whole, finished ISO weeks: both answers are the week's."""
    wednesday = TODAY - timedelta(days=TODAY.weekday() + 12)  # two weeks ago
    for n in range(5):
        person = f.person(client, admin)
        f.registration(client, admin, person["id"], location=_near(f.ASTANA, n))
    sixth = f.person(client, admin)
    f.registration(
        client, admin, sixth["id"], location=_near(f.ASTANA, 6), valid_from=wednesday.isoformat()
    )
    tuesday = wednesday - timedelta(days=1)
    with db.transaction() as session:
        day = monitoring.density(session, Filters.of(tuesday, tuesday), K, CELL)[0]
        next_day = monitoring.density(session, Filters.of(wednesday, wednesday), K, CELL)[0]
        longer = monitoring.density(session, Filters.of(tuesday - timedelta(1), wednesday), K, CELL)
        # Today's week is still running: its count could grow between two questions.
        running = monitoring.density(session, Filters.of(TODAY, TODAY), K, CELL)[0]
    assert [c.count for c in day] == [c.count for c in next_day] == [6]
    assert [c.count for c in longer[0]] == [6]
    assert monitoring.density_period(Filters.of(tuesday, tuesday)) == (
        wednesday - timedelta(days=2),
        wednesday + timedelta(days=4),
    )
    last_week = TODAY - timedelta(days=TODAY.weekday() + 7)
    assert monitoring.density_period(Filters.of(TODAY, TODAY)) == (
        last_week,
        last_week + timedelta(days=6),
    )
    assert [c.count for c in running] == [6]
