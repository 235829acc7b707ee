"""HTTP blueprints: parse, validate, call a service, serialize."""

from __future__ import annotations

from apiflask import APIFlask


def register_blueprints(app: APIFlask) -> None:
    from backend.api import (
        alerts,
        checks,
        devices,
        imports,
        permits,
        persons,
        settlement,
        traces,
    )

    for module in (persons, permits, checks, imports, traces, alerts, settlement, devices):
        app.register_blueprint(module.bp)
    app.register_blueprint(settlement.pages)
