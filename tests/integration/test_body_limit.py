"""Bodies over the limit (issue 28, F14): a chunked upload is refused with 413, not cut.

Over real HTTP: the test client sends bodies with a length, and it is the streamed
(``Transfer-Encoding: chunked``) body whose limit Werkzeug enforced by truncation.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tests import helpers as h

LIMIT = 16 * 1024 * 1024


def _chunked(server: str, path: str, chunks: Iterator[bytes], headers: dict[str, str]) -> Any:
    parts = urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.getheader("Content-Type"), body


def _csv(size: int) -> Iterator[bytes]:
    """A persons CSV of ``size`` bytes: a good header, then rows (cut anywhere, still CSV)."""
    header = b"iin,surname,given_name,birth_date,sex,citizenship,category\n"
    yield header
    line = b",Padding,Row,1990-01-01,M,UZB,labour_immigrant\n"
    sent = len(header)
    while sent < size:
        piece = line * 1024
        piece = piece[: size - sent]
        sent += len(piece)
        yield piece


def test_a_chunked_body_over_the_limit_gets_413(server: str, admin: Any, db: Any) -> None:
    jobs_before = h.count(db, "jobs")
    status, kind, body = _chunked(
        server,
        "/api/v1/imports/persons",
        _csv(LIMIT + 4096),
        {**admin, "Content-Type": "text/csv"},
    )
    assert status == 413 and kind == "application/problem+json"
    assert json.loads(body)["status"] == 413
    assert h.count(db, "jobs") == jobs_before  # nothing stored, not even 16 MiB of it


def test_a_chunked_body_within_the_limit_is_read_whole(
    server: str, monitored: dict, db: Any
) -> None:
    points = {"points": [{"t": datetime.now(UTC).isoformat(), "lat": 51.16, "lon": 71.47}]}
    payload = json.dumps(points).encode()
    status, _kind, body = _chunked(
        server,
        "/api/v1/traces",
        iter([payload[:10], payload[10:]]),
        {**monitored["headers"], "Content-Type": "application/json"},
    )
    assert status == 202 and json.loads(body)["accepted"] == 1
