"""The Flask application, built only through :func:`create_app`."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from apiflask import APIFlask
from flask import Response, g, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from rq import Queue
from sqlalchemy import text
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import IntegerConverter

from backend import outages
from backend.api import (
    alerts,
    checks,
    credentials,
    devices,
    identity,
    imports,
    input_guard,
    jobs,
    limits,
    monitoring,
    ogc,
    outbox,
    permits,
    persons,
    policy,
    problems,
    settlement,
    traces,
)
from backend.api.batch_lane import BatchLane
from backend.api.check_lane import CheckLane
from backend.api.context import assign_request_id
from backend.api.contract import spec_processor
from backend.api.limits import limiter
from backend.api.phone_lane import PhoneLane
from backend.bodylimit import BodyLimit, refuse_if_too_large
from backend.db import Database
from backend.dbroles import app_url
from backend.jobs.outbox import install_kick
from backend.services.access.tokens import TOKEN_CACHE
from backend.settings import Settings
from backend.web import setup as web_setup

API_DESCRIPTION = """Qonys — the back end of Kazakhstan's digital migration register.

Authenticate with `Authorization: Bearer <token>`; tokens come from `qonys token create`.
Errors are `application/problem+json`. Analysts and administrators reading a person's data
send `X-Purpose`.
"""


class IdConverter(IntegerConverter):
    """Path ids that fit PostgreSQL's bigint; longer numbers are simply not found."""

    regex = r"[0-9]{1,18}"  # not \d: another script's digits are no id


def _starting_afresh(inner: Any) -> Any:
    """Every request, lane or Flask, starts with its thread's outage marks cleared
    (``outages.request_started``): only its own use of the database may say an outage
    there is over."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        outages.request_started()
        return inner(environ, start_response)

    return app


def create_app(settings: Settings | None = None) -> APIFlask:
    """Build the app: database, queue, error mapping, auth and every blueprint."""
    settings = settings or Settings.from_env()
    app = APIFlask(
        "backend",
        title="Qonys API",
        version="1.0.0",
        spec_path="/api/v1/openapi.json",
        docs_path="/api/docs",
        docs_ui="swagger-ui",
    )
    app.url_map.converters["id"] = IdConverter
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        TESTING=settings.testing,
        DESCRIPTION=API_DESCRIPTION,
        SWAGGER_UI_CSS="/static/swagger-ui/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/static/swagger-ui/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/static/swagger-ui/swagger-ui-standalone-preset.js",
        DOCS_FAVICON="/static/swagger-ui/favicon-32x32.png",
        JSON_SORT_KEYS=False,
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
        # The bundled Swagger UI (4.x, the newest on PyPI) cannot render OpenAPI 3.1
        # ("Unable to render this definition"): the spec is written as 3.0.3.
        OPENAPI_VERSION="3.0.3",
    )
    input_guard.install(app)  # before the JSON provider's options below: it replaces it
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False
        app.json.ensure_ascii = False
    # Every error is a problem+json, on every route: the spec says so (backend/api/contract.py).
    app.spec_processor(spec_processor)
    app.extensions["qonys.settings"] = settings
    # As the runtime role: neither owner nor superuser (backend/dbroles.py).
    app.extensions["qonys.db"] = Database(
        app_url(settings), statement_timeout_s=settings.db_statement_timeout_s
    )
    redis_conn = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=1, socket_timeout=2
    )
    app.extensions["qonys.redis"] = redis_conn
    app.extensions["qonys.queue"] = Queue(settings.queue_name, connection=redis_conn)
    app.extensions["qonys.user_queue"] = Queue(settings.user_queue_name, connection=redis_conn)
    # Outbox rows a request wrote are sent for as soon as it commits (backend/jobs/outbox.py).
    install_kick(app.extensions["qonys.db"], app.extensions["qonys.queue"])
    # When (UTC, as the access log's offset says) and which worker (the access log's
    # [pid]): an outage's few lines are read against both (a drill's log had neither).
    stamped = logging.Formatter(
        "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z"
    )
    stamped.converter = time.gmtime
    to_stderr = logging.StreamHandler()
    to_stderr.setFormatter(stamped)
    logging.basicConfig(level=logging.INFO, handlers=[to_stderr])  # unless set up already

    app.config.update(
        RATELIMIT_STORAGE_URI=settings.redis_url,
        # No X-RateLimit-* on every answer: a 429 says Retry-After (backend/api/problems.py).
        RATELIMIT_HEADERS_ENABLED=False,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_KEY_PREFIX=f"qonys-{settings.queue_name}",
    )

    limiter.init_app(app)
    limits.install(app)  # the API's and the devices' limits, leased
    outages.quiet_library_logs()
    problems.install(app)
    web_setup.install(app, settings)
    TOKEN_CACHE.start(settings.redis_url, settings.token_cache_s)

    @app.before_request
    def _begin() -> None:
        assign_request_id()

    @app.after_request
    def _tag(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    @app.get("/static/swagger-ui/<path:filename>")
    @app.doc(hide=True)
    def _swagger_assets(filename: str) -> Response:
        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    @app.get("/health")
    @app.doc(summary="Liveness of the API and its database and queue", tags=["Service"])
    def health() -> tuple[dict[str, str], int]:
        status = {"status": "ok", "database": "ok", "queue": "ok"}
        try:
            with app.extensions["qonys.db"].engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            status["database"] = "down"
        try:
            redis_conn.ping()
        except redis.RedisError:
            status["queue"] = "down"
        ok = status["database"] == "ok" and status["queue"] == "ok"
        if not ok:
            status["status"] = "degraded"
        return status, 200 if ok else 503

    for module in (
        persons,
        permits,
        checks,
        imports,
        jobs,
        traces,
        alerts,
        settlement,
        policy,
        monitoring,
        devices,
        credentials,
        identity,
        outbox,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(settlement.pages)
    app.register_blueprint(monitoring.pages)
    app.register_blueprint(ogc.bp)
    # A chunked body over the limit gets 413 instead of being cut at the limit; refused
    # before any other hook (a CSRF check, a rate limit) reads the request.
    # A plain officer's check, a device's clean batch and a plain phone request are
    # answered before Flask (backend/api/check_lane.py, batch_lane.py, phone_lane.py);
    # the rest by Flask.
    checks_lane = CheckLane(app.wsgi_app, app)
    batches_lane = BatchLane(checks_lane, app)
    phones_lane = PhoneLane(batches_lane, app)
    app.extensions["qonys.check_lane"] = checks_lane
    app.extensions["qonys.batch_lane"] = batches_lane
    app.extensions["qonys.phone_lane"] = phones_lane
    app.wsgi_app = BodyLimit(  # type: ignore[method-assign]
        _starting_afresh(phones_lane), settings.max_body_bytes
    )
    app.before_request_funcs.setdefault(None, []).insert(
        0, lambda: refuse_if_too_large(request.environ)
    )
    return app
