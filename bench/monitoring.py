"""Monitoring at national scale: the map job, the dashboard and the indicators, next to the
plain SQL counts they rest on, measured in the same run.

    python -m bench.monitoring [--persons 1000000] [--alerts 100000] [--checks 50000]

Uses the bench database (see ``bench.gen_register``): persons, registrations and permits
are generated when fewer than asked are there; alerts and officers' checks are replaced
each run. Prints the build time and size (raw and gzip) of the monitoring map, the time
of the dashboard (its queries, and the whole page over HTTP) and of the indicators, each
with the time of plain SQL counting the same rows, and the ratio. Targets (issue 13):
map job ≤ 5 s and ≤ 1 MB gzip, dashboard ≤ 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import text

from backend import clock
from backend.app import create_app
from backend.services.access.tokens import create_token
from backend.services.monitoring import indicators, monitoring
from backend.services.monitoring.maps import build_and_store_monitoring
from backend.services.monitoring.monitoring import Filters
from backend.services.settlement import quotas
from bench.common import bench_database_url, bench_settings, redis_url
from bench.gen_register import generate, prepare

RUNS = 3


def timed(work: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def seed_alerts_and_checks(database: Any, alerts: int, checks: int) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("TRUNCATE alerts, officer_checks RESTART IDENTITY"))
        conn.execute(
            text(
                """
                INSERT INTO alerts (person_id, kind, status, region_kato, details, opened_at)
                SELECT r.person_id,
                       (ARRAY['sos', 'left_permit_region', 'left_settlement_region',
                              'permit_expired_present', 'silent_device', 'residence_mismatch',
                              'late_termination_notice', 'mock_location'])[1 + (r.person_id % 8)],
                       CASE WHEN r.person_id % 5 = 0 THEN 'closed' ELSE 'open' END,
                       r.region_kato, '{}', now() - (r.person_id % 30) * interval '1 day'
                FROM registrations r WHERE r.person_id % (SELECT greatest(count(*) / :n, 1)
                                                         FROM registrations) = 0
                LIMIT :n
                """
            ),
            {"n": alerts},
        )
        conn.execute(text("UPDATE alerts SET closed_at = now() WHERE status = 'closed'"))
        conn.execute(
            text(
                """
                INSERT INTO officer_checks (token_id, person_id, query_kind, verdict, reasons,
                                            region_kato, geom, checked_at)
                SELECT 1, r.person_id, 'iin',
                       (ARRAY['ok', 'ok', 'violation', 'not_found'])[1 + (r.person_id % 4)],
                       '{}', r.region_kato, r.geom, now() - (r.person_id % 30) * interval '1 day'
                FROM registrations r WHERE r.person_id % (SELECT greatest(count(*) / :n, 1)
                                                         FROM registrations) = 1
                LIMIT :n
                """
            ),
            {"n": checks},
        )
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE alerts"))
        conn.execute(text("VACUUM ANALYZE officer_checks"))


def baseline_map(database: Any, filters: Filters) -> None:
    """The counts the map shows, as plain SQL: no hexagons, no geometry, no HTML."""
    with database.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT region_kato, count(DISTINCT person_id) FROM registrations"
                " WHERE valid_from <= :e AND (valid_to IS NULL OR valid_to >= :s) GROUP BY 1"
            ),
            {"s": filters.date_from, "e": filters.date_to},
        ).all()
        conn.execute(
            text(
                "SELECT region_kato, count(*) FROM permits WHERE valid_from <= :e"
                " AND valid_to >= :e GROUP BY 1"
            ),
            {"e": filters.date_to},
        ).all()
        conn.execute(
            text(
                "SELECT region_kato, kind, count(*) FROM alerts WHERE status = 'open' GROUP BY 1, 2"
            )
        ).all()
        conn.execute(
            text("SELECT verdict, count(*) FROM officer_checks WHERE checked_at >= :s GROUP BY 1"),
            {"s": filters.date_from},
        ).all()


def baseline_dashboard(database: Any, years: list[int]) -> None:
    """The rows the dashboard counts, as plain SQL, per year."""
    with database.engine.connect() as conn:
        for year in years:
            conn.execute(
                text(
                    "SELECT count(*) FROM registrations WHERE kind = 'permanent'"
                    " AND valid_from BETWEEN :s AND :e"
                ),
                {"s": date(year, 1, 1), "e": date(year, 12, 31)},
            ).one()
            conn.execute(
                text("SELECT count(*) FROM permits WHERE valid_from <= :e AND valid_to >= :e"),
                {"e": min(date(year, 12, 31), clock.today())},
            ).one()
            conn.execute(text("SELECT count(*) FROM settlement_obligations")).one()
        conn.execute(
            text("SELECT kind, count(*) FROM alerts WHERE status = 'open' GROUP BY 1")
        ).all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=50_000)
    args = parser.parse_args()
    url = bench_database_url()
    database = prepare(url)
    with database.engine.connect() as conn:
        have = conn.scalar(text("SELECT count(*) FROM persons"))
    if (have or 0) < args.persons:
        generate(database, args.persons)
    seed_alerts_and_checks(database, args.alerts, args.checks)
    settings = bench_settings(url, redis_url=redis_url())
    filters = Filters.of()
    with database.engine.connect() as conn:
        counts = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM registrations),"
                " (SELECT count(*) FROM alerts), (SELECT count(*) FROM officer_checks)"
            )
        ).one()
    print(
        f"data: persons {counts[0]:,}, registrations {counts[1]:,}, alerts {counts[2]:,},"
        f" checks {counts[3]:,}; period {filters.date_from}..{filters.date_to},"
        f" k={settings.monitoring_min_persons}, cell {settings.monitoring_cell_m:,.0f} m"
    )

    def build() -> Any:
        with database.transaction() as session:
            artifact = build_and_store_monitoring(session, settings, filters, None)
            session.rollback()  # measured, not kept
            return artifact

    map_s, artifact = timed(build)
    base_map_s, _ = timed(lambda: baseline_map(database, filters))
    print(
        f"monitoring map job: {map_s:6.2f} s  (plain SQL counts {base_map_s:6.2f} s,"
        f" ratio {map_s / base_map_s:5.1f}x)  size {artifact.bytes / 1e6:5.2f} MB raw,"
        f" {artifact.gzip_bytes / 1e6:5.2f} MB gzip; cells shown"
        f" {artifact.params['density_cells']:,}, suppressed"
        f" {artifact.params['density_suppressed']['cells']:,}"
        f"  [target ≤ 5 s, ≤ 1 MB gzip: "
        f"{'met' if map_s <= 5 and artifact.gzip_bytes <= 1e6 else 'NOT met'}]"
    )

    this_year = clock.today().year
    years = list(range(2023, this_year + 1))

    def dashboard_queries() -> None:
        with database.transaction() as session:
            indicators.series(session, years, None)
            quotas.quota_fills(session, this_year, None)
            monitoring.by_kind(monitoring.open_alerts_now(session, None))

    dash_s, _ = timed(dashboard_queries)
    base_dash_s, _ = timed(lambda: baseline_dashboard(database, years))
    app = create_app(settings)
    with database.transaction() as session:
        secret, _row = create_token(session, "analyst", label="bench", owner="bench")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    page_s, page = timed(lambda: client.get(f"/dashboard?year={this_year}", headers=headers))
    assert page.status_code == 200, page.status_code
    api_s, api = timed(lambda: client.get(f"/api/v1/indicators?year={this_year}", headers=headers))
    assert api.status_code == 200
    print(
        f"dashboard queries ({len(years)} years): {dash_s:6.2f} s  (plain SQL counts"
        f" {base_dash_s:6.2f} s, ratio {dash_s / base_dash_s:5.1f}x)"
    )
    print(
        f"dashboard page over HTTP: {page_s:6.2f} s  [target ≤ 1 s:"
        f" {'met' if page_s <= 1 else 'NOT met'}];  indicators API, one year: {api_s:6.2f} s"
    )


if __name__ == "__main__":
    main()
