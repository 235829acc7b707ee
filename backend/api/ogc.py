"""OGC API – Features, read-only, at ``/ogc`` (Part 1: Core, GeoJSON, HTML, OpenAPI 3.0).

A thin implementation over :mod:`backend.services.monitoring.features` rather than a mounted
pygeoapi: pygeoapi's PostgreSQL provider reads a table per collection and would need its
own configuration, server and authentication, while the settlements' zones are computed
(not stored) and the density cells must be k-suppressed per request. The responses carry
the standard's required members (links with ``rel``/``type``, ``conformsTo``,
``collections`` with ``extent`` and ``itemType``, ``numberMatched``/``numberReturned``,
``next`` links) so that QGIS and OWSLib read them. Analysts and admins only, by bearer
token (QGIS: an "API header" authentication) or browser session.
"""

from __future__ import annotations

import json
from typing import Any

from apiflask import APIBlueprint
from flask import Response, render_template, request, url_for

from backend import clock
from backend.api.context import auth, record_access, settings, transaction
from backend.errors import Invalid, NotFound
from backend.services.monitoring import features

bp = APIBlueprint("ogc", __name__, url_prefix="/ogc", tag="OGC API - Features")
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MAX_LIMIT = 10_000


def _html_wanted() -> bool:
    asked = request.args.get("f")
    if asked:
        return asked == "html"
    best = request.accept_mimetypes.best_match([JSON, GEOJSON, HTML])
    return best == HTML and request.accept_mimetypes[HTML] > request.accept_mimetypes[JSON]


def _url(endpoint: str, **values: Any) -> str:
    """An absolute link from the configured public URL (``QONYS_PUBLIC_URL``), never from
    the request's ``Host`` header, which any client may set (issue 28, F16)."""
    path = url_for(endpoint, **values)[len(request.script_root) :]
    return settings().public_url.rstrip("/") + path


def _answer(body: dict[str, Any], media: str, title: str) -> Response:
    if _html_wanted():
        return Response(
            render_template(
                "web/ogc.html",
                title=title,
                body=body,
                pretty=json.dumps(body, ensure_ascii=False, indent=1),
            ),
            mimetype=HTML,
        )
    return Response(json.dumps(body, ensure_ascii=False), mimetype=media)


def _links(endpoint: str, media: str, title: str, **values: Any) -> list[dict[str, str]]:
    """``self`` in the format answered, ``alternate`` in the other ones."""
    html = _html_wanted()
    return [
        {
            "href": _url(endpoint, f="json", **values),
            "rel": "alternate" if html else "self",
            "type": media,
            "title": title,
        },
        {
            "href": _url(endpoint, f="html", **values),
            "rel": "self" if html else "alternate",
            "type": HTML,
            "title": title,
        },
    ]


@bp.get("/")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.doc(hide=True)
def landing() -> Any:
    title = "Qonys — OGC API – Features"
    body = {
        "title": title,
        "description": "Kazakhstan's regions, districts, settlements with settlement zones, "
        "and registered persons per hexagon (aggregated, k-suppressed). Read-only.",
        "links": [
            *_links("ogc.landing", JSON, "This document"),
            {
                "href": _url("ogc.openapi"),
                "rel": "service-desc",
                "type": OPENAPI,
                "title": "The API definition",
            },
            {
                "href": _url("ogc.conformance"),
                "rel": "conformance",
                "type": JSON,
                "title": "Conformance",
            },
            {"href": _url("ogc.collections"), "rel": "data", "type": JSON, "title": "Collections"},
        ],
    }
    return _answer(body, JSON, title)


@bp.get("/conformance")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.doc(hide=True)
def conformance() -> Any:
    return _answer({"conformsTo": CONFORMANCE}, JSON, "Conformance")


