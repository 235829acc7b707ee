"""Ministry monitoring over HTTP: the monitoring map and residence-permit pre-selection."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app, render_template, request
from flask_wtf.csrf import generate_csrf

from backend import schemas as s
from backend.api.context import auth, principal, transaction
from backend.api.csp import map_response
from backend.api.jobs import launch
from backend.services.monitoring import maps
from backend.services.monitoring.monitoring import Filters

bp = APIBlueprint("monitoring", __name__, url_prefix="/api/v1", tag="Monitoring")
pages = APIBlueprint("monitoring_pages", __name__, tag="Monitoring")


def _filters(data: dict[str, Any]) -> Filters:
    return Filters.of(
        data.get("date_from"), data.get("date_to"), data.get("category"), data.get("region_kato")
    )


@bp.post("/maps/monitoring")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.input(s.MonitoringMapIn, arg_name="data")
@bp.output(s.JobStartedOut, status_code=202)
@bp.doc(
    summary="Build the monitoring map for a period, category and region in the background",
    description="Aggregates only: regions, k-suppressed hexagon cells, open alerts by kind "
    "and region, officers' checks per cell. Progress in `GET /api/v1/jobs/{id}`; the map "
    "at `GET /maps/monitoring` with the same filters.",
)
def start_monitoring_map(data: dict[str, Any]) -> Any:
    filters = _filters(data).as_json()
    return launch(
        "map.monitoring", "backend.jobs.maps.build_monitoring_map", filters, params=filters
    )


@pages.get("/maps/monitoring")
@pages.auth_required(auth, roles=["analyst", "admin"])
@pages.input(s.MonitoringPageQuery, location="query", arg_name="query")
@pages.doc(summary="The monitoring map built with these filters, else the latest (HTML)")
def monitoring_page(query: dict[str, Any]) -> Any:
    asked = any(query.get(k) for k in ("date_from", "date_to", "category", "region_kato"))
    who = principal()
    with transaction() as session:
        artifact = maps.monitoring_view(
            session, _filters(query).as_json() if asked else None, who.user_id, who.token_id
        )
        html = artifact.html
        # What the map shows and when it was built, with the pages' navigation: drawn per
        # request in the reader's language (the stored map is language-free).
        banner = render_template(
            "web/_map_banner.html",
            built=artifact.created_at,
            filters=artifact.params.get("filters") or {},
            newer=maps.newer_alerts(session, artifact),
            region=maps.region_label(
                session,
                (artifact.params.get("filters") or {}).get("region_kato"),
                query.get("lang"),
            ),
        )
    # The page's form starts a new map with the session: it carries this session's token.
    html = html.replace(b"__QONYS_CSRF__", generate_csrf().encode())
    html = html.replace(b"<body>", b"<body>" + banner.encode("utf-8"), 1)
    return map_response(
        html,
        "gzip" in request.headers.get("Accept-Encoding", ""),
        current_app.extensions["qonys.settings"].map_tiles_url,
    )
