"""The ministries' dashboard: every indicator with its trend, quota fill, open alerts.

One printable page (A4 landscape), for analysts and admins, with a browser session or a
bearer token like every other page; nothing on it identifies a person.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, render_template, request

from backend import clock
from backend.api.context import auth, record_access, transaction
from backend.services.monitoring import indicators, monitoring
from backend.services.settlement import eligibility, quotas
from backend.web import words
from backend.web.charts import trend

bp = Blueprint("dashboard", __name__)
FIRST_YEAR = 2023  # the Concept 2023-2027: the years the data and targets cover


def _year(raw: str | None, last: int) -> int:
    try:
        year = int(raw or last)
    except ValueError:
        return last
    return min(max(year, FIRST_YEAR), last + 1)


# A bearer token or the browser session's account, as on the API (Flask-HTTPAuth's
# decorator is untyped: typed here once).
analysts: Callable[[Callable[[], Any]], Callable[[], Any]] = auth.login_required(
    role=["analyst", "admin"]
)


@bp.get("/dashboard")
@analysts
def dashboard() -> Any:
    this_year = clock.today().year
    year = _year(request.args.get("year"), this_year)
    region = request.args.get("region_kato") or None
    years = list(range(FIRST_YEAR, max(year, this_year) + 1))
    with transaction() as session:
        regions = words.region_names(session)
        if region not in regions:
            region = None
        by_year = {
            y: {i.name: i for i in items}
            for y, items in indicators.series(session, years, region).items()
        }
        fills = sorted(
            (k, f) for k, f in quotas.quota_fills(session, year, region).items() if f.set
        )
        alerts = monitoring.by_kind(monitoring.open_alerts_now(session, region))
        eligible = [
            (y, eligibility.becoming_eligible(session, y)) for y in (this_year, this_year + 1)
        ]
        record_access(session, "dashboard.read", [None], f"{year}/{region or 'all'}")
    rows = []
    for item in by_year[year].values():
        series = [by_year[y][item.name] for y in years]
        rows.append(
            {
                "item": item,
                "trend": trend(years, [i.value for i in series], [i.target for i in series])
                if item.computed
                else None,
            }
        )
    return render_template(
        "web/dashboard.html",
        year=year,
        years=list(range(FIRST_YEAR, this_year + 2)),
        region=region,
        regions=regions,
        rows=rows,
        fills=fills,
        alerts=alerts,
        eligible=eligible,
        as_of=min(clock.today(), clock.today().replace(year=year, month=12, day=31)),
        now=clock.now(),
    )
