"""HTTP blueprints: parse, validate, call a service, serialize."""

from __future__ import annotations

from apiflask import APIFlask


def register_blueprints(app: APIFlask) -> None:
    from backend.api import checks, imports, permits, persons

    for module in (persons, permits, checks, imports):
        app.register_blueprint(module.bp)