def _collection(item: features.Collection) -> dict[str, Any]:
    extent: dict[str, Any] = {"spatial": {"bbox": [list(features.KAZAKHSTAN)], "crs": CRS84}}
    if item.temporal:
        extent["temporal"] = {
            "interval": [[None, clock.today().isoformat()]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return {
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            *_links("ogc.collection", JSON, item.title, collection_id=item.id),
            {
                "href": _url("ogc.items", collection_id=item.id, f="json"),
                "rel": "items",
                "type": GEOJSON,
                "title": item.title,
            },
            {
                "href": _url("ogc.items", collection_id=item.id, f="html"),
                "rel": "items",
                "type": HTML,
                "title": item.title,
            },
        ],
    }


@bp.get("/collections")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.doc(hide=True)
def collections() -> Any:
    body = {
        "links": _links("ogc.collections", JSON, "Collections"),
        "collections": [_collection(c) for c in features.COLLECTIONS.values()],
    }
    return _answer(body, JSON, "Collections")


def _known(collection_id: str) -> features.Collection:
    found = features.COLLECTIONS.get(collection_id)
    if found is None:
        raise NotFound(f"no collection {collection_id}: {', '.join(features.COLLECTIONS)}")
    return found


@bp.get("/collections/<collection_id>")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.doc(hide=True)
def collection(collection_id: str) -> Any:
    item = _known(collection_id)
    return _answer(_collection(item), JSON, item.title)


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(name, f"must be an integer {low}-{high}") from None
    if not low <= value <= high:
        raise Invalid(name, f"must be an integer {low}-{high}")
    return value


def _read(collection_id: str, fid: str | None) -> tuple[features.Page, int, int]:
    _known(collection_id)
    limit = _int("limit", 100, 1, MAX_LIMIT)
    offset = _int("offset", 0, 0, 10**9)
    bbox = features.parse_bbox(request.args.get("bbox"))
    period = features.parse_period(request.args.get("datetime"))
    config = settings()
    with transaction() as session:
        page = features.items(
            session,
            collection_id,
            bbox,
            1 if fid else limit,
            0 if fid else offset,
            fid,
            period,
            config.monitoring_min_persons,
            config.monitoring_cell_m,
        )
        record_access(
            session, f"ogc.{collection_id}", [None], request.query_string.decode()[:200] or None
        )
    return page, limit, offset


@bp.get("/collections/<collection_id>/items")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.doc(hide=True)
def items(collection_id: str) -> Any:
    page, limit, offset = _read(collection_id, None)
    args = {k: v for k, v in request.args.items() if k not in ("f", "offset")}
    links = _links(
        "ogc.items", GEOJSON, "Features", collection_id=collection_id, offset=offset, **args
    )
    if offset + len(page.features) < page.matched:
        links.append(
            {
                "href": _url(
                    "ogc.items",
                    collection_id=collection_id,
                    f="json",
                    offset=offset + limit,
                    **args,
                ),
                "rel": "next",
                "type": GEOJSON,
                "title": "Next page",
            }
        )
    if offset:
        links.append(
            {
                "href": _url(
                    "ogc.items",
                    collection_id=collection_id,
                    f="json",
                    offset=max(offset - limit, 0),
                    **args,
                ),
                "rel": "prev",
                "type": GEOJSON,
                "title": "Previous page",
            }
        )
    links.append(
        {
            "href": _url("ogc.collection", collection_id=collection_id, f="json"),
            "rel": "collection",
            "type": JSON,
            "title": "The collection",
        }
    )
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "timeStamp": clock.now().isoformat(timespec="seconds"),
        "links": links,
    }
    return _answer(body, GEOJSON, collection_id)


@bp.get("/collections/<collection_id>/items/<fid>")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.doc(hide=True)
def item(collection_id: str, fid: str) -> Any:
    page, _limit, _offset = _read(collection_id, fid)
    if not page.features:
        raise NotFound(f"no feature {fid} in {collection_id}")
    feature = page.features[0] | {
        "links": [
            *_links("ogc.item", GEOJSON, fid, collection_id=collection_id, fid=fid),
            {
                "href": _url("ogc.collection", collection_id=collection_id, f="json"),
                "rel": "collection",
                "type": JSON,
                "title": "The collection",
            },
        ]
    }
    return _answer(feature, GEOJSON, fid)


@bp.get("/api")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.doc(hide=True)
def openapi() -> Any:
    """The OpenAPI 3.0 definition of these endpoints (conformance class oas30)."""
    ids = list(features.COLLECTIONS)
    param = {
        "bbox": {
            "name": "bbox",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        },
        "limit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
        },
        "offset": {
            "name": "offset",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
        "datetime": {
            "name": "datetime",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
        },
        "collectionId": {
            "name": "collectionId",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": ids},
        },
        "featureId": {
            "name": "featureId",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
        },
        "f": {
            "name": "f",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["json", "html"]},
        },
    }

    def op(summary: str, params: list[str], media: str) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params],
                "responses": {
                    "200": {
                        "description": summary,
                        "content": {
                            media: {"schema": {"type": "object"}},
                            HTML: {"schema": {"type": "string"}},
                        },
                    },
                    "400": {"description": "A parameter that cannot work"},
                    "401": {"description": "No token or session"},
                    "403": {"description": "Not an analyst or admin"},
                    "404": {"description": "No such collection or feature"},
                },
            }
        }

    body = {
        "openapi": "3.0.3",
        "info": {
            "title": "Qonys — OGC API – Features",
            "version": "1.0.0",
            "description": "Read-only geography and aggregates.",
        },
        "servers": [{"url": _url("ogc.landing").rstrip("/")}],
        "components": {
            "parameters": param,
            "securitySchemes": {"BearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"BearerAuth": []}],
        "paths": {
            "/": op("Landing page", ["f"], JSON),
            "/conformance": op("Conformance classes", ["f"], JSON),
            "/collections": op("Collections", ["f"], JSON),
            "/collections/{collectionId}": op("A collection", ["collectionId", "f"], JSON),
            "/collections/{collectionId}/items": op(
                "Features", ["collectionId", "bbox", "limit", "offset", "datetime", "f"], GEOJSON
            ),
            "/collections/{collectionId}/items/{featureId}": op(
                "A feature", ["collectionId", "featureId", "f"], GEOJSON
            ),
        },
    }
    return Response(json.dumps(body), mimetype=OPENAPI.split(";")[0])
