"""HTTP blueprints: parse, validate, call a service, serialize."""

from __future__ import annotations

from apiflask import APIFlask


def register_blueprints(app: APIFlask) -> None:
    from backend.api import alerts, checks, imports, permits, persons, traces

    for module in (persons, permits, checks, imports, traces, alerts):
        app.register_blueprint(module.bp)
